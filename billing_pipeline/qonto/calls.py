"""How a Qonto call is put together and its answer read, apart from the client's endpoints.

Path segments, list filters and pagination on the way out; envelopes and payload validation on the
way back, a malformed answer becoming a ``QontoError`` that names what was wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from billing_pipeline.qonto.errors import QontoConfigurationError, QontoError
from billing_pipeline.qonto.models import Attachment, Page

M = TypeVar("M", bound=BaseModel)


# pages fetched at once once the first page told how many there are (each still takes a permit of
# the request budget): a listing of 1,000 pages is then paced by the budget, not by the latency
PAGE_WINDOW = 8


async def iterate_pages(
    fetch: Callable[[int], Awaitable[Page[M]]], *, window: int = PAGE_WINDOW, first: Page[M] | None = None
) -> AsyncIterator[M]:
    """Every item, in page order: page 1 (``first``, when the caller has it already), then the pages
    ``meta.total_pages`` announces ``window`` at a time, then ``meta.next_page`` one by one for as long as
    the last page still has one (the list grew meanwhile, or the server gives no count)."""
    page = first if first is not None else await fetch(1)
    page_number = 1
    total = page.meta.total_pages or 1
    while True:
        for item in page.items:
            yield item
        if page_number < total and page.meta.next_page is not None:
            numbers = list(range(page_number + 1, min(total, page_number + window) + 1))
            pages = await asyncio.gather(*(fetch(n) for n in numbers))
            for earlier in pages[:-1]:
                for item in earlier.items:
                    yield item
            page, page_number = pages[-1], numbers[-1]
            continue
        next_page = page.meta.next_page
        if next_page is None:
            return
        if next_page <= page_number:
            raise QontoError(f"pagination did not advance (page {page_number} says next_page={next_page})")
        page_number = next_page
        page = await fetch(page_number)


def segment(identifier: str) -> str:
    if not identifier or not identifier.strip():
        raise ValueError("an id must not be empty")
    return quote(identifier, safe="")


def filters(**values: str | datetime | date | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
            params[f"filter[{name}]"] = value.isoformat()
        elif isinstance(value, date):
            params[f"filter[{name}]"] = value.isoformat()
        else:
            params[f"filter[{name}]"] = value
    return params


def status_list(statuses: Sequence[str] | None) -> str | None:
    if statuses is None:
        return None
    if isinstance(statuses, str):
        statuses = [statuses]
    cleaned = [s.strip() for s in statuses]
    if not cleaned or any(not s or "," in s for s in cleaned):
        raise ValueError(f"status filter must be non-empty names without commas, got {list(statuses)!r}")
    return ",".join(cleaned)


def envelope(body: Mapping[str, Any] | None, key: str, what: str) -> Mapping[str, Any]:
    inner = body.get(key) if body is not None else None
    if not isinstance(inner, Mapping):
        raise QontoConfigurationError(f"{what} answered without the {key!r} object")
    return inner


def parse_model(model: type[M], data: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise QontoError(f"unexpected {model.__name__} payload from Qonto: {problems}") from None


def is_pdf(attachment: Attachment) -> bool:
    content_type = (attachment.file_content_type or "").lower()
    return content_type == "application/pdf" or (attachment.file_name or "").lower().endswith(".pdf")
