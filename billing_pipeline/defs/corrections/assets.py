"""Step 4b — corrections of a finalized period whose usage changed: credit in full, then replace."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import BaseModel

from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS, table
from billing_pipeline.defs.partitions import partition_period
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.defs.services import current_plan, draft_synchronizer
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.corrections.service import (
    CorrectionIssuer,
    CorrectionNeed,
    IssuedCorrection,
    NetBilled,
    issue_corrections,
    net_billed,
)
from billing_pipeline.invoicing.finalization.service import finalize_period


class CorrectionsReport(BaseModel):
    period: str
    needs: list[CorrectionNeed]
    issued: list[IssuedCorrection]
    net: list[NetBilled]


async def _correct(qonto: QontoResource, billing: BillingResource, plan: PeriodPlan, run_key: str) -> CorrectionsReport:
    ledger = billing.ledger()
    async with draft_synchronizer(qonto, billing, run_key=run_key) as synchronizer:
        issuer = CorrectionIssuer(
            synchronizer.qonto,
            ledger,
            issue_date=datetime.now(ZoneInfo(billing.timezone)).date(),
            in_flight_grace_s=billing.in_flight_grace_s,
        )
        # credit notes, then the replacements as drafts (under the period lock), then finalized
        with synchronizer.forgetting_on_failure(plan.period):
            needs, issued = await issue_corrections(issuer, synchronizer, plan)
            await finalize_period(synchronizer, plan)
            net = await net_billed(
                synchronizer.qonto, ledger, plan, billing.timezone, shared=synchronizer.shared_listing
            )
    return CorrectionsReport(period=plan.period.key, needs=needs, issued=issued, net=net)


def _invoice_corrections(
    context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource, period: BillingPeriod
) -> dg.MaterializeResult:
    context.log.info(qonto.connection().describe())
    plan = current_plan(billing, period)
    report = run_async(_correct(qonto, billing, plan, context.run.run_id))
    wrong = [n for n in report.net if not n.matches]
    return dg.MaterializeResult(
        value=report,
        metadata={
            "customers_corrected": len(report.needs),
            "credit_notes_issued_now": sum(1 for i in report.issued if i.created_now),
            "differences": table(
                (
                    {
                        "customer": n.customer_id,
                        "invoice": n.invoice_number,
                        "billed": n.billed_total,
                        "plan": n.planned_total if n.planned_total is not None else "nothing to bill",
                        "difference": n.difference,
                    }
                    for n in report.needs
                ),
                ["customer", "invoice", "billed", "plan", "difference"],
                currency=plan.currency,
            ),
            "issued": table(
                (i.model_dump() for i in report.issued),
                ["customer_id", "kind", "number", "corrects", "total", "reference"],
                currency=plan.currency,
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="net_billed_matches_plan",
                passed=not wrong,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "net_per_customer": table(
                        (
                            {
                                "customer": n.customer_id,
                                "invoiced": n.invoiced,
                                "credited": n.credited,
                                "net": n.net,
                                "plan": n.planned,
                            }
                            for n in (wrong or report.net)
                        ),
                        ["customer", "invoiced", "credited", "net", "plan"],
                        currency=plan.currency,
                    )
                },
            )
        ],
    )


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        deps=["billable_usage", "finalized_invoices"],
        description=(
            "Corrections of a finalized period whose usage changed: every finalized invoice that no longer "
            "matches the current plan is credited in full by a credit note (avoir) referring to it, and a "
            "replacement invoice at the current plan is drafted and finalized; a customer with nothing left to "
            "bill only gets the credit note. Each credit note once (deterministic reference in its reason, "
            "intent in the ledger, Qonto listed before any create). Their Factur-X files are collected with "
            "the period's invoices. BILLING_CORRECTIONS=review leaves this asset out of the jobs: it then runs "
            "only when materialized explicitly."
        ),
        kinds={"python"},
        pool="qonto_writes",
        check_specs=[
            dg.AssetCheckSpec(
                "net_billed_matches_plan",
                asset="invoice_corrections",
                description=(
                    "Per customer: Σ invoices − Σ credit notes in Qonto = the current plan, to the cent, VAT included."
                ),
            )
        ],
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def invoice_corrections(context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource):
        period = partition_period(context)
        with reported_as_failure(f"corrections of {period}"):
            return _invoice_corrections(context, qonto, billing, period)

    return [invoice_corrections]
