"""The attachment sensor: launch a Factur-X collection run once a period's files are rendered."""

import json
from datetime import UTC, datetime

import dagster as dg

from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.invoicing.documents.readiness import PeriodReadiness, collection_run_key, probe_period
from billing_pipeline.invoicing.progress import (
    Job,
    PendingDocuments,
    PeriodProgress,
    next_job,
    pending_documents,
    progress_by_period,
)

MAX_PERIODS_PER_TICK = 12  # at most two Qonto calls per period: a tick stays well under a second or two


async def _probe(
    qonto: QontoResource, billing: BillingResource, periods: dict[str, PendingDocuments], now: datetime
) -> list[PeriodReadiness]:
    async with qonto.connection().open() as client:
        return [
            await probe_period(client, billing.ledger(), period, pending, now) for period, pending in periods.items()
        ]


def _collects(readiness: PeriodReadiness, progress: PeriodProgress) -> bool:
    return next_job(progress, files_ready=readiness.ready).job == Job.FACTURX_COLLECTION


@dg.sensor(
    job_name=Job.FACTURX_COLLECTION.value,
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
    now = datetime.now(UTC)
    # counts per period and a bounded page of rows each, grouped and limited in SQL: never every row
    pending = pending_documents(ledger, now=now)
    if not pending:
        return dg.SkipReason("no finalized invoice or credit note is waiting for its Factur-X file")
    requested: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    to_probe: dict[str, PendingDocuments] = {}
    already_requested = []
    for period, documents in pending.items():
        key = collection_run_key(period, documents, now)
        if requested.get(period) == key:
            already_requested.append(period)
            continue
        to_probe[period] = documents
        if len(to_probe) >= MAX_PERIODS_PER_TICK:
            break
    readiness = run_async(_probe(qonto, billing, to_probe, now)) if to_probe else []
    # the shared decision (the one bill --wait follows) says which probed periods get a collection run
    delivering = billing.delivery != "off"
    progress = progress_by_period(ledger, delivering=delivering) if readiness else {}
    ready = [r for r in readiness if _collects(r, progress.get(r.period) or PeriodProgress(r.period, delivering))]
    waiting = [r for r in readiness if r not in ready]
    for r in ready:
        requested[r.period] = r.run_key
    # forget periods that have nothing pending any more: the cursor stays small
    requested = {p: k for p, k in requested.items() if p in pending}
    summary = (
        f"{sum(d.invoice_count for d in pending.values())} invoice(s) and "
        f"{sum(d.credit_note_count for d in pending.values())} "
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
