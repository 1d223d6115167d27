"""A run killed inside a Qonto-writing step (it holds the `qonto_writes` slot) never blocks the next
run, on the instance configuration of `make dev` (deploy/dagster.dev.yaml, `qonto_writes` set to 1):

- headless: a SIGKILLed `billing-pipeline bill` without DAGSTER_HOME, then the next `bill`;
- the daemon of `make dev`: Dagster's run monitoring (the MONITORING daemon's own iteration, fast),
  and a real `dagster dev` whose run worker, or whole process tree (a reboot), is SIGKILLed (slow).

Every wait is bounded: a regression fails in minutes instead of hanging."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._daemon.daemon import MonitoringDaemon

from benchmarks.chaos_harness import start_bill, wait_or_kill
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.dev_instance import WRITER_POOL, prepare_dev_home
from billing_pipeline.run_monitoring import _worker_pid
from billing_pipeline_tests.pipeline.conftest import REPO, PipelineWorld, dev_instance
from billing_pipeline_tests.pipeline.test_crash_recovery import PERIOD, kill_when, start_run
from billing_pipeline_tests.ui.dagster_dev import DagsterDev

WRITING_STEPS = {"qonto_clients", "draft_invoices", "finalized_invoices"}
INVOICING = ["billable_usage", "qonto_clients", "draft_invoices", "finalized_invoices"]
RUN_TIMEOUT_S = 240
NOT_INHERITED = ("QONTO_", "BILLING_", "DAGSTER_HOME")


def _environment(world: PipelineWorld) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    return {**inherited, **world.environment()}


def _inside_a_writing_step(world: PipelineWorld) -> bool:
    return len(world.emulator.state()["clients"]) >= 1  # qonto_clients has created a client


def _holder_of_the_writers_slot(instance: dg.DagsterInstance) -> dg.DagsterRun:
    """The run holding `qonto_writes` after the kill: still STARTED, in a writing step."""
    info = instance.event_log_storage.get_concurrency_info(WRITER_POOL)
    assert info.slot_count == 1, "the instance of `make dev` limits the writers to one slot"
    [claimed] = info.claimed_slots
    assert claimed.step_key in WRITING_STEPS
    run = instance.get_run_by_id(claimed.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.STARTED
    return run


def _assert_billed_once(world: PipelineWorld) -> None:
    planned = {f"BP-{PERIOD}-{i.customer.customer_id}" for i in plan_period(PERIOD, world.data_dir).invoices}
    headers = [i["header"] or "" for i in world.live_invoices()]
    assert len(headers) == len(planned), f"{len(headers)} live invoices for {len(planned)} customers"
    assert all(sum(reference in h for h in headers) == 1 for reference in planned), headers


def test_a_killed_bill_without_dagster_home_does_not_block_the_next_bill(
    slow_world: PipelineWorld, tmp_path: Path
) -> None:
    world = slow_world
    workdir = tmp_path / "cron"
    workdir.mkdir()
    env = _environment(world)
    killed = start_bill(env, PERIOD, cwd=workdir)
    assert kill_when(killed, lambda: _inside_a_writing_step(world)), "bill ended before the kill"

    with dev_instance(workdir / ".dagster_home") as instance:  # where bill put its instance
        dead = _holder_of_the_writers_slot(instance)

    output = tmp_path / "bill.json"
    with output.open("wb") as stdout, (tmp_path / "bill.log").open("wb") as stderr:
        status = wait_or_kill(start_bill(env, PERIOD, wait_s=60, cwd=workdir, stdout=stdout, stderr=stderr),
                              RUN_TIMEOUT_S)  # fmt: skip
    log = (tmp_path / "bill.log").read_text(errors="replace")[-3000:]
    assert status is not None, f"the second bill was still blocked after {RUN_TIMEOUT_S} s\n{log}"
    assert status == 0, log
    report = json.loads(output.read_text())
    assert report["invoices"] and all(i["status"] == "stored" for i in report["invoices"])
    _assert_billed_once(world)
    with dev_instance(workdir / ".dagster_home") as instance:
        run = instance.get_run_by_id(dead.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        assert dead.run_id not in instance.event_log_storage.get_concurrency_run_ids()


class _DaemonContext:
    """What the MONITORING daemon's iteration reads from its workspace process context."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance

    def create_request_context(self) -> None:  # only needed to resume runs (not configured)
        return None


