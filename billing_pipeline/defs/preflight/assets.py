"""Stage 0 — the preflight: the scopes, e-invoicing, the receiving account and the seller's SIREN,
asked of Qonto before the period's first client, draft or finalization is written.

Its check ``qonto_ready`` is blocking: when it fails, ``qonto_clients`` and everything after it do
not run in that run, so no invoice becomes a legal document on an account that cannot deliver it.
"""

import dagster as dg

from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS
from billing_pipeline.defs.resources import QontoResource, run_async
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.preflight.check import PreflightReport, run_preflight

READY_CHECK = "qonto_ready"


async def _preflight(qonto: QontoResource) -> PreflightReport:
    async with qonto.connection().open() as client:
        return await run_preflight(client)


def _findings(report: PreflightReport) -> dict[str, dg.MetadataValue]:
    return {
        "problems": dg.MetadataValue.json([p.model_dump() for p in report.problems]),
        "warnings": dg.MetadataValue.json([w.model_dump() for w in report.warnings]),
        "confirmed": dg.MetadataValue.json(list(report.confirmed)),
    }


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        description=(
            "Is Qonto ready to bill? The scopes the pipeline needs (each probed without writing: a 403 names "
            "the scope), e-invoicing sending enabled (GET /v2/einvoicing/settings), an open account to be paid "
            "on, the seller's SIREN. Its blocking check qonto_ready stops the run before any client, draft or "
            "finalization when something is missing, naming what to fix in Qonto. What cannot be read "
            "(no einvoicing.read) is a warning, never a pass."
        ),
        kinds={"python"},
        check_specs=[dg.AssetCheckSpec(READY_CHECK, asset="qonto_preflight", blocking=True)],
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def qonto_preflight(context: dg.AssetExecutionContext, qonto: QontoResource):  # no annotation: check_specs
        with reported_as_failure(f"preflight of {context.partition_key}"):
            context.log.info(qonto.connection().describe())
            report = run_async(_preflight(qonto))
        for line in report.lines():
            (context.log.info if line.startswith("ok") else context.log.warning)(line)
        return dg.MaterializeResult(
            value=report,
            metadata={"ready": report.ready, **_findings(report)},
            check_results=[
                dg.AssetCheckResult(
                    check_name=READY_CHECK,
                    passed=report.ready,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=report.summary(),
                    metadata=_findings(report),
                )
            ],
        )

    return [qonto_preflight]
