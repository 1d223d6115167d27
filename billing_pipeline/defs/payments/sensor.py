"""The transactions sensor: request a ``payment_matching`` run when new credit transfers arrive."""

import dagster as dg

from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.invoicing.payments.service import new_credits


async def _new(qonto: QontoResource, billing: BillingResource, since: str | None) -> tuple[list[str], int, str | None]:
    async with qonto.connection().open() as client:
        fresh, seen, high = await new_credits(client, billing.ledger(), since)
    return [t.id for t in fresh], seen, high


@dg.sensor(
    job_name="payment_matching",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Lists the completed credit transactions of the main Qonto account updated since its cursor and "
        "requests one payment_matching run when any is not yet counted in the ledger. The skip reason says "
        "what it saw."
    ),
)
def payments_sensor(
    context: dg.SensorEvaluationContext, qonto: QontoResource, billing: BillingResource
) -> dg.SensorResult | dg.SkipReason:
    since = context.cursor or None
    fresh, seen, high = run_async(_new(qonto, billing, since))
    cursor = high or since or ""
    if not fresh:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"{seen} completed credit transaction(s) updated since {since or 'the beginning'}; "
                "none new (all already counted or reported)"
            ),
            cursor=cursor,
        )
    context.log.info(f"{len(fresh)} new credit transaction(s) of {seen} listed: requesting a payment pass")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"payments:{high}:{len(fresh)}", tags={"billing/new_transactions": str(len(fresh))})
        ],
        cursor=cursor,
    )
