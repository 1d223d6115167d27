"""Qonto's error envelope: ``{"errors": [{code, detail, source}], "trace_id"}`` + ``X-Tyk-Trace-Id``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

TRACE_HEADER = "X-Tyk-Trace-Id"
POINTER_ROOT = "/data/attributes"

# pydantic's error types -> the short codes the emulator answers with
_PYDANTIC_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "literal_error": "not_in_list",
    "enum": "not_in_list",
    "string_too_long": "too_long",
    "string_too_short": "blank",
    "too_short": "blank",
    "too_long": "too_long",
    "date_from_datetime_parsing": "invalid_date",
    "date_parsing": "invalid_date",
    "date_type": "invalid_date",
}


@dataclass(frozen=True)
class ErrorItem:
    code: str
    detail: str
    pointer: str | None = None
    parameter: str | None = None

    def to_json(self) -> dict[str, Any]:
        source: dict[str, str] = {}
        if self.pointer is not None:
            source["pointer"] = self.pointer
        if self.parameter is not None:
            source["parameter"] = self.parameter
        return {"code": self.code, "detail": self.detail, "source": source}


@dataclass(eq=False)
class ApiError(Exception):
    """Raised anywhere in request handling; the app turns it into Qonto's error response."""

    status: int
    items: list[ErrorItem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(f"{item.code}: {item.detail}" for item in self.items)


def api_error(
    status: int, code: str, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> ApiError:
    return ApiError(status, [ErrorItem(code, detail, pointer, parameter)])


def field_pointer(*path: str | int) -> str:
    return POINTER_ROOT + "".join(f"/{part}" for part in path)


def not_found(kind: str, resource_id: str) -> ApiError:
    return api_error(404, "not_found", f"{kind} {resource_id} not found")


def from_validation_error(error: ValidationError) -> ApiError:
    """One Qonto error per pydantic error, each with a JSON pointer to the field."""
    items = []
    for entry in error.errors(include_url=False):
        location = tuple(part for part in entry["loc"] if not isinstance(part, str) or "[" not in part)
        dotted = ".".join(str(part) for part in location) or "body"
        code = _error_code(entry["type"])
        message = str(entry["msg"]).removeprefix("Value error, ")
        items.append(ErrorItem(code=code, detail=f"{dotted}: {message}", pointer=field_pointer(*location)))
    return ApiError(422, items)


def _error_code(pydantic_type: str) -> str:
    if pydantic_type in _PYDANTIC_CODES:
        return _PYDANTIC_CODES[pydantic_type]
    if pydantic_type.endswith(("_type", "_parsing")) or pydantic_type.startswith(("greater_", "less_")):
        return "invalid"
    # our own PydanticCustomError types are already Qonto-style codes (invalid_iban, …)
    return pydantic_type


def error_response(error: ApiError, trace_id: str) -> Response:
    body = {"errors": [item.to_json() for item in error.items], "trace_id": trace_id}
    headers = {TRACE_HEADER: trace_id, **error.headers}
    return Response(json.dumps(body), status_code=error.status, media_type="application/json", headers=headers)
