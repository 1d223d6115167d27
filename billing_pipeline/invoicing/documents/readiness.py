"""The cheap Factur-X readiness probe of a period (the attachment sensor and ``bill --wait`` ask it; the
pending documents come from the read model, ``invoicing/progress``).

Per period a tick probes a bounded handful of pending invoices: the most recently finalized (Qonto
renders in finalization order, so when it is ready the older ones usually are too), the oldest
pending one (so that one invoice that never renders cannot hide the others), and the pending
invoices we have not looked at for longest once they are waiting for long — those are re-read
from Qonto, since their attachment may have changed. As soon as any probed invoice is ready the
period's collection is requested; the run then checks every invoice anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from billing_pipeline.invoicing.documents.facturx_files import STALE_AFTER_S, attachment_ready
from billing_pipeline.invoicing.documents.waiting import PendingDocuments
from billing_pipeline.invoicing.ledger import CorrectionRecord, InvoiceRecord, Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.readiness import credit_note_facturx_is_ready

RETRY_WINDOW_S = 1800  # a period whose collection run failed is requested again after this window
MAX_REREADS_PER_PERIOD = 2  # stale invoices re-read from Qonto per period and tick


class PeriodReadiness(BaseModel):
    period: str
    pending: int
    ready: bool
    run_key: str
    oldest_age_s: float
    probed: int

    def describe(self) -> str:
        return f"{self.period} ({self.pending} waiting, oldest {_age(self.oldest_age_s)})"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def collection_run_key(period: str, pending: PendingDocuments, now: datetime) -> str:
    """One key per waiting set and retry window: Dagster runs a key once, so a set is collected once
    per window. The set's identity comes from the ledger's GROUP BY (``PendingDocuments.fingerprint``),
    not from every waiting row."""
    window = int(now.timestamp()) // RETRY_WINDOW_S
    return f"facturx:{period}:{pending.fingerprint}:{window}"


def _probes(pending: list[InvoiceRecord], now: datetime) -> list[tuple[InvoiceRecord, bool]]:
    """(record, re-read it from Qonto first?) — newest, oldest, then the longest unchecked stale ones."""
    by_age = sorted(pending, key=lambda r: (r.finalized_at or now, r.customer_id))
    chosen: list[InvoiceRecord] = [by_age[-1], by_age[0]]
    stale = [r for r in by_age if _since_last_look(r, now) > STALE_AFTER_S]
    stale.sort(key=lambda r: (r.checked_at or r.finalized_at or now, r.customer_id))
    chosen += stale[:MAX_REREADS_PER_PERIOD]
    seen: set[str] = set()
    probes = []
    for record in chosen:
        if record.customer_id in seen:
            continue
        seen.add(record.customer_id)
        unknown = record.attachment_id is None or record.finalized_at is None
        probes.append((record, unknown or _since_last_look(record, now) > STALE_AFTER_S))
    return probes


def _since_last_look(record: InvoiceRecord, now: datetime) -> float:
    looks = [t for t in (record.checked_at, record.finalized_at) if t is not None]
    return (now - max(looks)).total_seconds() if looks else 0.0


async def probe_period(
    qonto: QontoClient,
    ledger: Ledger,
    period: str,
    pending: PendingDocuments | list[InvoiceRecord],
    now: datetime | None = None,
    corrections: list[CorrectionRecord] | None = None,
) -> PeriodReadiness:
    """``pending``: the period's waiting documents as the ledger's query gives them (a bounded page of
    rows, the counts of the whole set), or the whole lists of finalized invoices without a file (and
    ``corrections``, its credit notes)."""
    now = now or datetime.now(UTC)
    if not isinstance(pending, PendingDocuments):
        pending = PendingDocuments.of(pending, corrections or [])
    probed = 0
    ready = False
    for record, reread in _probes(pending.invoices, now) if pending.invoices else []:
        probed += 1
        attachment_id, finalized_at = record.attachment_id, record.finalized_at
        if reread:
            invoice = await qonto.get_client_invoice(record.invoice_id or "")
            attachment_id, finalized_at = invoice.attachment_id, invoice.finalized_at
            ledger.record_attachment(
                record.invoice_reference, attachment_id=attachment_id, finalized_at=finalized_at, number=invoice.number
            )
        if attachment_id is None:
            continue
        # without timestamps only the downloaded XML can tell (None): let the run look
        if attachment_ready(await qonto.get_attachment(attachment_id), finalized_at) is not False:
            ready = True
            break
    if not ready and pending.credit_notes:
        probed += 1
        ready = await corrections_ready(qonto, pending.credit_notes)
    oldest = pending.oldest_finalized_at or now
    return PeriodReadiness(
        period=period,
        pending=pending.count,
        ready=ready,
        run_key=collection_run_key(period, pending, now),
        oldest_age_s=max(0.0, (now - oldest).total_seconds()),
        probed=probed,
    )


async def corrections_ready(qonto: QontoClient, pending: list[CorrectionRecord]) -> bool:
    """Is the Factur-X of the oldest or newest waiting credit note rendered? (at most four calls)"""
    by_age = sorted(pending, key=lambda r: (r.finalized_at or r.updated_at, r.reference))
    for record in {r.reference: r for r in (by_age[0], by_age[-1])}.values():
        note = await qonto.get_credit_note(record.qonto_id or "")
        if note.attachment_id is None:
            continue
        if credit_note_facturx_is_ready(note, await qonto.get_attachment(note.attachment_id)) is not False:
            return True
    return False
