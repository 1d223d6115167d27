"""``billing-pipeline preview`` and ``billing-pipeline demo-data``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from billing_pipeline.billing.demo import write_demo_data
from billing_pipeline.billing.models import InputProblem, InvalidBillingInput
from billing_pipeline.billing.periods import BillingPeriod, InvalidPeriod, time_zone
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.billing.preview import errors_json, render_table, to_preview_json

INVALID_INPUT_EXIT = 2
COMMAND_LINE = "command line"


def _argument_problems(period: str, timezone: str) -> list[InputProblem]:
    problems = []
    try:
        BillingPeriod.parse(period)
    except InvalidPeriod as error:
        problems.append(InputProblem(file=COMMAND_LINE, field="--period", value=period, reason=str(error)))
    try:
        time_zone(timezone)
    except ValueError as error:
        problems.append(InputProblem(file=COMMAND_LINE, field="--timezone", value=timezone, reason=str(error)))
    return problems


@click.command()
@click.option("--period", required=True, help="Billing period, YYYY-MM.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="BILLING_DATA_DIR",
    default="data",
    show_default=True,
    help="Input root: customers.csv, price_list.yaml, usage/ (env BILLING_DATA_DIR).",
)
@click.option(
    "--timezone",
    envvar="BILLING_TIMEZONE",
    default="Europe/Paris",
    show_default=True,
    help="Billing time zone: events belong to the month of their local time (env BILLING_TIMEZONE).",
)
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
def preview(period: str, data_dir: Path, timezone: str, output_format: str) -> None:
    """Price one billing period (dry run, no Qonto call). Exit 2 on invalid input."""
    problems = _argument_problems(period, timezone)
    if not problems:
        # the same usage source and rules as ``bill`` and the pipeline (BILLING_USAGE_URL,
        # BILLING_BILL_WITHOUT_USAGE): a dry run that read other usage would not be a dry run
        from billing_pipeline.settings import BillingSettings, usage_source

        try:
            settings = BillingSettings.from_env()
        except ValueError as error:
            problems = [InputProblem(file="environment", reason=str(error))]
        else:
            try:
                plan = plan_period(
                    period,
                    data_dir,
                    timezone=timezone,
                    bill_customers_without_usage=settings.bill_customers_without_usage,
                    usage_source=usage_source(settings),
                )
            except InvalidBillingInput as error:
                problems = error.problems
    if problems:
        click.echo(f"Invalid billing input, nothing priced ({len(problems)} problems):", err=True)
        for problem in problems:
            click.echo(f"  {problem.describe()}", err=True)
        if output_format == "json":
            click.echo(json.dumps(errors_json(problems), indent=2, ensure_ascii=False))
        raise SystemExit(INVALID_INPUT_EXIT)
    if output_format == "json":
        click.echo(json.dumps(to_preview_json(plan), indent=2, ensure_ascii=False))
    else:
        click.echo(render_table(plan))


@click.command("demo-data")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="Folder to write.")
@click.option("--customers", type=click.IntRange(min=1), required=True, help="Number of customers.")
@click.option("--events", type=click.IntRange(min=0), required=True, help="Number of usage rows.")
@click.option("--period", required=True, help="Billing period of the events, YYYY-MM.")
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same files.")
@click.option("--format", "file_format", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--timezone", envvar="BILLING_TIMEZONE", default="Europe/Paris", show_default=True)
def demo_data(out: Path, customers: int, events: int, period: str, seed: int, file_format: str, timezone: str) -> None:
    """Generate a large deterministic synthetic data set (customers, price list, usage)."""
    problems = _argument_problems(period, timezone)
    if problems:
        raise click.BadParameter("; ".join(problem.reason for problem in problems))
    demo = write_demo_data(
        out,
        customers=customers,
        events=events,
        period=period,
        seed=seed,
        file_format=file_format,  # type: ignore[arg-type]
        timezone=timezone,
    )
    usage = demo.usage_files[0] if len(demo.usage_files) == 1 else f"{len(demo.usage_files)} files in {out / 'usage'}"
    click.echo(
        f"Wrote {demo.customers_file}, {demo.price_list_file} and {usage} "
        f"({demo.events} events, of which {demo.duplicates} repeated)."
    )
    click.echo(f"Price it with: billing-pipeline preview --data-dir {out} --period {period}")
