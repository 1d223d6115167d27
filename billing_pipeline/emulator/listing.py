"""Query strings of list endpoints: strict parameter names, pagination and Qonto's ``meta``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .clock import parse_instant
from .errors import api_error

MAX_PER_PAGE = 100
PAGINATION_PARAMETERS = frozenset({"page", "per_page"})


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def check_parameters(query: Mapping[str, str], allowed: Iterable[str]) -> None:
    """Unknown parameters are an error: a filter the emulator ignored would look like it worked."""
    allowed_names = frozenset(allowed)
    for name in query:
        if name not in allowed_names:
            raise api_error(
                422,
                "unknown_parameter",
                f"{name} is not a supported parameter; supported: {', '.join(sorted(allowed_names))}",
                parameter=name,
            )


def page_request(query: Mapping[str, str]) -> PageRequest:
    page = _positive_int(query, "page", default=1)
    per_page = _positive_int(query, "per_page", default=MAX_PER_PAGE)
    if per_page > MAX_PER_PAGE:
        raise api_error(
            422, "invalid_parameter", f"per_page must be between 1 and {MAX_PER_PAGE}", parameter="per_page"
        )
    return PageRequest(page=page, per_page=per_page)


def _positive_int(query: Mapping[str, str], name: str, *, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise api_error(422, "invalid_parameter", f"{name} must be a positive integer, got {raw!r}", parameter=name)
    return int(raw)


def page_meta(request: PageRequest, total_count: int) -> dict[str, Any]:
    total_pages = math.ceil(total_count / request.per_page)
    return {
        "current_page": request.page,
        "next_page": request.page + 1 if request.page < total_pages else None,
        "prev_page": request.page - 1 if request.page > 1 else None,
        "total_pages": total_pages,
        "total_count": total_count,
        "per_page": request.per_page,
    }


def instant_parameter(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise api_error(
            422, "invalid_date_time", f"{name} must be an ISO 8601 date-time with offset: {exc}", parameter=name
        ) from exc


def choice_parameter(query: Mapping[str, str], name: str, choices: Iterable[str], *, default: str) -> str:
    raw = query.get(name, default)
    options = list(choices)
    if raw not in options:
        raise api_error(422, "not_in_list", f"{name} must be one of: {', '.join(options)}", parameter=name)
    return raw
