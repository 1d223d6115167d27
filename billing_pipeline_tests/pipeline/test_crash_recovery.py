"""A materialization process SIGKILLed between Qonto calls, or losing a create's response, never
leads to a second invoice: the re-run reconciles with Qonto and the ledger and finishes the period.
Every run here uses the instance configuration of `make dev` (pools: `qonto_writes` limited to 1, run
monitoring), and the re-run uses the same instance as the killed run, whose slot it must get back."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.chaos_harness import SELECTION, start_materialization
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.defs.resources import BillingResource
from billing_pipeline.dev_instance import prepare_dev_home
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS
from billing_pipeline_tests.pipeline.conftest import (
    PipelineWorld,
    dev_instance,
    materialize_monitored,
)

PERIOD = "2026-10"


def start_run(world: PipelineWorld, dagster_home: Path, period: str = PERIOD) -> subprocess.Popen:
    env = {**os.environ, **world.environment(), "DAGSTER_HOME": str(prepare_dev_home(dagster_home))}
    return start_materialization(env, SELECTION, period, stderr=subprocess.PIPE)


def kill_when(process: subprocess.Popen, condition: Callable[[], bool], timeout_s: float = 120) -> bool:
    """SIGKILL the whole process group as soon as ``condition`` holds; False if the run ended first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if condition():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
            return True
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("the kill condition never held")


def _assert_exactly_once(world: PipelineWorld) -> None:
    state = world.emulator.state()
    planned = {i.customer.customer_id for i in plan_period(PERIOD, world.data_dir).invoices}
    headers = Counter(i["header"] for i in state["client_invoices"] if i["status"] != "canceled")
    assert len(headers) == len(planned), "one invoice per planned customer"
    assert set(headers.values()) == {1}, f"duplicates: {[h for h, n in headers.items() if n > 1]}"
    emails = Counter((c.get("email") or "").lower() for c in state["clients"])
    assert len(state["clients"]) == len(planned) or set(emails.values()) == {1}
    assert all(i["status"] == "unpaid" for i in state["client_invoices"])


def _finish(world: PipelineWorld, dagster_home: Path) -> None:
    """Re-run the period on the killed run's instance, the way `bill` runs it (bounded in time)."""
    with dev_instance(dagster_home) as instance:
        result = materialize_monitored(BILLING_ASSETS[:4], PERIOD, world.resources, instance)
    assert result.success


def _invoice_count(world: PipelineWorld) -> int:
    return len(world.emulator.state()["client_invoices"])


@pytest.mark.parametrize(
    "kill_point",
    [
        "after_billable_usage",  # step boundary: the first Qonto call of qonto_clients
        "after_first_client",
        "after_all_clients",  # step boundary: qonto_clients -> draft_invoices
        "after_first_invoice",
        "mid_invoices",
        "after_all_drafts",  # step boundary: draft_invoices -> finalized_invoices
        "after_first_finalize",
    ],
)
def test_killed_run_then_rerun_bills_exactly_once(slow_world: PipelineWorld, tmp_path: Path, kill_point: str) -> None:
    world = slow_world
    planned = len(plan_period(PERIOD, world.data_dir).invoices)
    conditions: dict[str, Callable[[], bool]] = {
        "after_billable_usage": lambda: world.emulator.stats()["api_requests"] >= 1,
        "after_first_client": lambda: len(world.emulator.state()["clients"]) >= 1,
        "after_all_clients": lambda: len(world.emulator.state()["clients"]) >= planned,
        "after_all_drafts": lambda: _invoice_count(world) >= planned,
        "after_first_invoice": lambda: _invoice_count(world) >= 1,
        "mid_invoices": lambda: _invoice_count(world) >= planned // 2,
        "after_first_finalize": lambda: any(i["status"] == "unpaid" for i in world.emulator.state()["client_invoices"]),
    }
    process = start_run(world, tmp_path / "dagster_home")
    killed = kill_when(process, conditions[kill_point])
    assert killed, "the run finished before the kill point: slow the emulator down"
    _finish(world, tmp_path / "dagster_home")
    _assert_exactly_once(world)


def test_lost_create_responses_are_adopted_not_repeated(world: PipelineWorld, tmp_path: Path) -> None:
    # the emulator commits these creates, then drops the connection before answering
    world.emulator.queue_fault("lost_response", "POST", r"^/v2/client_invoices$", count=3)
    world.emulator.queue_fault("lost_response", "POST", r"^/v2/clients$", count=2)
    world.emulator.queue_fault("lost_response", "POST", r"^/v2/client_invoices/[^/]+/finalize$", count=2)
    _finish(world, tmp_path / "dagster_home")
    _assert_exactly_once(world)


def test_two_concurrent_runs_of_the_same_period_bill_once(world: PipelineWorld, tmp_path: Path) -> None:
    # one instance, like the UI and a backfill: the pool and the period lock serialize the writers
    first = start_run(world, tmp_path / "dagster_home")
    second = start_run(world, tmp_path / "dagster_home")
    for process in (first, second):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()[-3000:]
    _assert_exactly_once(world)


def test_a_create_still_in_flight_when_the_run_dies_is_waited_for_not_repeated(
    world: PipelineWorld, tmp_path: Path
) -> None:
    """Qonto is slow on one create; the run is killed while that create is still being processed.
    The re-run must not conclude "absent" from a listing taken before the create lands."""
    planned = len(plan_period(PERIOD, world.data_dir).invoices)
    # the emulator reads the request, waits 5 s, then writes the invoice (like a slow Qonto)
    world.emulator.queue_fault("latency", "POST", r"^/v2/client_invoices$", count=1, ms=5000)
    process = start_run(world, tmp_path / "dagster_home")
    assert kill_when(process, lambda: _invoice_count(world) >= planned - 1), "run ended before the kill"
    killed_at = time.monotonic()
    assert _invoice_count(world) == planned - 1  # the slow create has not landed yet
    patient = BillingResource(
        data_dir=str(world.data_dir),
        invoices_dir=str(world.invoices_dir),
        state_dir=str(world.state_dir),
        in_flight_grace_s=8,
    )
    with dev_instance(tmp_path / "dagster_home") as instance:
        rerun = materialize_monitored(BILLING_ASSETS[:4], PERIOD, {"qonto": world.qonto, "billing": patient}, instance)
    assert rerun.success
    time.sleep(max(0.0, killed_at + 6 - time.monotonic()))  # judge only once the slow create has landed
    _assert_exactly_once(world)
