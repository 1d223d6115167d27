"""Step 6 — every verified invoice delivered to its customer once, and followed until received."""

import dagster as dg

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS, table
from billing_pipeline.defs.partitions import partition_period
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.delivery.records import IN_PROGRESS, DeliveryState
from billing_pipeline.invoicing.delivery.service import DeliveryReport, InvoiceDeliverer
from billing_pipeline.settings import QontoMode

ACTIONS = {
    DeliveryState.UNKNOWN: "look at the invoice's activity in Qonto or ask the customer; then run "
    "`billing-pipeline delivery resolve --invoice NUMBER --sent` (it arrived) or `--resend` (send it again)",
    DeliveryState.FAILED: "fix the cause shown, then `billing-pipeline delivery resolve --invoice NUMBER --resend`",
    DeliveryState.REFUSED: "contact the customer: a refused invoice is corrected by a credit note and a new invoice",
    DeliveryState.DISPUTED: "contact the customer about the dispute; the invoice stays due until settled",
}


async def _deliver(qonto: QontoResource, billing: BillingResource, period: str) -> DeliveryReport:
    """The deliverer takes the period lock itself."""
    async with qonto.connection().open() as client:
        deliverer = InvoiceDeliverer(
            client,
            billing.ledger(),
            policy=billing.delivery,  # type: ignore[arg-type]
            # Qonto's sandbox (a staging token, whatever the base URL) has no e-invoicing: all emailed there
            einvoicing=qonto.mode != QontoMode.SANDBOX.value and not _has_staging_token(qonto),
        )
        return await deliverer.deliver(period)


def _has_staging_token(qonto: QontoResource) -> bool:
    return bool(str(getattr(qonto, "staging_token", None) or "").strip())


def _problems(report: DeliveryReport) -> list[dict[str, str | None]]:
    return [
        {
            "customer": o.customer_id,
            "invoice": o.number,
            "channel": o.channel.value if o.channel else None,
            "status": o.state.value if o.state else "not delivered",
            "reason": o.note,
            "action": ACTIONS.get(o.state) if o.state else None,
        }
        for o in report.outcomes
        if o.state in ACTIONS
    ]


def _delivered_invoices(
    context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource, period: BillingPeriod
) -> dg.MaterializeResult:
    if billing.delivery == "off":
        context.log.info("BILLING_DELIVERY=off: nothing is sent")
    report = run_async(_deliver(qonto, billing, period.key))
    problems = _problems(report)
    counts = {s.value: len(report.in_state(s)) for s in DeliveryState}
    context.log.info(
        "period %s: %s", period.key, ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to deliver"
    )
    return dg.MaterializeResult(
        value=report,
        metadata={
            "sent_now": sum(1 for o in report.outcomes if o.sent_now),
            "by_status": dg.MetadataValue.json({s: n for s, n in counts.items() if n}),
            "in_progress": sum(1 for o in report.outcomes if o.state in IN_PROGRESS),
            "deliveries": table(
                (
                    {
                        "customer": o.customer_id,
                        "invoice": o.number,
                        "channel": o.channel.value if o.channel else "-",
                        "status": o.state.value if o.state else "not delivered",
                        "sent_at": o.sent_at.isoformat(timespec="seconds") if o.sent_at else None,
                        "last_event": (o.events[-1]["status_code"] if o.events else None),
                        "at": (o.events[-1]["timestamp"] if o.events else None),
                        "to": ", ".join(o.recipients),
                        "note": o.note,
                    }
                    for o in report.outcomes
                ),
                ["customer", "invoice", "channel", "status", "sent_at", "last_event", "at", "to", "note"],
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_delivery_failed_refused_or_unknown",
                passed=not problems,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "problems": table(problems, ["customer", "invoice", "channel", "status", "reason", "action"])
                },
            )
        ],
    )


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        deps=["facturx_files"],
        description=(
            "Every invoice of the period whose Factur-X file is stored and verified, delivered once to its "
            "customer: through the e-invoicing network (`send_by_einvoice`) when the client is reachable, "
            "otherwise by one email to the client's addresses. The intent is committed before each send; an "
            "email whose answer was lost is never re-sent blindly (it shows as `unknown` for a person to "
            "resolve). Submitted e-invoices are followed through their lifecycle events (the lifecycle "
            "sensor re-runs this asset when they change). `BILLING_DELIVERY=off` sends nothing."
        ),
        kinds={"python", "email"},
        pool="qonto_writes",
        check_specs=[
            dg.AssetCheckSpec(
                "no_delivery_failed_refused_or_unknown",
                asset="delivered_invoices",
                description="No invoice of the period was refused, disputed, failed to be delivered, or has an "
                "unknown email delivery; each one is named with the code, the reason and the action.",
            )
        ],
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def delivered_invoices(context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource):
        period = partition_period(context)
        with reported_as_failure(f"delivery of {period.key}"):
            return _delivered_invoices(context, qonto, billing, period)

    return [delivered_invoices]
