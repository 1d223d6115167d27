"""Invoice PDFs as versioned attachments, with Qonto's asynchronous Factur-X swap.

An attachment keeps one id for the invoice's whole life. Each draft create/update adds a draft
version stamped with its time; finalize adds a Factur-X version stamped
``finalized_at + render_delay`` — in the future. Which version is current is therefore a pure
function of the clock: nothing runs in the background, so any number of processes sharing the
state file agree. PDFs are rendered on first access and stored, so every reader gets the same bytes.

Signed URLs name the version they were issued for, like a pre-signed S3 URL names an object key:
a URL handed out while the draft was current keeps serving the draft.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .clock import format_utc
from .errors import api_error, not_found
from .runtime import EmulatorRuntime
from .seed import SIGNING_KEY_META, load_organization
from .store import business_now_ms, get_meta

DRAFT = "draft"
FACTURX = "facturx"
CREDIT_NOTE = "credit_note"  # a credit note's Factur-X (type 381); it never has a draft version
# an organization without e-invoicing (--einvoicing-disabled) gets these instead: plain PDFs, no XML.
# The kind is chosen when the document is finalized and stored with the version, so every process
# on the state file serves the same document whatever its own options
INVOICE_PDF = "invoice_pdf"
CREDIT_NOTE_PDF = "credit_note_pdf"
# versions that replace the draft for good: an attachment has at most one of them
FINAL_KINDS = frozenset({FACTURX, CREDIT_NOTE, INVOICE_PDF, CREDIT_NOTE_PDF})


def final_invoice_kind(einvoicing_disabled: bool) -> str:
    return INVOICE_PDF if einvoicing_disabled else FACTURX


def final_credit_note_kind(einvoicing_disabled: bool) -> str:
    return CREDIT_NOTE_PDF if einvoicing_disabled else CREDIT_NOTE


@dataclass(frozen=True)
class Version:
    attachment_id: str
    version_ms: int
    kind: str
    invoice_id: str
    created_at: int
    file_name: str


def add_version(
    connection: sqlite3.Connection,
    *,
    attachment_id: str,
    invoice_id: str,
    kind: str,
    version_ms: int,
    now_ms: int,
    source: dict[str, Any],
) -> int:
    """Store a version (PDF rendered later); returns its timestamp, kept strictly increasing."""
    last = connection.execute(
        "SELECT MAX(version_ms) FROM attachment_versions WHERE attachment_id = ?", (attachment_id,)
    ).fetchone()[0]
    if last is not None and version_ms <= last:
        version_ms = last + 1
    connection.execute(
        "INSERT INTO attachment_versions (attachment_id, version_ms, kind, invoice_id, created_at, source, pdf)"
        " VALUES (?, ?, ?, ?, ?, ?, NULL)",
        (attachment_id, version_ms, kind, invoice_id, now_ms, json.dumps(source)),
    )
    return version_ms


def delete_versions(connection: sqlite3.Connection, attachment_id: str) -> None:
    connection.execute("DELETE FROM attachment_versions WHERE attachment_id = ?", (attachment_id,))


def _version(row: sqlite3.Row) -> Version:
    source = json.loads(row["source"])
    number = source.get("number")
    file_name = f"{number}.pdf" if row["kind"] in FINAL_KINDS and number else f"draft-{row['invoice_id'][:8]}.pdf"
    return Version(
        attachment_id=row["attachment_id"],
        version_ms=row["version_ms"],
        kind=row["kind"],
        invoice_id=row["invoice_id"],
        created_at=row["created_at"],
        file_name=file_name,
    )


def current_version(connection: sqlite3.Connection, attachment_id: str, now_ms: int) -> Version | None:
    row = connection.execute(
        "SELECT attachment_id, version_ms, kind, invoice_id, created_at, source FROM attachment_versions"
        " WHERE attachment_id = ? AND version_ms <= ? ORDER BY version_ms DESC LIMIT 1",
        (attachment_id, now_ms),
    ).fetchone()
    return None if row is None else _version(row)


def version_at(connection: sqlite3.Connection, attachment_id: str, version_ms: int) -> Version | None:
    row = connection.execute(
        "SELECT attachment_id, version_ms, kind, invoice_id, created_at, source FROM attachment_versions"
        " WHERE attachment_id = ? AND version_ms = ?",
        (attachment_id, version_ms),
    ).fetchone()
    return None if row is None else _version(row)


def final_due(connection: sqlite3.Connection, attachment_id: str) -> int | None:
    """When the final document (Factur-X, or the plain PDF without e-invoicing) replaces the draft."""
    kinds = sorted(FINAL_KINDS)
    marks = ", ".join("?" * len(kinds))
    row = connection.execute(
        f"SELECT version_ms FROM attachment_versions WHERE attachment_id = ? AND kind IN ({marks})",  # noqa: S608
        (attachment_id, *kinds),
    ).fetchone()
    return None if row is None else int(row["version_ms"])


def pdf_bytes(runtime: EmulatorRuntime, version: Version) -> bytes:
    """The version's PDF, rendered (outside any transaction) and stored on first access."""
    key = (version.attachment_id, version.version_ms)
    with runtime.store.read() as connection:
        row = connection.execute(
            "SELECT pdf, source FROM attachment_versions WHERE attachment_id = ? AND version_ms = ?", key
        ).fetchone()
        if row is None:
            raise not_found("attachment", version.attachment_id)
        if row["pdf"] is not None:
            return bytes(row["pdf"])
        source = json.loads(row["source"])
        organization = load_organization(connection)
    renderer = runtime.renderer
    render = {
        FACTURX: renderer.render_facturx_pdf,
        CREDIT_NOTE: renderer.render_credit_note_pdf,
        INVOICE_PDF: renderer.render_plain_invoice_pdf,
        CREDIT_NOTE_PDF: renderer.render_plain_credit_note_pdf,
    }.get(version.kind, renderer.render_draft_pdf)
    try:
        pdf = render(source, organization)
    except ValueError as exc:  # the documents module names the offending field
        raise api_error(500, "document_rendering_failed", f"the emulator could not render the PDF: {exc}") from exc
    with runtime.store.write() as connection:
        # first writer wins: a concurrent process may have rendered the same version meanwhile
        connection.execute(
            "UPDATE attachment_versions SET pdf = ? WHERE attachment_id = ? AND version_ms = ? AND pdf IS NULL",
            (pdf, *key),
        )
        stored = connection.execute(
            "SELECT pdf FROM attachment_versions WHERE attachment_id = ? AND version_ms = ?", key
        ).fetchone()
    return bytes(stored["pdf"])


