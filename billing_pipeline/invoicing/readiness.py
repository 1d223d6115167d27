"""Cheap decision for the attachment sensor: which periods have Factur-X files ready to collect?

Per period, only the most recently finalized pending invoice is probed (one or two API calls): Qonto
renders in finalization order, so when the newest is ready the older ones are too, and the run that
collects the period checks every invoice anyway.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime

from pydantic import BaseModel

from billing_pipeline.invoicing.facturx_files import attachment_ready
from billing_pipeline.invoicing.ledger import InvoiceRecord, InvoiceState, Ledger
from billing_pipeline.qonto.client import QontoClient

RETRY_WINDOW_S = 1800  # a period whose collection run failed is requested again after this window


class PeriodReadiness(BaseModel):
    period: str
    pending: int
    ready: bool
    run_key: str


def pending_by_period(ledger: Ledger) -> dict[str, list[InvoiceRecord]]:
    grouped: dict[str, list[InvoiceRecord]] = defaultdict(list)
    for record in ledger.invoices(states={InvoiceState.FINALIZED}):
        grouped[record.period].append(record)
    return dict(grouped)


def collection_run_key(period: str, pending: list[InvoiceRecord], now: datetime) -> str:
    ids = ",".join(sorted(r.invoice_id or r.customer_id for r in pending))
    digest = hashlib.sha256(ids.encode()).hexdigest()[:16]
    window = int(now.timestamp()) // RETRY_WINDOW_S
    return f"facturx:{period}:{digest}:{window}"


async def probe_period(
    qonto: QontoClient, ledger: Ledger, period: str, pending: list[InvoiceRecord], now: datetime | None = None
) -> PeriodReadiness:
    now = now or datetime.now(UTC)
    probe = max(pending, key=lambda r: (r.finalized_at or now, r.customer_id))
    attachment_id, finalized_at = probe.attachment_id, probe.finalized_at
    if attachment_id is None or finalized_at is None:
        invoice = await qonto.get_client_invoice(probe.invoice_id or "")
        attachment_id, finalized_at = invoice.attachment_id, invoice.finalized_at
        ledger.update_invoice(probe.customer_id, period, attachment_id=attachment_id, finalized_at=finalized_at)
    ready: bool | None = False
    if attachment_id is not None:
        ready = attachment_ready(await qonto.get_attachment(attachment_id), finalized_at)
    return PeriodReadiness(
        period=period,
        pending=len(pending),
        # without timestamps only the downloaded XML can tell: let the run look
        ready=ready is not False,
        run_key=collection_run_key(period, pending, now),
    )
