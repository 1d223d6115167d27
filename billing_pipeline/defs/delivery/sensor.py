"""The delivery sensor: re-run ``delivered_invoices`` for a period when there is something to do.

A period needs a delivery run when a submitted e-invoice moved on the network (its lifecycle events
in Qonto differ from the ledger's), when a person asked for a delivery to be sent again, or when a
verified invoice has no delivery yet in a period whose delivery has begun (a delivery run failed
before reaching it) — the shared decision ``invoicing.progress.next_job`` says which, the one
``bill --wait`` follows. The sensor only reads: the run records what it finds. Probes are bounded
per tick and rotate through the submitted e-invoices with the cursor, so a tick stays short whatever
the number in flight.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg

from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.invoicing.delivery.lifecycle import lifecycle_moved
from billing_pipeline.invoicing.delivery.records import DeliveryRecord
from billing_pipeline.invoicing.progress import Cause, Job, next_job, progress_by_period
from billing_pipeline.invoicing.progress import delivery_work as read_delivery_work

MAX_PROBES_PER_TICK = 20  # one GET each: well under Qonto's limits and a second or two per tick
RETRY_WINDOW_S = 1800  # a period with undelivered invoices is re-requested at most every 30 minutes


def _run_key(period: str, reason: str, fingerprint: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(fingerprint)).encode()).hexdigest()[:16]
    return f"delivery:{period}:{reason}:{digest}"


async def _moved(qonto: QontoResource, window: list[DeliveryRecord]) -> list[DeliveryRecord]:
    async with qonto.connection().open() as client:
        # looked up in this module at call time: a test counts the probes by replacing it
        return await lifecycle_moved(client, window)


@dg.sensor(
    job_name=Job.INVOICE_DELIVERY.value,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Follows deliveries: probes a bounded, rotating few submitted e-invoices in Qonto and requests a "
        "delivered_invoices run for each period whose e-invoices moved on the network (received, refused…), "
        "where a person asked to resend, or where a verified invoice has no delivery yet. The skip reason "
        "shows what is in flight."
    ),
)
def delivery_lifecycle_sensor(
    context: dg.SensorEvaluationContext, qonto: QontoResource, billing: BillingResource
) -> dg.SensorResult | dg.SkipReason:
    if billing.delivery == "off":
        return dg.SkipReason("BILLING_DELIVERY=off: nothing is delivered")
    ledger = billing.ledger()
    cursor = json.loads(context.cursor) if context.cursor else {}
    offset = int(cursor.get("offset", 0))
    work = read_delivery_work(ledger)
    submitted = work.submitted
    window = submitted[offset : offset + MAX_PROBES_PER_TICK] or submitted[:MAX_PROBES_PER_TICK]
    next_offset = (offset + len(window)) if offset + len(window) < len(submitted) else 0
    moved = run_async(_moved(qonto, window)) if window else []
    by_period: dict[str, list[str]] = defaultdict(list)
    for record in moved:
        by_period[record.period].append(f"{record.invoice_id}:{len(record.events)}:{record.einvoicing_status}")
    slot = str(int(datetime.now(UTC).timestamp() // RETRY_WINDOW_S))
    requests: dict[str, str] = {}
    # delivering: BILLING_DELIVERY=off returned above
    for period, progress in progress_by_period(ledger, delivering=True).items():
        decision = next_job(progress, lifecycle_moved=period in by_period)
        if decision.job != Job.INVOICE_DELIVERY:
            continue
        match decision.cause:
            case Cause.LIFECYCLE:
                requests[period] = _run_key(period, "lifecycle", by_period[period])
            case Cause.RESEND:
                resend = [f"{r.invoice_id}:{r.updated_at.isoformat()}" for r in work.resend.get(period, [])]
                requests[period] = _run_key(period, "resend", resend)
            case Cause.UNDELIVERED:
                requests[period] = _run_key(period, f"undelivered-{slot}", work.undelivered.get(period, []))
    summary = (
        f"{len(submitted)} e-invoice(s) on the network, {len(window)} probed this tick, {len(moved)} moved; "
        f"{sum(len(v) for v in work.resend.values())} to resend; "
        f"{sum(len(v) for v in work.undelivered.values())} verified invoice(s) not delivered yet"
    )
    new_cursor = json.dumps({"offset": next_offset}, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(summary), cursor=new_cursor)
    context.log.info(summary)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, partition_key=period) for period, key in sorted(requests.items())],
        cursor=new_cursor,
    )
