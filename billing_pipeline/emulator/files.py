"""The download host: pre-signed attachment URLs, answered like S3 (XML errors).

It refuses any request carrying ``Authorization`` or ``X-Qonto-Staging-Token`` (400, counted in
the stats): Qonto credentials must never leave for the file host. Every request's header names are
recorded so tests can list exactly what a client sent there.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import attachments
from .runtime import EmulatorRuntime
from .sandbox import STAGING_HEADER
from .traffic import record_download

CREDENTIAL_HEADERS = ("authorization", STAGING_HEADER)


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _serve(runtime: EmulatorRuntime, attachment_id: str, query: dict[str, str]) -> Response:
    try:
        version_ms = int(query["version"])
        expires = int(query["expires"])
        signature = query["signature"]
    except (KeyError, ValueError):
        return _s3_error(403, "AccessDenied", "Query-string authentication requires version, expires, signature")
    with runtime.store.read() as connection:
        refusal = attachments.check_signature(connection, attachment_id, version_ms, expires, signature)
        if refusal is not None:
            code = "SignatureDoesNotMatch" if refusal == "SignatureDoesNotMatch" else "AccessDenied"
            return _s3_error(403, code, refusal)
        version = attachments.version_at(connection, attachment_id, version_ms)
    if version is None:
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    pdf = attachments.pdf_bytes(runtime, version)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{version.file_name}"'},
    )


async def download(request: Request) -> Response:
    runtime: EmulatorRuntime = request.app.state.runtime
    names = sorted({name.lower() for name in request.headers})
    credentialed = any(name in names for name in CREDENTIAL_HEADERS)
    await run_in_threadpool(record_download, runtime, names, credentialed=credentialed)
    if credentialed:
        return _s3_error(
            400,
            "InvalidArgument",
            "Credentials must not be sent to the file host: the signature in the URL is the only "
            "authentication (remove Authorization / X-Qonto-Staging-Token)",
        )
    return await run_in_threadpool(_serve, runtime, request.path_params["attachment_id"], dict(request.query_params))


def file_routes() -> list[Route]:
    return [Route("/files/{attachment_id}", download, methods=["GET"])]
