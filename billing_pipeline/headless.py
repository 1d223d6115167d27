"""``billing-pipeline bill``: bill one period end to end through Dagster, without the UI.

Same definitions, resources and instance as the UI (``$DAGSTER_HOME``, else ``.dagster_home`` in the
current directory, the folder ``make dev`` uses), so the runs show up in the UI's history.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from billing_pipeline.billing.models import InvalidBillingInput
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import errors_json, plan_period
from billing_pipeline.headless_delivery import (
    deliveries_done,
    delivery_json,
    delivery_moved,
    delivery_pending,
    name_deliveries_not_done,
)
from billing_pipeline.invoicing.ledger import InvoiceState
from billing_pipeline.settings import BillingSettings, qonto_mode, usage_source

POLL_INTERVAL_S = 2.0
# step events at INFO: the run's full DEBUG log stays in the instance for the UI
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _instance() -> Any:
    """``$DAGSTER_HOME``, else ``./.dagster_home`` set up like ``make dev`` does (its config refreshed,
    the writers' pool limit set), so a headless run is monitored like a run of the UI."""
    import dagster as dg

    from billing_pipeline.dev_instance import prepare_dev_home

    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(prepare_dev_home(Path(".dagster_home")))
    return dg.DagsterInstance.get()


def _execute(job_name: str, period: str, instance: Any) -> Any:
    """Run one job of the period in this process, under run monitoring: runs of dead workers (a
    killed earlier ``bill``, a run killed with ``make dev``) are failed and their pool slots given
    back, before and while this run waits for ``qonto_writes``. The run carries this machine's name,
    so the daemon of ``make dev`` or a later ``bill`` can tell if this process dies."""
    from billing_pipeline.definitions import defs
    from billing_pipeline.run_monitoring import monitored, worker_tags

    with monitored(instance):
        return defs.resolve_job_def(job_name).execute_in_process(
            partition_key=period, instance=instance, raise_on_error=False, run_config=RUN_CONFIG, tags=worker_tags()
        )


def _fail_input(output_format: str, problems: list[Any], message: str) -> NoReturn:
    click.echo(message, err=True)
    if output_format == "json":
        click.echo(json.dumps(errors_json(problems)))
    sys.exit(2)


# a delivery that needs a person does not stop the wait for the others: the exit status reports it
_REPORTED_AT_THE_END = {"delivered_invoices.no_delivery_failed_refused_or_unknown"}


def _failed_error_checks(result: Any) -> list[str]:
    import dagster as dg

    failed = [
        f"{e.asset_key.to_user_string()}.{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    return [name for name in failed if name not in _REPORTED_AT_THE_END]


@click.command("bill")
@click.option("--period", required=True, help="Billing period YYYY-MM (a closed month).")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to keep polling until every Factur-X file is stored and verified and every delivery is done.",
)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bill(period: str, wait_s: float, output_format: str) -> None:
    """Bill one period end to end through Dagster, then optionally wait for the Factur-X files."""
    settings = BillingSettings.from_env()
    try:
        billing_period = BillingPeriod.parse(period)
    except ValueError as error:
        _fail_input(output_format, [], f"invalid --period: {error}")
    try:
        plan_period(
            billing_period.key,
            settings.data_dir,
            timezone=settings.timezone,
            bill_customers_without_usage=settings.bill_customers_without_usage,
            usage_source=usage_source(settings),
        )
    except InvalidBillingInput as error:
        _fail_input(output_format, error.problems, f"invalid billing input, nothing sent to Qonto:\n{error}")

    from billing_pipeline.definitions import defs
    from billing_pipeline.defs.partitions import billing_period as partitions

    keys = partitions.get_partition_keys()
    if billing_period.key not in keys:
        span = f"{keys[0]}..{keys[-1]}" if keys else "none yet"
        _fail_input(output_format, [], f"{billing_period.key} is not a closed billing period (periods: {span})")

    instance = _instance()
    first = _execute("bill_period", billing_period.key, instance)
    ok = first.success and not _failed_error_checks(first)
    if not first.success:
        click.echo(f"run {first.run_id} failed; see the Dagster UI for its logs", err=True)
    deadline = time.monotonic() + wait_s
    import dagster as dg

    # resolved like in a run: EnvVar-backed secrets become values only inside this context
    with dg.build_resources({"qonto": defs.resources["qonto"], "billing": defs.resources["billing"]}) as resources:
        ledger = resources.billing.ledger()
        delivering = settings.delivery != "off"
        while ok and time.monotonic() < deadline:
            files_pending = _pending(ledger, billing_period.key)
            if not files_pending and not (delivering and delivery_pending(ledger, billing_period.key)):
                break
            time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))
            if files_pending:
                if not _period_ready(resources.qonto, ledger, billing_period.key):
                    continue
                again = _execute("facturx_collection", billing_period.key, instance)  # collects, then delivers
            elif delivery_moved(resources.qonto, ledger, billing_period.key):
                again = _execute("invoice_delivery", billing_period.key, instance)
            else:
                continue
            ok = again.success and not _failed_error_checks(again)
        records, corrections = _invoices_and_corrections(ledger, billing_period.key)
        deliveries = {d.invoice_id: d for d in ledger.deliveries(billing_period.key)} if delivering else None
    _print_result(billing_period.key, records, output_format, corrections, deliveries)
    _name_customers_not_billed(records)
    if deliveries is not None:
        name_deliveries_not_done(records, deliveries)
    status = _exit_status(ok, records, corrections)
    if deliveries is not None and not deliveries_done(records, deliveries):
        status = 1
    sys.exit(status)


