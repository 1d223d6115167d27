"""Step 2 — one Qonto client per billed customer (find-or-create, never duplicated)."""

from collections import Counter

import dagster as dg

from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS, full_table_file, per_customer_table
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.clients.service import ClientOutcome, ensure_clients


async def _ensure(qonto: QontoResource, billing: BillingResource, plan: PeriodPlan) -> list[ClientOutcome]:
    async with qonto.connection().open() as client:
        return await ensure_clients(
            client, billing.ledger(), [i.customer for i in plan.invoices], in_flight_grace_s=billing.in_flight_grace_s
        )


def _qonto_clients(
    context: dg.AssetExecutionContext, plan: PeriodPlan, qonto: QontoResource, billing: BillingResource
) -> dg.MaterializeResult:
    connection = qonto.connection()
    context.log.info(connection.describe())
    outcomes = run_async(_ensure(qonto, billing, plan))
    actions = Counter(o.action for o in outcomes)
    return dg.MaterializeResult(
        value={o.customer_id: o.client_id for o in outcomes},
        metadata={
            "qonto": connection.describe(),
            "clients": len(outcomes),
            **{f"clients_{action}": actions.get(action, 0) for action in ("created", "found", "updated", "unchanged")},
            **per_customer_table(
                "client_table",
                (o.model_dump() for o in outcomes),
                ["customer_id", "client_id", "action"],
                file=full_table_file(billing.settings().state_dir, plan.period.key, "qonto_clients", "clients"),
                rank=lambda row: row["action"] != "unchanged",  # what changed in Qonto first
            ),
        },
    )


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    @dg.asset(
        partitions_def=ctx.partitions,
        deps=["qonto_preflight"],  # its blocking check stops the run before the first write
        description=(
            "The Qonto client of every customer billed in the period: linked from the ledger, else found in "
            "Qonto by email (confirmed by SIREN/SIRET or name), else created once. Customer changes are "
            "pushed to Qonto."
        ),
        kinds={"python"},
        pool="qonto_writes",
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def qonto_clients(
        context: dg.AssetExecutionContext, billable_usage: PeriodPlan, qonto: QontoResource, billing: BillingResource
    ) -> dg.MaterializeResult:
        with reported_as_failure(f"Qonto clients of {billable_usage.period}"):
            return _qonto_clients(context, billable_usage, qonto, billing)

    return [qonto_clients]