def test_run_monitoring_of_make_dev_fails_a_killed_run_and_frees_its_slot(
    slow_world: PipelineWorld, tmp_path: Path
) -> None:
    """The same Dagster mechanism as the daemon of `make dev`: the MONITORING daemon's iteration on
    the dev instance (its run launcher's worker health check, then free_slots_after_run_end_seconds)."""
    world = slow_world
    home = tmp_path / "dagster_home"
    killed = start_run(world, home)
    assert kill_when(killed, lambda: _inside_a_writing_step(world)), "the run ended before the kill"

    with dev_instance(home) as instance:
        dead = _holder_of_the_writers_slot(instance)
        daemon = MonitoringDaemon(interval_seconds=instance.run_monitoring_poll_interval_seconds)
        deadline = time.monotonic() + 60
        while dead.run_id in instance.event_log_storage.get_concurrency_run_ids():
            assert time.monotonic() < deadline, "run monitoring never gave the dead run's slot back"
            for _ in daemon.run_iteration(_DaemonContext(instance)):  # type: ignore[arg-type]
                pass
            time.sleep(1)
        run = instance.get_run_by_id(dead.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE

    # the next run is an ordinary one (no recovery of its own): it must not wait for the dead run
    following = start_run(world, home)
    status = wait_or_kill(following, RUN_TIMEOUT_S)
    assert status == 0, f"the following run ended {status} (None: still blocked after {RUN_TIMEOUT_S} s)"
    _assert_billed_once(world)


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["run_worker", "whole_dagster_dev"])
def test_under_dagster_dev_a_killed_run_never_blocks_the_next_one(
    slow_world: PipelineWorld, tmp_path: Path, kill: str
) -> None:
    """`make dev` for real: DAGSTER_HOME prepared like the Makefile, `dagster dev -w workspace.yaml`.
    Kill the run worker (OOM kill), or the whole `dagster dev` (reboot) and start it again."""
    world = slow_world
    home = prepare_dev_home(tmp_path / "dagster_home")
    env = {**_environment(world), "DAGSTER_HOME": str(home)}
    log_file = tmp_path / "dagster-dev.log"
    dev = DagsterDev(REPO / "workspace.yaml", env, cwd=tmp_path, log_file=log_file)
    with dev:
        dev.wait_until_loaded("billing_pipeline")
        first = dev.launch_assets("billing_pipeline", INVOICING, PERIOD)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not _inside_a_writing_step(world):
            assert time.monotonic() < deadline, f"the first run never reached qonto_clients\n{dev.log_tail()}"
            time.sleep(0.05)
        with dev_instance(home) as instance:
            found = _worker_pid(instance, first)
        assert found is not None
        if kill == "run_worker":
            os.kill(found[0], signal.SIGKILL)
        else:
            os.killpg(dev._process.pid, signal.SIGKILL)  # type: ignore[union-attr]
            dev._process.wait(30)  # type: ignore[union-attr]
            try:
                os.kill(found[0], signal.SIGKILL)  # a reboot leaves no worker behind
            except ProcessLookupError:
                pass
            with dev_instance(home) as instance:
                assert _holder_of_the_writers_slot(instance).run_id == first
            dev = DagsterDev(REPO / "workspace.yaml", env, cwd=tmp_path, log_file=tmp_path / "dagster-dev-2.log")
            dev.__enter__()
            dev.wait_until_loaded("billing_pipeline")
        try:
            second = dev.launch_assets("billing_pipeline", INVOICING, PERIOD)
            status = dev.wait_for_run(second, timeout_s=RUN_TIMEOUT_S)
            assert status == "SUCCESS", f"{status}\n{dev.log_tail()}"
            assert dev.wait_for_run(first, timeout_s=60) == "FAILURE"
        finally:
            dev.stop()
    _assert_billed_once(world)


@pytest.mark.parametrize("config", ["dagster.dev.yaml", "dagster.production.yaml"])
def test_dev_and_production_instances_monitor_run_workers_and_free_dead_runs_slots(config: str) -> None:
    """Both instance configurations give Dagster's run monitoring a worker health check and free the
    pool slots of runs that ended (the production one is exercised on PostgreSQL by `make test-postgres`)."""
    import yaml

    settings = yaml.safe_load((REPO / "deploy" / config).read_text())
    assert settings["run_launcher"] == {"module": "billing_pipeline.run_monitoring", "class": "LocalRunLauncher"}
    monitoring = settings["run_monitoring"]
    assert monitoring["enabled"] is True and monitoring["max_resume_run_attempts"] == 0
    assert 0 < monitoring["free_slots_after_run_end_seconds"] <= 300
    assert settings["concurrency"]["pools"]["default_limit"] == 1