# ---- signed download URLs ---------------------------------------------------------------------


def _signature(key: str, attachment_id: str, version_ms: int, expires: int) -> str:
    message = f"{attachment_id}\n{version_ms}\n{expires}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signed_url(connection: sqlite3.Connection, files_base_url: str, version: Version, now_ms: int, ttl_s: int) -> str:
    key = get_meta(connection, SIGNING_KEY_META) or ""
    expires = now_ms // 1000 + ttl_s
    query = urlencode(
        {
            "version": version.version_ms,
            "expires": expires,
            "signature": _signature(key, version.attachment_id, version.version_ms, expires),
        }
    )
    return f"{files_base_url}/files/{version.attachment_id}?{query}"


def check_signature(
    connection: sqlite3.Connection, attachment_id: str, version_ms: int, expires: int, signature: str
) -> str | None:
    """None when the URL is valid now, else the S3-style reason it is refused."""
    key = get_meta(connection, SIGNING_KEY_META) or ""
    expected = _signature(key, attachment_id, version_ms, expires)
    if not hmac.compare_digest(expected, signature):
        return "SignatureDoesNotMatch"
    if business_now_ms(connection) // 1000 >= expires:
        return "Request has expired"
    return None


def attachment_json(version: Version, *, first_created_at: int, pdf_size: int, url: str) -> dict[str, Any]:
    return {
        "id": version.attachment_id,
        "created_at": format_utc(first_created_at),
        "updated_at": format_utc(version.version_ms),
        "file_name": version.file_name,
        "file_size": str(pdf_size),
        "file_content_type": "application/pdf",
        "url": url,
        # the PAdES-sealed copy is not emulated: Qonto's "unavailable" with the documented keys empty
        "probative_attachment": {
            "status": "unavailable",
            "file_name": None,
            "file_content_type": None,
            "file_size": None,
            "url": None,
        },
    }


def first_created_at(connection: sqlite3.Connection, attachment_id: str) -> int:
    row = connection.execute(
        "SELECT MIN(created_at) FROM attachment_versions WHERE attachment_id = ?", (attachment_id,)
    ).fetchone()
    return int(row[0])


def get_attachment(runtime: EmulatorRuntime, attachment_id: str, files_base_url: str) -> dict[str, Any]:
    with runtime.store.read() as connection:
        now_ms = business_now_ms(connection)
        version = current_version(connection, attachment_id, now_ms)
        if version is None:
            raise not_found("attachment", attachment_id)
    pdf = pdf_bytes(runtime, version)
    with runtime.store.read() as connection:
        url = signed_url(connection, files_base_url, version, now_ms, runtime.config.url_ttl_s)
        created_at = first_created_at(connection, attachment_id)
    return attachment_json(version, first_created_at=created_at, pdf_size=len(pdf), url=url)
