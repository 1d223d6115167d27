"""Step 4 — finalize the drafts: Qonto numbers and locks them and renders the Factur-X files."""

import dagster as dg

from billing_pipeline.defs.assets.drafts import draft_invoices
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS, table
from billing_pipeline.defs.partitions import billing_period
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.invoicing.finalization import FinalizeReport, finalize_period


async def _finalize(qonto: QontoResource, billing: BillingResource, period: str) -> FinalizeReport:
    async with qonto.connection().open() as client:
        return await finalize_period(client, billing.ledger(), period)


@dg.asset(
    partitions_def=billing_period,
    deps=[draft_invoices],
    description=(
        "The period's drafts finalized in Qonto: numbered, locked, Factur-X rendering started. Safe to "
        "re-run: an invoice already finalized is read back, never finalized twice. Leave it out of the "
        "schedule (BILLING_AUTO_FINALIZE=false) to review drafts in Qonto before finalizing from the UI."
    ),
    kinds={"python"},
    pool="qonto_writes",
    code_version="1",
    **COMMON_ASSET_ARGS,
)
def finalized_invoices(
    context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource
) -> dg.MaterializeResult:
    context.log.info(qonto.connection().describe())
    report = run_async(_finalize(qonto, billing, context.partition_key))
    return dg.MaterializeResult(
        value=report,
        metadata={
            "invoices": len(report.invoices),
            "finalized_now": sum(1 for i in report.invoices if i.finalized_now),
            "numbers": dg.MetadataValue.json([i.number for i in report.invoices]),
            "invoice_table": table(
                (i.model_dump() for i in report.invoices),
                ["customer_id", "invoice_id", "number", "status", "total", "finalized_now", "invoice_url"],
            ),
        },
    )
