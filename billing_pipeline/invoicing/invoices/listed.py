"""Invoices as one listing of Qonto shows them, instead of one read each.

Reading an invoice costs one request against Qonto's 10,000 per 10 minutes; ``GET /v2/client_invoices``
returns 100 per request with the fields a delivery or a collection checks (status, attachment_id,
finalized_at, client, number, totals, dates, einvoicing_status — only the e-invoicing lifecycle events
are left out of the list view, qonto-api.md §8.3). So when the listing has fewer pages than there are
invoices to read, they are listed once: before a delivery run sends (canceled? still the attachment we
verified?) and follows its e-invoices, and before a collection pass re-reads the invoices whose
attachment it does not know yet.

The listing is filtered by ``updated_at`` from the earliest finalization among them: an invoice's
``updated_at`` never goes back, so every invoice finalized since then is in it, and the months before
are not listed. An invoice the listing does not show (it moved between two pages, or is older than the
window) is simply read on its own: the listing only saves reads, it never decides alone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta

from billing_pipeline.invoicing.ledger import InvoiceRecord
from billing_pipeline.qonto import MAX_PER_PAGE, QontoClient
from billing_pipeline.qonto.calls import iterate_pages
from billing_pipeline.qonto.models import ClientInvoice, Page

# below this many invoices to check, reading them one by one costs no more than a listing
MIN_LOOKUPS = 3
# Qonto stamps both instants with its own clock; the margin only absorbs their sub-second rounding
MARGIN = timedelta(seconds=1)


async def listed_invoices(qonto: QontoClient, finalized: Mapping[str, datetime]) -> dict[str, ClientInvoice]:
    """Qonto's list view of these invoices (id -> finalized_at) by id, when listing costs fewer requests
    than reading them; else ``{}`` (at most one request spent to learn the listing's size)."""
    if len(finalized) < MIN_LOOKUPS:
        return {}
    since = min(finalized.values()) - MARGIN

    async def fetch(page: int) -> Page[ClientInvoice]:
        # oldest first: an invoice created meanwhile lands on a later page instead of shifting the others
        return await qonto.list_client_invoices(
            updated_at_from=since, sort_by="created_at:asc", page=page, per_page=MAX_PER_PAGE
        )

    first = await fetch(1)
    pages = first.meta.total_pages
    if pages is None:
        pages = 1 if not first.meta.next_page else None  # no count given: only a single page is known
    if pages is None or pages > len(finalized):
        return {}
    return {invoice.id: invoice async for invoice in iterate_pages(fetch, first=first) if invoice.id in finalized}


def finalized_at(records: Iterable[InvoiceRecord], invoice_ids: Collection[str]) -> dict[str, datetime]:
    """id -> finalized_at of those of ``records`` among ``invoice_ids`` (an invoice without it is read)."""
    return {
        r.invoice_id: r.finalized_at
        for r in records
        if r.invoice_id in invoice_ids and r.invoice_id is not None and r.finalized_at is not None
    }
