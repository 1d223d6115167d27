"""``billing-pipeline delivery``: see deliveries, and resolve those only a person can decide."""

from __future__ import annotations

import getpass
import json
import sys

import click

from billing_pipeline.invoicing.delivery.service import NotResolvable, resolve_delivery
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.progress import delivery_facts, period_progress
from billing_pipeline.settings import BillingSettings


def _ledger(settings: BillingSettings | None = None) -> Ledger:
    settings = settings or BillingSettings.from_env()
    return Ledger(settings.resolved_ledger_url, lock_dir=settings.state_dir / "locks")


@click.group("delivery")
def delivery() -> None:
    """Deliveries of invoices to customers (e-invoicing network or email)."""


@delivery.command("status")
@click.option("--period", default=None, help="Only this billing period (YYYY-MM).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(period: str | None, output_format: str) -> None:
    """Every delivery recorded in the ledger, with its channel, status and last lifecycle event."""
    settings = BillingSettings.from_env()
    ledger = _ledger(settings)
    records = delivery_facts(ledger, period)
    if output_format == "json":
        click.echo(json.dumps([r.model_dump(mode="json") for r in records]))
        return
    for r in records:
        last = r.events[-1] if r.events else None
        event = f"{last['status_code']} {last.get('label') or ''} {last.get('timestamp') or ''}" if last else ""
        click.echo(
            f"{r.period}  {r.customer_id:<20} {r.number or '-':<16} {r.channel.value:<8} {r.state.value:<10} "
            f"{event}  {r.last_error or ''}"
        )
    if period is not None:
        # the period's totals, from the read model bill and the sensors decide on (a few grouped counts)
        click.echo(period_progress(ledger, period, delivering=settings.delivery != "off").summary())


@delivery.command("resolve")
@click.option("--invoice", "number", required=True, help="The invoice number (e.g. F-2026-00012).")
@click.option("--sent", "left", flag_value=True, default=None, help="It reached the customer: record it as sent.")
@click.option("--resend", "left", flag_value=False, help="It did not: the next delivery run sends it again.")
def resolve(number: str, left: bool | None) -> None:
    """Settle a delivery whose outcome is unknown (or that failed): only a person can tell."""
    if left is None:
        raise click.UsageError("say --sent or --resend")
    try:
        resolve_delivery(_ledger(), number, left=left, by=getpass.getuser())
    except NotResolvable as refused:
        click.echo(str(refused), err=True)
        sys.exit(2)
    click.echo(f"invoice {number}: " + ("recorded as sent" if left else "will be sent again by the next delivery run"))
