"""Credit-note calls of ``QontoClient`` (qonto-api.md §8.5), kept apart so that client.py stays small.

``POST /v2/credit_notes`` is a write with no idempotency key, classified like every POST: retried
only when it provably never reached Qonto (connection refused, 429); a 5xx, a timeout after
sending or a reset raises ``QontoAmbiguousWriteError`` — list the credit notes before writing again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from billing_pipeline.qonto.calls import envelope, filters, iterate_pages, parse_model, segment
from billing_pipeline.qonto.credit_note_models import CreditNote, CreditNoteCreate
from billing_pipeline.qonto.session import ApiSession
from billing_pipeline.qonto.wire import MAX_PER_PAGE, Page

M = TypeVar("M", bound=BaseModel)

LIST_PATH = "/v2/credit_notes"


class CreditNoteCalls:
    """Mixed into ``QontoClient``, which provides the session and the list helper."""

    _session: ApiSession

    if TYPE_CHECKING:

        async def _list(
            self,
            path: str,
            key: str,
            model: type[M],
            params: dict[str, str],
            sort_by: str | None,
            page: int,
            per_page: int,
        ) -> Page[M]: ...

    async def create_credit_note(self, credit_note: CreditNoteCreate) -> CreditNote:
        """Issue a credit note on a finalized invoice; a full credit cancels the invoice (Qonto's rule)."""
        body = await self._session.call("POST", LIST_PATH, body=credit_note.to_payload())
        return parse_model(CreditNote, envelope(body, "credit_note", f"POST {LIST_PATH}"))

    async def get_credit_note(self, credit_note_id: str) -> CreditNote:
        path = f"{LIST_PATH}/{segment(credit_note_id)}"
        return parse_model(CreditNote, envelope(await self._session.call("GET", path), "credit_note", f"GET {path}"))

    async def list_credit_notes(
        self,
        *,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> Page[CreditNote]:
        """One page; Qonto documents no filter by invoice, so match ``invoice_id`` client-side."""
        params = filters(updated_at_from=updated_at_from, updated_at_to=updated_at_to)
        return await self._list(LIST_PATH, "credit_notes", CreditNote, params, None, page, per_page)

    async def iter_credit_notes(
        self,
        *,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> AsyncIterator[CreditNote]:
        async def fetch(page: int) -> Page[CreditNote]:
            return await self.list_credit_notes(
                updated_at_from=updated_at_from, updated_at_to=updated_at_to, page=page, per_page=per_page
            )

        async for credit_note in iterate_pages(fetch):
            yield credit_note
