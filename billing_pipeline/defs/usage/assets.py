"""Step 1 — billable usage priced into one invoice plan per customer."""

from decimal import Decimal
from pathlib import Path

import dagster as dg

from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS, amount_rank, full_table_file, per_customer_table, table
from billing_pipeline.defs.partitions import partition_period
from billing_pipeline.defs.resources import BillingResource
from billing_pipeline.defs.services import current_plan
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.invoices.reconciliation import late_changes, plan_arithmetic_problems


def _plan_metadata(plan: PeriodPlan, billing: BillingResource) -> dict[str, object]:
    stats = plan.usage_stats
    source = billing.usage_source()
    return {
        "period": plan.period.key,
        "timezone": plan.timezone,
        "data_dir": dg.MetadataValue.path(str(Path(billing.data_dir).resolve())),
        "usage_source": source.label if source else "files under <data dir>/usage",
        "usage_files": stats.files,
        "usage_rows_read": stats.rows_read,
        "usage_rows_in_period": stats.rows_in_period,
        "duplicate_events_ignored": stats.duplicate_events,
        "customers_billed": stats.customers_billed,
        "customers_skipped": stats.customers_skipped,
        "invoice_lines": sum(len(i.lines) for i in plan.invoices),
        "subscription_segments": sum(len(i.segments) for i in plan.invoices),
        "discount_total": str(sum((line.discount or 0 for i in plan.invoices for line in i.lines), Decimal("0.00"))),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in plan.warnings) or "none"),
        "net_total": str(plan.net_total),
        "vat_total": str(plan.vat_total),
        "total": str(plan.total),
        "currency": plan.currency,
        **per_customer_table(
            "invoices",
            (
                {
                    "customer": i.customer.customer_id,
                    "name": i.customer.display_name,
                    "plan": " → ".join(seg.plan for seg in i.segments) if i.segments else i.customer.plan,
                    "lines": len(i.lines),
                    "discount": sum((line.discount or 0 for line in i.lines), Decimal("0.00")),
                    "net": i.net_total,
                    "vat": i.vat_total,
                    "total": i.total,
                }
                for i in plan.invoices
            ),
            ["customer", "name", "plan", "lines", "discount", "net", "vat", "total"],
            file=full_table_file(billing.settings().state_dir, plan.period.key, "billable_usage", "invoices"),
            currency=plan.currency,
            rank=amount_rank("total"),
        ),
    }


def _billable_usage(
    context: dg.AssetExecutionContext, billing: BillingResource, period: BillingPeriod
) -> dg.MaterializeResult:
    plan = current_plan(billing, period)
    arithmetic = plan_arithmetic_problems(plan)
    changes = late_changes(plan, billing.ledger())
    context.log.info(
        "period %s: %d invoice(s), total %s %s", plan.period, len(plan.invoices), plan.total, plan.currency
    )
    for warning in plan.warnings:
        context.log.warning("period %s: %s", plan.period, warning)
    return dg.MaterializeResult(
        value=plan,
        metadata=_plan_metadata(plan, billing),
        check_results=[
            dg.AssetCheckResult(
                check_name="usage_valid",
                passed=not arithmetic,
                metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in arithmetic) or "none")},
            ),
            dg.AssetCheckResult(
                check_name="no_late_usage_after_finalization",
                passed=not changes,
                # with BILLING_CORRECTIONS=auto the same run corrects them (invoice_corrections checks the
                # result); in review mode nothing is corrected until a person materializes the corrections
                severity=dg.AssetCheckSeverity.ERROR if billing.corrections == "review" else dg.AssetCheckSeverity.WARN,
                metadata={
                    "customers_changed": len(changes),
                    "differences": table(
                        (c.model_dump() for c in changes),
                        ["customer_id", "invoice_number", "finalized_total", "current_total", "change"],
                        currency=plan.currency,
                    ),
                },
            ),
        ],
    )


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        description=(
            "Usage events of the billing period (data/usage, CSV + Parquet), validated and priced with the "
            "price list into one invoice plan per customer. Invalid input fails here, before any Qonto call, "
            "with every problem listed (file, row, field, value, reason)."
        ),
        kinds={"pandas", "python"},
        check_specs=[
            dg.AssetCheckSpec(
                "usage_valid",
                asset="billable_usage",
                blocking=True,
                description="Every line net = quantity × unit price (to the cent), VAT per rate, totals add up.",
            ),
            dg.AssetCheckSpec(
                "no_late_usage_after_finalization",
                asset="billable_usage",
                description=(
                    "Usage of an already finalized period has not changed since finalization; the per-customer "
                    "differences are corrected by invoice_corrections (finalized invoices are never edited)."
                ),
            ),
        ],
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def billable_usage(context: dg.AssetExecutionContext, billing: BillingResource):
        period = partition_period(context)
        with reported_as_failure(f"billable usage of {period}"):
            return _billable_usage(context, billing, period)

    return [billable_usage]
