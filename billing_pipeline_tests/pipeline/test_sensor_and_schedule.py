"""The attachment sensor's ticks (skip reasons, run keys, cursor) and the monthly schedule."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from billing_pipeline.definitions import code_location
from billing_pipeline.defs.documents.sensor import facturx_attachment_sensor
from billing_pipeline.emulator.testing import running_emulator
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, DEFS, facturx_files
from billing_pipeline_tests.pipeline.conftest import PipelineWorld, world_on

PARIS = ZoneInfo("Europe/Paris")


def _tick(world: PipelineWorld, instance: dg.DagsterInstance, cursor: str | None = None):
    with dg.build_sensor_context(instance=instance, resources=world.resources, cursor=cursor) as context:
        return facturx_attachment_sensor(context), context


# long enough that no invoice of the period is rendered by the first tick after finalizing (the
# sensor requests a collection as soon as *any* pending invoice is ready)
SLOW_RENDER_S = 4.0


@pytest.fixture
def slow_render_world(tmp_path: Path) -> Iterator[PipelineWorld]:
    with running_emulator(render_delay_s=SLOW_RENDER_S, state_path=tmp_path / "emulator.sqlite") as emulator:
        yield world_on(emulator, tmp_path)


def test_sensor_waits_for_rendering_then_requests_one_run_per_period(
    slow_render_world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    world = slow_render_world
    result, _ = _tick(world, instance)
    assert isinstance(result, dg.SkipReason)
    assert "no finalized invoice" in result.skip_message

    assert dg.materialize(
        BILLING_ASSETS[:4], partition_key="2026-10", resources=world.resources, instance=instance
    ).success
    pending = len(world.billing.ledger().invoices("2026-10"))
    # the emulator renders Factur-X SLOW_RENDER_S after finalize: right now it is still the draft PDF
    result, _ = _tick(world, instance)
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    assert f"2026-10 ({pending} waiting, oldest " in result.skip_reason.skip_message
    assert "still rendering" in result.skip_reason.skip_message

    time.sleep(SLOW_RENDER_S + 0.3)
    result, _ = _tick(world, instance, cursor=result.cursor)
    assert [r.partition_key for r in result.run_requests] == ["2026-10"]
    run_key = result.run_requests[0].run_key
    assert run_key.startswith("facturx:2026-10:")
    assert json.loads(result.cursor) == {"2026-10": run_key}

    # next tick, same pending set: no new probe, no new request
    calls_before = world.emulator.stats()["api_requests"]
    again, _ = _tick(world, instance, cursor=result.cursor)
    assert not again.run_requests
    assert "collection already requested: ['2026-10']" in again.skip_reason.skip_message
    assert world.emulator.stats()["api_requests"] == calls_before

    # the requested run stores every file; then the sensor has nothing left to do
    assert dg.materialize(
        [facturx_files], partition_key="2026-10", resources=world.resources, instance=instance
    ).success
    done, _ = _tick(world, instance, cursor=result.cursor)
    assert isinstance(done, dg.SkipReason)
    assert "no finalized invoice" in done.skip_message


def test_schedule_bills_the_month_that_just_closed_after_the_grace_days() -> None:
    schedule = DEFS.resolve_schedule_def("monthly_invoicing_schedule")
    assert schedule.cron_schedule == "0 6 3 * *"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 3, 6, tzinfo=PARIS))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-10"
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2027, 1, 3, 6, tzinfo=PARIS))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-12"


def test_monthly_job_targets_the_invoicing_steps_and_the_corrections() -> None:
    job = DEFS.resolve_job_def("monthly_invoicing")
    selected = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    # BILLING_CORRECTIONS=auto (default): a re-run of a finalized period issues its corrections
    assert selected == {
        "billable_usage", "qonto_preflight", "qonto_clients", "draft_invoices", "finalized_invoices",
        "invoice_corrections",
    }  # fmt: skip


def test_review_mode_leaves_finalization_out_of_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    # the code location's entry point, as Dagster loads it, with the environment of `make dev`
    monkeypatch.setenv("BILLING_AUTO_FINALIZE", "false")
    monkeypatch.setenv("BILLING_SCHEDULE_DAY", "5")
    monkeypatch.setenv("BILLING_SCHEDULE_HOUR", "7")
    loaded = code_location()
    job = loaded.resolve_job_def("monthly_invoicing")
    schedule = loaded.resolve_schedule_def("monthly_invoicing_schedule")
    assert sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys) == [
        "billable_usage", "draft_invoices", "qonto_clients", "qonto_preflight"
    ]  # fmt: skip
    assert schedule.cron_schedule == "0 7 5 * *"


def test_review_corrections_leave_invoice_corrections_out_of_every_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_CORRECTIONS", "review")
    loaded = code_location()
    jobs = {
        name: {k.to_user_string() for k in loaded.resolve_job_def(name).asset_layer.executable_asset_keys}
        for name in ("monthly_invoicing", "bill_period")
    }
    assert all("invoice_corrections" not in assets for assets in jobs.values())
    assert "finalized_invoices" in jobs["bill_period"] and "facturx_files" in jobs["bill_period"]
