"""What Qonto already holds for a billing period, indexed by our invoice reference."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.invoicing.references import reference_from_header
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.models import ClientInvoice


class PeriodIndex(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    period: str
    by_reference: dict[str, list[ClientInvoice]]
    listed: int

    def live(self, reference: str) -> list[ClientInvoice]:
        """Invoices for this reference that still count (a canceled invoice no longer bills)."""
        return [i for i in self.by_reference.get(reference, []) if i.status != "canceled"]

    def duplicates(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for reference in self.by_reference:
            live = self.live(reference)
            if len(live) > 1:
                out[reference] = [i.id for i in live]
        return out


def period_listing_start(period: BillingPeriod, timezone: str) -> datetime:
    # An invoice for a period cannot have been created before the period began; a day of margin
    # covers any clock or time-zone skew between us and Qonto.
    return period.start(ZoneInfo(timezone)) - timedelta(days=1)


async def index_period(
    qonto: QontoClient, period: BillingPeriod, timezone: str, *, created_since: datetime | None = None
) -> PeriodIndex:
    since = created_since or period_listing_start(period, timezone)
    by_reference: dict[str, list[ClientInvoice]] = defaultdict(list)
    listed = 0
    async for invoice in qonto.iter_client_invoices(created_at_from=since, sort_by="created_at:asc"):
        listed += 1
        reference = reference_from_header(invoice.header)
        if reference and reference.startswith(f"BP-{period.key}-"):
            by_reference[reference].append(invoice)
    return PeriodIndex(period=period.key, by_reference=dict(by_reference), listed=listed)
