"""``billing-pipeline check``: the preflight, printed. Exit 0 ready, 1 not ready (each problem named)."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from billing_pipeline.invoicing.connection import QontoConnection
from billing_pipeline.invoicing.preflight.check import PreflightReport, run_preflight
from billing_pipeline.settings import BillingSettings


async def preflight(connection: QontoConnection) -> PreflightReport:
    async with connection.open() as qonto:
        return await run_preflight(qonto)


def report_json(report: PreflightReport, mode: str) -> dict[str, object]:
    return {
        "ready": report.ready,
        "mode": mode,
        "problems": [p.model_dump() for p in report.problems],
        "warnings": [w.model_dump() for w in report.warnings],
        "confirmed": list(report.confirmed),
    }


@click.command("check")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(output_format: str) -> None:
    """Is Qonto ready to bill? Scopes, e-invoicing, receiving account, seller SIREN (nothing is written)."""
    settings = BillingSettings.from_env()
    connection = QontoConnection.from_settings(settings)
    report = asyncio.run(preflight(connection))
    if output_format == "json":
        click.echo(json.dumps(report_json(report, settings.qonto_mode.value)))
    else:
        click.echo(f"{connection.describe()}: {report.summary()}")
        for line in report.lines():
            click.echo(f"  {line}")
    sys.exit(0 if report.ready else 1)
