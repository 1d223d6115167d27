"""``billing-pipeline payments``: one payment-matching pass through Dagster, without the UI.

Same definitions, resources and instance as ``bill`` (``$DAGSTER_HOME``, else ``.dagster_home``), under
the same run monitoring, so the run shows up in the UI's history. Prints what the pass did.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

JOB = "payment_matching"


def _run(instance: Any) -> Any:
    from billing_pipeline.definitions import build_definitions
    from billing_pipeline.headless import RUN_CONFIG
    from billing_pipeline.run_monitoring import monitored, worker_tags
    from billing_pipeline.settings import BillingSettings

    defs = build_definitions(BillingSettings.from_env())
    with monitored(instance):
        return defs.resolve_job_def(JOB).execute_in_process(
            instance=instance, raise_on_error=False, run_config=RUN_CONFIG, tags=worker_tags()
        )


@click.command("payments")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def payments(output_format: str) -> None:
    """Match new credit transfers to open invoices and mark fully paid invoices paid (one pass)."""
    from billing_pipeline.headless import _instance
    from billing_pipeline.invoicing.payments.service import PaymentReport

    result = _run(_instance())
    if not result.success:
        click.echo(f"run {result.run_id} failed; see the Dagster UI for its logs", err=True)
        sys.exit(1)
    report: PaymentReport = result.output_for_node("payments")
    if output_format == "json":
        click.echo(json.dumps(report.contract_json()))
        return
    click.echo(
        f"{report.seen} credit transaction(s) listed: {len(report.matched)} matched, "
        f"{len(report.unmatched)} unmatched, {len(report.partial)} partial, {len(report.overpaid)} overpaid"
    )
    for row in report.matched:
        payer = f"  paid by a third party: {row.paid_by_third_party}" if row.paid_by_third_party else ""
        click.echo(f"  matched    {row.transaction_id}  {row.amount:>12}  {', '.join(row.invoice_numbers)}{payer}")
    for partial in report.partial:
        click.echo(f"  partial    {partial.invoice_number}  paid {partial.paid}, remaining {partial.remaining}")
    for over in report.overpaid:
        click.echo(f"  overpaid   {over.invoice_number}  excess {over.excess}")
    for un in report.unmatched:
        click.echo(f"  unmatched  {un.transaction_id}  {un.amount:>12}  {un.reason}")
    for marked in report.marked:
        click.echo(f"  marked     {marked.invoice_number}  paid_at {marked.paid_at} ({marked.state})")
