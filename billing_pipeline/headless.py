"""``billing-pipeline bill``: bill one period end to end through Dagster, without the UI.

Same definitions, resources and instance as the UI (``$DAGSTER_HOME``, else ``.dagster_home`` in the
current directory, the folder ``make dev`` uses), so the runs show up in the UI's history.
"""

from __future__ import annotations

import asyncio
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
from billing_pipeline.headless_delivery import delivery_json, name_deliveries_not_done
from billing_pipeline.invoicing.ledger import InvoiceState, Ledger
from billing_pipeline.invoicing.progress import NextJob, decide_period, period_progress, period_report
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


def _execute(defs: Any, job_name: str, period: str, instance: Any) -> Any:
    """Run one job of the period in this process, under run monitoring: runs of dead workers (a
    killed earlier ``bill``, a run killed with ``make dev``) are failed and their pool slots given
    back, before and while this run waits for ``qonto_writes``. The run carries this machine's name,
    so the daemon of ``make dev`` or a later ``bill`` can tell if this process dies."""
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
        plan = plan_period(
            billing_period.key,
            settings.data_dir,
            timezone=settings.timezone,
            bill_customers_without_usage=settings.bill_customers_without_usage,
            usage_source=usage_source(settings),
        )
    except InvalidBillingInput as error:
        _fail_input(output_format, error.problems, f"invalid billing input, nothing sent to Qonto:\n{error}")
    for warning in plan.warnings:  # billed as the input says, but worth a look (stderr: JSON stays clean)
        click.echo(f"warning: {warning}", err=True)

    from billing_pipeline.definitions import build_definitions

    # built once from this command's settings: the same definitions the code location serves
    defs = build_definitions(settings)
    partitions = defs.resolve_job_def("bill_period").partitions_def
    keys = partitions.get_partition_keys() if partitions is not None else []
    if billing_period.key not in keys:
        span = f"{keys[0]}..{keys[-1]}" if keys else "none yet"
        _fail_input(output_format, [], f"{billing_period.key} is not a closed billing period (periods: {span})")

    _refuse_unless_qonto_is_ready(settings, output_format)
    instance = _instance()
    first = _execute(defs, "bill_period", billing_period.key, instance)
    ok = first.success and not _failed_error_checks(first)
    if not first.success:
        click.echo(f"run {first.run_id} failed; see the Dagster UI for its logs", err=True)
    deadline = time.monotonic() + wait_s
    import dagster as dg

    delivering = settings.delivery != "off"
    # resolved like in a run: EnvVar-backed secrets become values only inside this context
    with dg.build_resources({"qonto": defs.resources["qonto"], "billing": defs.resources["billing"]}) as resources:
        ledger = resources.billing.ledger()
        while ok and time.monotonic() < deadline:
            if not period_progress(ledger, billing_period.key, delivering=delivering).waiting:
                break
            time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))
            decision = next_run(resources.qonto, ledger, billing_period.key, delivering=delivering)
            if decision.job is None:
                continue
            again = _execute(defs, decision.job.value, billing_period.key, instance)
            ok = again.success and not _failed_error_checks(again)
        # progress before the rows: a state moving on in between can only make the exit status cautious
        # (1), never print 0 next to a row still pending
        progress = period_progress(ledger, billing_period.key, delivering=delivering)
        report = period_report(ledger, billing_period.key)
    deliveries = report.deliveries if delivering else None
    _print_result(billing_period.key, report.invoices, output_format, report.corrections, deliveries)
    _name_customers_not_billed(report.not_billed)
    if deliveries is not None:
        name_deliveries_not_done(report.invoices, deliveries)
    sys.exit(0 if ok and progress.done else 1)


def _refuse_unless_qonto_is_ready(settings: BillingSettings, output_format: str) -> None:
    """The preflight before the first write: exit 2, naming what to fix in Qonto, when it fails (the
    run's own blocking check would stop it too, but after the run began: this says it up front)."""
    from billing_pipeline.invoicing.connection import QontoConnection
    from billing_pipeline.invoicing.preflight.cli import preflight, report_json

    report = asyncio.run(preflight(QontoConnection.from_settings(settings)))
    for line in report.lines():
        if not line.startswith("ok"):
            click.echo(line, err=True)
    if report.ready:
        return
    click.echo(f"Qonto is {report.summary()}; nothing was written to Qonto", err=True)
    if output_format == "json":
        errors = [{"check": p.name, "reason": p.message, "fix": p.fix} for p in report.problems]
        click.echo(json.dumps({"errors": errors, "preflight": report_json(report, settings.qonto_mode.value)}))
    sys.exit(2)


def next_run(qonto: Any, ledger: Ledger, period: str, *, delivering: bool) -> NextJob:
    """The job the sensors would launch for this period now: their decision (``next_job``), their probes
    (``qonto``: the QontoResource, opened only when a probe is needed). ``bill`` holds no rule of its own."""
    progress = period_progress(ledger, period, delivering=delivering)
    return asyncio.run(decide_period(ledger, progress, qonto.connection().open))


def _name_customers_not_billed(records: list[Any]) -> None:
    """Never report success for a customer who was not billed: name each one on stderr."""
    for record in records:
        click.echo(
            f"NOT BILLED: customer {record.customer_id} — invoice {record.number or record.invoice_id} was "
            f"canceled in Qonto (set BILLING_REISSUE_CANCELED=true to issue a new one, or bill by hand)",
            err=True,
        )


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
