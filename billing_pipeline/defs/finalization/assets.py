"""Step 4 — finalize the drafts: Qonto numbers and locks them and renders the Factur-X files.

Only what the current plan says is finalized: the plan is priced again from the billing input as it
is now (not the stored output of ``billable_usage``, which may be older in review mode) and every
draft is re-read from Qonto and compared with it right before finalizing.
"""

from pathlib import Path

import dagster as dg

from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import (
    COMMON_ASSET_ARGS,
    amount_rank,
    bounded_list,
    full_table_file,
    per_customer_table,
)
from billing_pipeline.defs.partitions import partition_period
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.defs.services import current_plan, draft_synchronizer
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.documents.facturx_files import FacturxCollector, FacturxFileOutcome
from billing_pipeline.invoicing.documents.render_follower import RenderFollower
from billing_pipeline.invoicing.finalization.service import FinalizeReport, finalize_period


async def _finalize(
    qonto: QontoResource, billing: BillingResource, plan: PeriodPlan, run_key: str
) -> tuple[FinalizeReport, dict[str, FacturxFileOutcome]]:
    """Finalize, collecting each Factur-X file as soon as Qonto renders it (pipelined billing): the
    files of the first invoices are downloaded and verified while the last ones are being finalized.
    What is not rendered when finalization ends is left to facturx_files (and the sensor)."""
    async with draft_synchronizer(qonto, billing, run_key=run_key) as synchronizer:
        collector = FacturxCollector(synchronizer.qonto, synchronizer.ledger, Path(billing.invoices_dir))
        follower = RenderFollower(collector, synchronizer.ledger)
        try:
            report = await finalize_period(synchronizer, plan, on_finalized=follower.follow)
        finally:
            collected = await follower.finish()
        return report, collected


def _finalized_invoices(
    context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource, period: BillingPeriod
) -> dg.MaterializeResult:
    context.log.info(qonto.connection().describe())
    plan = current_plan(billing, period)
    report, collected = run_async(_finalize(qonto, billing, plan, context.run.run_id))
    if report.synced_first:
        context.log.info("usage changed since drafting: synced %s before finalizing", report.synced_first)
    if report.not_billed:
        context.log.warning("canceled in Qonto, not billed: %s", report.not_billed)
    stored_now = sum(1 for o in collected.values() if o.status == "stored")
    context.log.info("%d Factur-X file(s) collected while finalizing; the rest are left to facturx_files", stored_now)
    return dg.MaterializeResult(
        value=report,
        metadata={
            "invoices": len(report.invoices),
            "finalized_now": sum(1 for i in report.invoices if i.finalized_now),
            "files_collected_while_finalizing": stored_now,
            "synced_before_finalizing": dg.MetadataValue.json(report.synced_first),
            "canceled_not_billed": dg.MetadataValue.json(report.not_billed),
            "numbers": bounded_list(i.number for i in report.invoices),
            **per_customer_table(
                "invoice_table",
                (i.model_dump() for i in report.invoices),
                ["customer_id", "invoice_id", "number", "status", "total", "finalized_now", "invoice_url"],
                file=full_table_file(billing.settings().state_dir, period.key, "finalized_invoices", "invoices"),
                currency=plan.currency,
                amounts=["total"],
                rank=amount_rank("total"),
            ),
        },
    )


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        deps=["draft_invoices"],
        description=(
            "The period's drafts finalized in Qonto: numbered, locked, Factur-X rendering started. Right before "
            "finalizing, each draft is re-read and compared with the current plan: a draft behind changed usage "
            "is synced first; a draft a person edited in Qonto is refused, naming the customer and the "
            "difference. Safe to re-run: an invoice already finalized is read back, never finalized twice. Leave "
            "it out of the schedule (BILLING_AUTO_FINALIZE=false) to review drafts in Qonto before finalizing "
            "from the UI."
        ),
        kinds={"python"},
        pool="qonto_writes",
        code_version="2",
        **COMMON_ASSET_ARGS,
    )
    def finalized_invoices(
        context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource
    ) -> dg.MaterializeResult:
        period = partition_period(context)
        with reported_as_failure(f"finalizing {period}"):
            return _finalized_invoices(context, qonto, billing, period)

    return [finalized_invoices]
