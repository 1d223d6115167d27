"""Step 5 — the Factur-X file of every finalized invoice: downloaded, verified, stored."""

from pathlib import Path

import dagster as dg

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import (
    COMMON_ASSET_ARGS,
    QONTO_CURRENCY,
    amount_rank,
    bounded_list,
    full_table_file,
    per_customer_table,
    table,
)
from billing_pipeline.defs.partitions import partition_period
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.documents.facturx_files import FacturxCollector, FacturxReport
from billing_pipeline.invoicing.documents.render_follower import collect_and_follow


async def _collect(qonto: QontoResource, billing: BillingResource, period: BillingPeriod) -> FacturxReport:
    """One pass over the period's invoices, then the ones finalized moments ago are followed until
    Qonto has rendered them (for up to BILLING_RENDER_FOLLOW_S) rather than left to the next tick.
    ``collect_and_follow`` holds the period lock for both."""
    async with qonto.connection().open() as client:
        collector = FacturxCollector(client, billing.ledger(), Path(billing.invoices_dir))
        return await collect_and_follow(collector, period, billing.settings().render_follow_s)


def _facturx_files(
    context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource, period: BillingPeriod
) -> dg.MaterializeResult:
    report = run_async(_collect(qonto, billing, period))
    stored, pending, rejected, failed = (report.by_status(s) for s in ("stored", "pending", "rejected", "failed"))
    context.log.info(
        "period %s: %d stored, %d still rendering, %d rejected, %d failed",
        report.period,
        len(stored),
        len(pending),
        len(rejected),
        len(failed),
    )
    folder = Path(billing.invoices_dir) / report.period
    return dg.MaterializeResult(
        value=report,
        metadata={
            "folder": dg.MetadataValue.path(str(folder.resolve())),
            "stored": len(stored),
            "pending": len(pending),
            "rejected": len(rejected),
            "failed": len(failed),
            **per_customer_table(
                "files",
                (o.model_dump() for o in report.outcomes),
                ["customer_id", "number", "status", "file", "sha256", "xml_total"],
                file=full_table_file(billing.settings().state_dir, report.period, "facturx_files", "files"),
                currency=QONTO_CURRENCY,
                # not stored (pending, rejected, failed) first, then the largest amounts
                rank=lambda row: (row["status"] != "stored", amount_rank("xml_total")(row)),
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="every_correction_has_verified_file",
                passed=all(c["status"] == "stored" for c in report.corrections),
                severity=(
                    dg.AssetCheckSeverity.ERROR
                    if any(c["status"] in ("rejected", "failed") for c in report.corrections)
                    else dg.AssetCheckSeverity.WARN
                ),
                metadata={
                    "corrections": table(
                        report.corrections,
                        ["customer_id", "number", "corrects", "status", "file", "sha256"],
                        rank=lambda row: row["status"] != "stored",
                    ),
                    "problems": dg.MetadataValue.json(
                        {str(c["number"]): c["problems"] for c in report.corrections if c["problems"]}
                    ),
                },
            ),
            dg.AssetCheckResult(
                check_name="every_finalized_invoice_has_verified_file",
                passed=not pending and not rejected and not failed,
                # still rendering is expected for a few seconds after finalization: a warning
                severity=dg.AssetCheckSeverity.ERROR if rejected or failed else dg.AssetCheckSeverity.WARN,
                metadata={
                    "pending": bounded_list(o.number or o.invoice_id for o in pending),
                    "rejected": bounded_list(o.number or o.invoice_id for o in rejected),
                    "failed": dg.MetadataValue.json({o.customer_id: o.problems for o in failed}),
                },
            ),
            dg.AssetCheckResult(
                check_name="facturx_matches_plan_and_qonto",
                passed=not rejected,
                metadata={
                    "problems": dg.MetadataValue.md(
                        "\n".join(f"- {o.number}: {p}" for o in rejected for p in o.problems) or "none"
                    )
                },
            ),
        ],
    )


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        deps=["finalized_invoices", "invoice_corrections"],
        description=(
            "Factur-X PDFs (PDF/A-3 + EN 16931 factur-x.xml) of the period's finalized invoices, downloaded "
            "once Qonto re-rendered them (attachment updated after finalization), verified (XSD, EN 16931 and "
            "BR-FR rules, PDF/A-3 container, our Decimal money checks), compared with our plan and Qonto's "
            "totals, and stored atomically with a SHA-256 under `<invoices dir>/YYYY-MM/`. Requested by the "
            "attachment sensor."
        ),
        kinds={"pdf", "python"},
        check_specs=[
            dg.AssetCheckSpec(
                "every_finalized_invoice_has_verified_file",
                asset="facturx_files",
                description="Every finalized invoice of the period has a stored, verified Factur-X file.",
            ),
            dg.AssetCheckSpec(
                "every_correction_has_verified_file",
                asset="facturx_files",
                description=(
                    "Every credit note issued as a correction has a stored, verified Factur-X file (381, BT-25)."
                ),
            ),
            dg.AssetCheckSpec(
                "facturx_matches_plan_and_qonto",
                asset="facturx_files",
                description="The embedded XML is valid and its number and totals equal our plan and Qonto's.",
            ),
        ],
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def facturx_files(context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource):
        period = partition_period(context)
        with reported_as_failure(f"Factur-X files of {period}"):
            return _facturx_files(context, qonto, billing, period)

    return [facturx_files]