def _invoices_and_corrections(ledger: Any, period: str) -> tuple[list[Any], list[Any]]:
    from billing_pipeline.invoicing.corrections.service import credited_invoice_ids

    credited = credited_invoice_ids(ledger, period)
    # an abandoned row is nothing to bill (the customer left the plan), and an invoice we credited in
    # full is reported with its credit note under "corrections": neither is an invoice of the period
    records = [
        r
        for r in ledger.invoices(period)
        if r.state != InvoiceState.ABANDONED and not (r.state == InvoiceState.CANCELED and r.invoice_id in credited)
    ]
    return records, ledger.corrections(period)


def _name_customers_not_billed(records: list[Any]) -> None:
    """Never report success for a customer who was not billed: name each one on stderr."""
    for record in records:
        if record.state == InvoiceState.CANCELED:
            click.echo(
                f"NOT BILLED: customer {record.customer_id} — invoice {record.number or record.invoice_id} was "
                f"canceled in Qonto (set BILLING_REISSUE_CANCELED=true to issue a new one, or bill by hand)",
                err=True,
            )


def _exit_status(ok: bool, records: list[Any], corrections: Sequence[Any] = ()) -> int:
    from billing_pipeline.invoicing.ledger import CorrectionState

    all_stored = bool(records or corrections) and all(r.state == InvoiceState.STORED for r in records)
    corrections_stored = all(c.state == CorrectionState.STORED for c in corrections)
    return 0 if ok and all_stored and corrections_stored else 1


def _pending(ledger: Any, period: str) -> bool:
    from billing_pipeline.invoicing.ledger import CorrectionState

    return any(r.state == InvoiceState.FINALIZED for r in ledger.invoices(period)) or bool(
        ledger.corrections(period, {CorrectionState.ISSUED})
    )


def _period_ready(qonto: Any, ledger: Any, period: str) -> bool:
    from billing_pipeline.defs.resources import run_async
    from billing_pipeline.invoicing.documents.readiness import pending_by_period, probe_period

    pending = pending_by_period(ledger).get(period)
    if not pending:
        # only credit notes are waiting: let the collection run look (it checks each one's attachment)
        return _pending(ledger, period)

    async def probe() -> bool:
        async with qonto.connection().open() as client:
            return (await probe_period(client, ledger, period, pending)).ready

    return run_async(probe())


def _print_result(
    period: str,
    records: list[Any],
    output_format: str,
    corrections: Sequence[Any] = (),
    deliveries: dict[str, Any] | None = None,
) -> None:
    mode = qonto_mode().value
    rows = [
        {
            "customer_id": r.customer_id,
            "client_id": r.client_id,
            "invoice_id": r.invoice_id,
            "number": r.number,
            "status": r.state.value,
            "total": str(r.total.amount) if r.total else None,
            "file": r.file_path,
            "sha256": r.sha256,
            "delivery": delivery_json(deliveries.get(r.invoice_id or "")) if deliveries is not None else None,
        }
        for r in records
    ]
    correction_rows = [
        {
            "customer_id": c.customer_id,
            "kind": c.kind,
            "qonto_id": c.qonto_id,
            "number": c.number,
            "corrects": c.corrects_number,
            "total": str(c.total.amount) if c.total else None,
            "file": c.file_path,
            "sha256": c.sha256,
        }
        for c in corrections
    ]
    if output_format == "json":
        click.echo(json.dumps({"period": period, "mode": mode, "invoices": rows, "corrections": correction_rows}))
        return
    stored = sum(1 for r in records if r.state == InvoiceState.STORED)
    click.echo(f"period {period} ({mode}): {len(records)} invoice(s), {stored} Factur-X file(s) stored")
    for row in rows:
        delivery = row["delivery"]
        sent = f"  → {delivery['channel']} {delivery['status']}" if delivery else ""
        click.echo(
            f"  {row['customer_id']:<20} {row['number'] or '-':<16} {row['status']:<10} "
            f"{row['total'] or '-':>12}  {row['file'] or ''}{sent}"
        )
    for row in correction_rows:
        click.echo(
            f"  {row['customer_id']:<20} {row['number'] or '-':<16} {'credit':<10} "
            f"{row['total'] or '-':>12}  {row['file'] or ''}  (corrects {row['corrects']})"
        )
