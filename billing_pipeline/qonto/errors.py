"""Typed errors of the Qonto client.

Every error carries what Qonto said (HTTP status, the first error object's ``code``, ``detail`` and
``source``, all error objects, the ``trace_id`` to quote to Qonto support) and a message that names
the rejected field or query parameter. Messages pass through ``redact`` so that no secret can leak
through an exception, its repr or a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from billing_pipeline.qonto.redaction import redact


class QontoErrorObject:
    """One entry of Qonto's ``errors`` array (JSON:API style)."""

    __slots__ = ("code", "detail", "source")

    def __init__(self, code: str | None, detail: str | None, source: Mapping[str, Any] | None) -> None:
        self.code = code
        self.detail = detail
        self.source: dict[str, Any] = dict(source or {})

    @property
    def pointer(self) -> str | None:
        value = self.source.get("pointer")
        return str(value) if value is not None else None

    @property
    def parameter(self) -> str | None:
        value = self.source.get("parameter")
        return str(value) if value is not None else None

    @property
    def field(self) -> str | None:
        """The rejected body field (last JSON-pointer segment after ``attributes``) or parameter."""
        if self.pointer:
            parts = [p for p in self.pointer.split("/") if p]
            if "attributes" in parts:
                parts = parts[parts.index("attributes") + 1 :]
            return ".".join(parts) or self.pointer
        return self.parameter

    def describe(self) -> str:
        text = " ".join(part for part in (self.code, self.detail) if part) or "no detail"
        if self.pointer:
            text += f" (field {self.field!r} at {self.pointer})"
        elif self.parameter:
            text += f" (query parameter {self.parameter!r})"
        return text

    def __repr__(self) -> str:
        return redact(f"QontoErrorObject(code={self.code!r}, detail={self.detail!r}, source={self.source!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QontoErrorObject):
            return NotImplemented
        return (self.code, self.detail, self.source) == (other.code, other.detail, other.source)

    def __hash__(self) -> int:
        return hash((self.code, self.detail, tuple(sorted(self.source.items()))))


def parse_error_objects(body: object) -> list[QontoErrorObject]:
    """Read Qonto's error body leniently (list of objects, a single object, or a bare message)."""
    if not isinstance(body, Mapping):
        return []
    raw = body.get("errors")
    items: Sequence[Any]
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, Mapping):
        items = [_field_messages_to_object(str(key), value) for key, value in raw.items()]
    elif isinstance(body.get("message"), str):
        items = [{"code": body.get("code"), "detail": body["message"]}]
    else:
        items = []
    objects: list[QontoErrorObject] = []
    for item in items:
        if isinstance(item, Mapping):
            source = item.get("source")
            objects.append(
                QontoErrorObject(
                    code=_opt_str(item.get("code")),
                    detail=_opt_str(item.get("detail") or item.get("message") or item.get("title")),
                    source=source if isinstance(source, Mapping) else None,
                )
            )
        elif isinstance(item, str):
            objects.append(QontoErrorObject(code=None, detail=item, source=None))
    return objects


def _field_messages_to_object(field: str, messages: object) -> dict[str, Any]:
    """Older Qonto answers: ``{"errors": {"field": ["message", ...]}}``."""
    texts = messages if isinstance(messages, list) else [messages]
    return {
        "code": "invalid",
        "detail": f"{field} {'; '.join(map(str, texts))}",
        "source": {"pointer": f"/data/attributes/{field}"},
    }


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


class QontoError(Exception):
    """Base class: a Qonto call failed. ``status`` is None when no HTTP answer was received."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: Sequence[QontoErrorObject] = (),
        trace_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.errors: list[QontoErrorObject] = list(errors)
        first = self.errors[0] if self.errors else None
        self.code: str | None = first.code if first else None
        self.detail: str | None = first.detail if first else None
        self.source: dict[str, Any] | None = first.source if first and first.source else None
        self.trace_id = trace_id
        self.method = method
        self.path = path
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def fields(self) -> list[str]:
        """Every rejected field or query parameter named by Qonto."""
        return [e.field for e in self.errors if e.field]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r})"


class QontoAuthError(QontoError):
    """401/403, or an OAuth token refresh that was refused. Never retried automatically."""


class QontoForbiddenError(QontoAuthError):
    """403 from the API: the credentials are valid but may not make this call — typically a missing
    OAuth scope (qonto-api.md §6: missing scope → 403; its body is [unconfirmed]). A subclass of
    ``QontoAuthError``, so code catching every authentication failure still catches it; a 401 stays
    a plain ``QontoAuthError``. (A signed download URL refused with 403 is not this: see downloads.)"""


class QontoNotFoundError(QontoError):
    """404: unknown id (or a wrong path)."""


class QontoValidationError(QontoError):
    """400/412/422: Qonto rejected the request; ``fields`` names what it rejected."""


class QontoRateLimitedError(QontoError):
    """429 after every retry. ``retry_after`` is the server's hint in seconds, if it gave one."""


class QontoServerError(QontoError):
    """5xx on a read, after every retry."""


class QontoConfigurationError(QontoError):
    """The answer is not Qonto's JSON API (e.g. the sandbox login page) or the setup is inconsistent."""


class QontoAmbiguousWriteError(QontoError):
    """A write whose outcome is unknown: it may or may not have been applied by Qonto.

    Raised for a timeout or connection loss after the request was sent, and for a 5xx answer to a
    POST/PATCH/DELETE (the server or a gateway may fail after the write was committed). The caller
    must reconcile by reading Qonto's state before writing again.
    """


class QontoTransportError(QontoError):
    """No usable HTTP answer after every retry (connection refused, timeouts, resets).

    For a write this is raised only when the request provably never reached the server
    (connection could not be established), so the write did not happen.
    """

    def __init__(self, message: str, *, request_sent: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent
