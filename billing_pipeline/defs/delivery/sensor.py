"""The delivery sensor: re-run ``delivered_invoices`` for a period when there is something to do.

A period needs a delivery run when a submitted e-invoice moved on the network (its lifecycle events
in Qonto differ from the ledger's), when a person asked for a delivery to be sent again, or when a
verified invoice has no delivery yet (a delivery run failed before reaching it). The sensor only
reads: the run records what it finds. Probes are bounded per tick and rotate through the submitted
e-invoices with the cursor, so a tick stays short whatever the number in flight.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg

from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.invoicing.delivery.lifecycle import event_dicts
from billing_pipeline.invoicing.delivery.records import DeliveryRecord, DeliveryState
from billing_pipeline.invoicing.ledger import InvoiceState, Ledger

MAX_PROBES_PER_TICK = 20  # one GET each: well under Qonto's limits and a second or two per tick
RETRY_WINDOW_S = 1800  # a period with undelivered invoices is re-requested at most every 30 minutes


def _run_key(period: str, reason: str, fingerprint: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(fingerprint)).encode()).hexdigest()[:16]
    return f"delivery:{period}:{reason}:{digest}"


async def lifecycle_moved(qonto: QontoResource, submitted: list[DeliveryRecord]) -> list[DeliveryRecord]:
    """The submitted e-invoices whose lifecycle in Qonto is not what the ledger last recorded."""
    moved = []
    async with qonto.connection().open() as client:
        for record in submitted:
            invoice = await client.get_client_invoice(record.invoice_id)
            events = event_dicts(invoice.einvoicing_lifecycle_events)
            if events != record.events or invoice.einvoicing_status != record.einvoicing_status:
                moved.append(record)
    return moved


def _undelivered(ledger: Ledger) -> dict[str, list[str]]:
    """Verified invoices without a delivery, in periods whose delivery has begun. A period nobody
    delivered yet (e.g. billed before delivery existed) is never started by the sensor: only a run
    someone asked for (``bill``, a backfill, the schedule) delivers it."""
    deliveries = ledger.deliveries()
    delivered = {d.invoice_id for d in deliveries}
    begun = {d.period for d in deliveries}
    waiting: dict[str, list[str]] = defaultdict(list)
    for record in ledger.invoices(states={InvoiceState.STORED}):
        if record.period in begun and record.invoice_id and record.invoice_id not in delivered:
            waiting[record.period].append(record.invoice_id)
    return waiting


@dg.sensor(
    job_name="invoice_delivery",
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
    submitted = ledger.deliveries(states={DeliveryState.SUBMITTED})
    window = submitted[offset : offset + MAX_PROBES_PER_TICK] or submitted[:MAX_PROBES_PER_TICK]
    next_offset = (offset + len(window)) if offset + len(window) < len(submitted) else 0
    moved = run_async(lifecycle_moved(qonto, window)) if window else []
    requests: dict[str, str] = {}
    by_period: dict[str, list[str]] = defaultdict(list)
    for record in moved:
        by_period[record.period].append(f"{record.invoice_id}:{len(record.events)}:{record.einvoicing_status}")
    for period, fingerprint in by_period.items():
        requests[period] = _run_key(period, "lifecycle", fingerprint)
    resend: dict[str, list[str]] = defaultdict(list)
    for record in ledger.deliveries(states={DeliveryState.RESEND}):
        resend[record.period].append(f"{record.invoice_id}:{record.updated_at.isoformat()}")
    for period, fingerprint in resend.items():
        requests.setdefault(period, _run_key(period, "resend", fingerprint))
    undelivered = _undelivered(ledger)
    slot = str(int(datetime.now(UTC).timestamp() // RETRY_WINDOW_S))
    for period, invoice_ids in undelivered.items():
        requests.setdefault(period, _run_key(period, f"undelivered-{slot}", invoice_ids))
    summary = (
        f"{len(submitted)} e-invoice(s) on the network, {len(window)} probed this tick, {len(moved)} moved; "
        f"{sum(len(v) for v in resend.values())} to resend; "
        f"{sum(len(v) for v in undelivered.values())} verified invoice(s) not delivered yet"
    )
    new_cursor = json.dumps({"offset": next_offset}, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(summary), cursor=new_cursor)
    context.log.info(summary)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, partition_key=period) for period, key in sorted(requests.items())],
        cursor=new_cursor,
    )
