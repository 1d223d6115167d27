"""Step 3 — one draft invoice per customer and period, following the plan until finalized."""

from collections import Counter

import dagster as dg

from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS, amount_rank, full_table_file, per_customer_table, table
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.defs.services import draft_synchronizer
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.drafts.service import DraftReport


async def _sync(
    qonto: QontoResource, billing: BillingResource, plan: PeriodPlan, client_ids: dict[str, str], run_key: str
) -> DraftReport:
    async with draft_synchronizer(qonto, billing, run_key=run_key) as synchronizer:
        return await synchronizer.sync(plan, client_ids)


def _draft_invoices(
    context: dg.AssetExecutionContext,
    billable_usage: PeriodPlan,
    qonto_clients: dict[str, str],
    qonto: QontoResource,
    billing: BillingResource,
) -> dg.MaterializeResult:
    context.log.info(qonto.connection().describe())
    report = run_async(_sync(qonto, billing, billable_usage, qonto_clients, context.run.run_id))
    planned = {i.customer.customer_id for i in billable_usage.invoices}
    not_billed = report.not_billed()
    mismatched = [o for o in report.outcomes if o.customer_id in planned and not o.totals_match]
    covered = Counter(o.customer_id for o in report.outcomes if o.customer_id in planned and o.action != "canceled")
    missing = sorted(planned - covered.keys() - {o.customer_id for o in not_billed})
    actions = Counter(o.action for o in report.outcomes)
    rows = [
        {
            "customer": o.customer_id,
            "reference": o.reference,
            "invoice_id": o.invoice_id,
            "status": o.status,
            "action": o.action,
            "plan_total": o.plan_total,
            "qonto_total": o.qonto_total,
            "note": o.note,
        }
        for o in report.outcomes
    ]
    return dg.MaterializeResult(
        value=report,
        metadata={
            "invoices": len(report.outcomes),
            **{
                f"drafts_{a}": actions.get(a, 0)
                for a in ("created", "updated", "adopted", "unchanged", "deleted", "abandoned")
            },
            "canceled_not_billed": len(not_billed),
            "finalized_untouched": actions.get("locked", 0),
            "qonto_invoices_listed": report.invoices_listed,
            "total": str(billable_usage.total),
            **per_customer_table(
                "invoice_table",
                rows,
                ["customer", "reference", "invoice_id", "status", "action", "plan_total", "qonto_total", "note"],
                file=full_table_file(
                    billing.settings().state_dir, billable_usage.period.key, "draft_invoices", "invoices"
                ),
                currency=billable_usage.currency,
                # rows with a note (not billed, refused…) first, then the largest amounts
                rank=lambda row: (row["note"] is not None, amount_rank("plan_total")(row)),
            ),
            "foreign_invoices": dg.MetadataValue.json(report.foreign_invoices),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="every_planned_customer_billed",
                passed=not not_billed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=(
                    "not billed: " + "; ".join(o.note or o.customer_id for o in not_billed) if not_billed else None
                ),
                metadata={
                    "not_billed": dg.MetadataValue.json([o.customer_id for o in not_billed]),
                    "canceled_invoices": dg.MetadataValue.json([o.number or o.invoice_id for o in not_billed]),
                },
            ),
            dg.AssetCheckResult(
                check_name="qonto_totals_match",
                passed=not mismatched,
                metadata={
                    "mismatches": table(
                        (o.model_dump() for o in mismatched),
                        ["customer_id", "invoice_id", "plan_total", "qonto_total", "plan_vat", "qonto_vat"],
                        currency=billable_usage.currency,
                    )
                },
            ),
            dg.AssetCheckResult(
                check_name="one_invoice_per_customer",
                passed=not report.duplicates_in_qonto and not missing and all(n == 1 for n in covered.values()),
                metadata={
                    "duplicates_in_qonto": dg.MetadataValue.json(report.duplicates_in_qonto),
                    "customers_without_invoice": dg.MetadataValue.json(missing),
                },
            ),
        ],
    )


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        description=(
            "One Qonto draft invoice per (customer, period), found by its reference `BP-<period>-<customer>` "
            "before any create, with an intent committed to the ledger before each create. Drafts are updated "
            "when usage is corrected; finalized invoices are never edited."
        ),
        kinds={"python"},
        pool="qonto_writes",
        check_specs=[
            dg.AssetCheckSpec(
                "qonto_totals_match",
                asset="draft_invoices",
                blocking=True,
                description="Qonto's total and VAT equal our Decimal plan, to the cent, for every invoice.",
            ),
            dg.AssetCheckSpec(
                "every_planned_customer_billed",
                asset="draft_invoices",
                description=(
                    "No planned customer goes unbilled: an invoice a person canceled in Qonto fails this check by "
                    "customer (unless BILLING_REISSUE_CANCELED re-issues it)."
                ),
            ),
            dg.AssetCheckSpec(
                "one_invoice_per_customer",
                asset="draft_invoices",
                blocking=True,
                description="Exactly one live Qonto invoice per planned customer for the period, none duplicated.",
            ),
        ],
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def draft_invoices(
        context: dg.AssetExecutionContext,
        billable_usage: PeriodPlan,
        qonto_clients: dict[str, str],
        qonto: QontoResource,
        billing: BillingResource,
    ):
        with reported_as_failure(f"draft invoices of {billable_usage.period}"):
            return _draft_invoices(context, billable_usage, qonto_clients, qonto, billing)

    return [draft_invoices]
