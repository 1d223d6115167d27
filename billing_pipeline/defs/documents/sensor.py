"""The attachment sensor: launch a Factur-X collection run once a period's files are rendered."""

import json
from datetime import UTC, datetime

import dagster as dg

from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.invoicing.documents.readiness import (
    PeriodReadiness,
    collection_run_key,
    pending_by_period,
    pending_corrections_by_period,
    probe_period,
)
from billing_pipeline.invoicing.ledger import CorrectionRecord, InvoiceRecord

MAX_PERIODS_PER_TICK = 12  # at most two Qonto calls per period: a tick stays well under a second or two


async def _probe(
    qonto: QontoResource,
    billing: BillingResource,
    periods: dict[str, list[InvoiceRecord]],
    now: datetime,
    corrections: dict[str, list[CorrectionRecord]],
) -> list[PeriodReadiness]:
    async with qonto.connection().open() as client:
        return [
            await probe_period(client, billing.ledger(), period, pending, now, corrections.get(period))
            for period, pending in periods.items()
        ]


@dg.sensor(
    job_name="facturx_collection",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Looks in the ledger for finalized invoices without a stored Factur-X file and, per period, probes "
        "a bounded few in Qonto (the newest, the oldest, and those waiting longest since we last looked, "
        "re-read from Qonto); requests one facturx_files run per period where any is ready (attachment "
        "updated after finalization). The skip reason shows what is waiting and for how long. Run keys make "
        "each pending set run once per 30-minute window."
    ),
)
def facturx_attachment_sensor(
    context: dg.SensorEvaluationContext, qonto: QontoResource, billing: BillingResource
) -> dg.SensorResult | dg.SkipReason:
    ledger = billing.ledger()
    pending = pending_by_period(ledger)
    corrections = pending_corrections_by_period(ledger)
    for period in corrections:
        pending.setdefault(period, [])  # a period whose only waiting documents are credit notes
    if not pending:
        return dg.SkipReason("no finalized invoice or credit note is waiting for its Factur-X file")
    requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    now = datetime.now(UTC)
    to_probe: dict[str, list[InvoiceRecord]] = {}
    already_requested = []
    for period in sorted(pending):
        key = collection_run_key(period, pending[period], now, [c.reference for c in corrections.get(period, [])])
        if requested.get(period) == key:
            already_requested.append(period)
            continue
        to_probe[period] = pending[period]
        if len(to_probe) >= MAX_PERIODS_PER_TICK:
            break
    readiness = run_async(_probe(qonto, billing, to_probe, now, corrections)) if to_probe else []
    ready = [r for r in readiness if r.ready]
    waiting = [r for r in readiness if not r.ready]
    for r in ready:
        requested[r.period] = r.run_key
    # forget periods that have nothing pending any more: the cursor stays small
    requested = {p: k for p, k in requested.items() if p in pending}
    summary = (
        f"{sum(len(v) for v in pending.values())} invoice(s) and {sum(len(v) for v in corrections.values())} "
        f"credit note(s) waiting in {len(pending)} period(s); "
        f"ready: {[r.describe() for r in ready] or 'none'}; still rendering: "
        f"{[r.describe() for r in waiting] or 'none'}; collection already requested: "
        f"{already_requested or 'none'}"
    )
    if not ready:
        return dg.SensorResult(skip_reason=dg.SkipReason(summary), cursor=json.dumps(requested, sort_keys=True))
    context.log.info(summary)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=r.run_key, partition_key=r.period, tags={"billing/pending_invoices": str(r.pending)})
            for r in ready
        ],
        cursor=json.dumps(requested, sort_keys=True),
    )
