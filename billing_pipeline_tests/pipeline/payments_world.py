"""A billed world for the payment tests: a few invoices finalized in the emulator, bank transfers on
its main account, and the clock moved forward so that settlement dates differ from today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from billing_pipeline_tests.defs_for_tests import PAYMENT_ASSETS
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.small_world import (
    Company,
    Person,
    failure_text,
    materialize,
    write_customers,
    write_usage,
)

PARIS = ZoneInfo("Europe/Paris")
COMPANIES = {
    "alpha": Company("alpha", name="Alpha Conseil SAS", email="compta@alpha.example.fr", siren="253600605"),
    "beta": Company("beta", name="Beta Logistique SARL", email="compta@beta.example.fr", siren="493375109"),
    "gamma": Company("gamma", name="Gamma Studio SAS", email="compta@gamma.example.fr", siren="796061109"),
}
CLOCK_AHEAD_S = 3 * 24 * 3600  # the emulator's "today" is three days after the invoices' issue date


def bill(world: PipelineWorld, instance: dg.DagsterInstance, minutes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Finalize one invoice per customer of ``minutes``; their Qonto objects by customer."""
    write_customers(world, [COMPANIES[c] for c in minutes])
    write_usage(world, minutes)
    result = materialize(world, instance)
    assert result.success, failure_text(result)
    world.emulator.advance_clock(CLOCK_AHEAD_S)
    person = Person(world)
    try:
        return {customer: person.invoice_of(customer) for customer in minutes}
    finally:
        person.close()


def total(invoice: dict[str, Any]) -> Decimal:
    return Decimal(invoice["total_amount"]["value"])


def settled_days_ago(world: PipelineWorld, days: float) -> str:
    """An instant ``days`` before the emulator's now (still after the issue date)."""
    now = datetime.fromisoformat(world.emulator.state()["now"].replace("Z", "+00:00"))
    return (now - timedelta(days=days)).astimezone(UTC).isoformat()


def paris_day(instant: str) -> date:
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(PARIS).date()


def run_payments(world: PipelineWorld, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = dg.materialize(PAYMENT_ASSETS, resources=world.resources, instance=instance, raise_on_error=False)
    assert result.success, failure_text(result)
    return result


def invoices_by_id(world: PipelineWorld) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in world.emulator.state()["client_invoices"]}
