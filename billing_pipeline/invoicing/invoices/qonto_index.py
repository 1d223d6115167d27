"""What Qonto already holds for a billing period, indexed by our invoice reference."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.invoices.shared_listing import SharedListing, of_period
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.models import ClientInvoice


@dataclass
class PeriodIndex:
    period: BillingPeriod
    by_reference: dict[InvoiceReference, list[ClientInvoice]] = field(default_factory=dict)
    listed: int = 0

    def all(self, reference: InvoiceReference, client_id: str | None) -> list[ClientInvoice]:
        """Every invoice (canceled too) carrying ``reference`` *and* billed to ``client_id``.

        An invoice whose client is not the customer's linked client is not ours to adopt, update
        or delete, whatever its header says (a person may copy a header onto another client's invoice).
        """
        if client_id is None:
            return []
        return [i for i in self.by_reference.get(reference, []) if i.client_id == client_id]

    def live(self, reference: InvoiceReference, client_id: str | None) -> list[ClientInvoice]:
        """Ours and still counting (a canceled invoice no longer bills), oldest first."""
        return [i for i in self.all(reference, client_id) if i.status != "canceled"]

    def canceled(self, reference: InvoiceReference, client_id: str | None) -> list[ClientInvoice]:
        return [i for i in self.all(reference, client_id) if i.status == "canceled"]

    def foreign(self, reference: InvoiceReference, client_id: str | None) -> list[ClientInvoice]:
        """Invoices carrying our reference but billed to another client: reported, never touched."""
        return [i for i in self.by_reference.get(reference, []) if i.client_id != client_id]

    def duplicates(self) -> dict[str, list[str]]:
        """References with more than one live invoice for the same client."""
        out: dict[str, list[str]] = {}
        for reference, invoices in self.by_reference.items():
            per_client: dict[str | None, list[str]] = defaultdict(list)
            for invoice in invoices:
                if invoice.status != "canceled":
                    per_client[invoice.client_id].append(invoice.id)
            for ids in per_client.values():
                if len(ids) > 1:
                    out[str(reference)] = ids
        return out


def period_listing_start(period: BillingPeriod, timezone: str) -> datetime:
    # An invoice for a period cannot have been created before the period began; a day of margin
    # covers any clock or time-zone skew between us and Qonto.
    return period.start(ZoneInfo(timezone)) - timedelta(days=1)


async def index_period(
    qonto: QontoClient,
    period: BillingPeriod,
    timezone: str,
    *,
    created_since: datetime | None = None,
    shared: SharedListing | None = None,
) -> PeriodIndex:
    """What Qonto holds for ``period``. With ``shared``: the run's stored copy plus what changed
    since it was read, when the run has one; stored for the run's next step (``shared_listing``)."""
    if created_since is not None:
        shared = None  # a listing from another start is not the period's
    started = shared.clock() if shared is not None else None  # before listing: the next step's changes start here
    stored = shared.load(period) if shared is not None else None
    listed = 0
    if stored is None:
        since = created_since or period_listing_start(period, timezone)
        invoices: dict[str, ClientInvoice] = {}
        async for invoice in qonto.iter_client_invoices(created_at_from=since, sort_by="created_at:asc"):
            listed += 1
            if of_period(invoice, period):
                invoices[invoice.id] = invoice
    else:
        invoices = dict(stored.invoices)
        async for invoice in qonto.iter_client_invoices(updated_at_from=stored.changes_from):
            listed += 1
            invoices.pop(invoice.id, None)  # a header changed away from the period leaves the index
            if of_period(invoice, period):
                invoices[invoice.id] = invoice
    if shared is not None:
        assert started is not None
        shared.save(period, invoices.values(), started - shared.margin)
    by_reference: dict[InvoiceReference, list[ClientInvoice]] = defaultdict(list)
    for invoice in invoices.values():
        reference = InvoiceReference.from_header(invoice.header)
        assert reference is not None  # of_period
        by_reference[reference].append(invoice)
    for grouped in by_reference.values():
        grouped.sort(key=lambda i: (i.created_at is None, i.created_at, i.id))
    return PeriodIndex(period=period, by_reference=dict(by_reference), listed=listed)
