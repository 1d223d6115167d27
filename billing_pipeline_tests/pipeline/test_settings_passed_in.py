"""Definitions are built from the settings passed in, never from the environment at import: two code
locations with different settings live side by side in one process, and the code location's entry
point reads the environment when Dagster loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from billing_pipeline.definitions import build_definitions, code_location
from billing_pipeline.defs.jobs import build_jobs
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.defs.stages import STAGES
from billing_pipeline.settings import BillingSettings

PARIS = BillingSettings(first_period="2025-01", timezone="Europe/Paris")
NEW_YORK = BillingSettings(
    first_period="2026-03",
    timezone="America/New_York",
    auto_finalize=False,
    corrections="review",
    schedule_day_of_month=5,
    schedule_hour=7,
)


UP_TO_DRAFTS = {"billable_usage", "qonto_preflight", "qonto_clients", "draft_invoices"}

def _selected(defs: dg.Definitions, job: str) -> set[str]:
    return {key.to_user_string() for key in defs.resolve_job_def(job).asset_layer.executable_asset_keys}


def _partitions(defs: dg.Definitions, asset: str) -> dg.TimeWindowPartitionsDefinition:
    partitions = defs.resolve_assets_def(asset).partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    return partitions


def test_two_definitions_with_different_settings_in_one_process() -> None:
    paris, new_york = build_definitions(PARIS), build_definitions(NEW_YORK)
    # built second, New York changed nothing of Paris: no module-level state shapes either
    for defs, settings in ((paris, PARIS), (new_york, NEW_YORK)):
        dg.Definitions.validate_loadable(defs)
        for asset in ("billable_usage", "finalized_invoices", "facturx_files", "delivered_invoices"):
            partitions = _partitions(defs, asset)
            assert partitions.timezone == settings.timezone
            assert partitions.start.strftime("%Y-%m") == settings.first_period
        assert defs.resolve_assets_def("payments").partitions_def is None

    assert _selected(paris, "monthly_invoicing") == {
        *UP_TO_DRAFTS, "finalized_invoices", "invoice_corrections"
    }  # fmt: skip
    # BILLING_AUTO_FINALIZE=false: drafts wait for a person; BILLING_CORRECTIONS=review: never in a job
    assert _selected(new_york, "monthly_invoicing") == UP_TO_DRAFTS
    assert "invoice_corrections" in _selected(paris, "bill_period")
    assert _selected(new_york, "bill_period") == {
        *UP_TO_DRAFTS, "finalized_invoices", "facturx_files",
        "delivered_invoices",
    }  # fmt: skip
    for defs in (paris, new_york):
        assert _selected(defs, "facturx_collection") == {"facturx_files", "delivered_invoices"}
        assert _selected(defs, "invoice_delivery") == {"delivered_invoices"}
        assert _selected(defs, "payment_matching") == {"payments", "receivables"}

    paris_schedule = paris.resolve_schedule_def("monthly_invoicing_schedule")
    new_york_schedule = new_york.resolve_schedule_def("monthly_invoicing_schedule")
    assert (paris_schedule.cron_schedule, paris_schedule.execution_timezone) == ("0 6 3 * *", "Europe/Paris")
    assert (new_york_schedule.cron_schedule, new_york_schedule.execution_timezone) == ("0 7 5 * *", "America/New_York")
    assert new_york.resolve_schedule_def("payment_matching_schedule").execution_timezone == "America/New_York"
    # a tick at a fixed instant (not today) bills the month that closed in each time zone
    at = datetime(2027, 1, 5, 7, tzinfo=ZoneInfo("America/New_York"))
    tick = dg.build_schedule_context(scheduled_execution_time=at)
    [request] = new_york_schedule.evaluate_tick(tick).run_requests
    assert request.partition_key == "2026-12"


def test_the_code_location_reads_the_environment_when_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_AUTO_FINALIZE", "false")
    monkeypatch.setenv("BILLING_SCHEDULE_DAY", "5")
    monkeypatch.setenv("BILLING_SCHEDULE_HOUR", "7")
    monkeypatch.setenv("BILLING_TIMEZONE", "America/New_York")
    loaded = code_location()
    assert _selected(loaded, "monthly_invoicing") == UP_TO_DRAFTS
    assert loaded.resolve_schedule_def("monthly_invoicing_schedule").cron_schedule == "0 7 5 * *"
    assert _partitions(loaded, "billable_usage").timezone == "America/New_York"
    monkeypatch.setenv("BILLING_CORRECTIONS", "review")
    monkeypatch.delenv("BILLING_AUTO_FINALIZE")
    reloaded = code_location()  # each load reads the environment of that moment
    assert "finalized_invoices" in _selected(reloaded, "monthly_invoicing")
    for job in ("monthly_invoicing", "bill_period"):
        assert "invoice_corrections" not in _selected(reloaded, job)


def test_importing_the_package_reads_no_setting() -> None:
    # an environment that cannot be read: importing every module must still work; only loading fails
    probe = (
        "import importlib, pkgutil, billing_pipeline.defs as d\n"
        "for m in pkgutil.walk_packages(d.__path__, 'billing_pipeline.defs.'): importlib.import_module(m.name)\n"
        "import billing_pipeline.definitions as location\n"
        "try:\n    location.code_location()\n"
        "except Exception as error:\n    print('load failed:', type(error).__name__)\n"
    )
    env = {**os.environ, "BILLING_TIMEZONE": "Mars/Olympus"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "load failed: ZoneInfoNotFoundError"


def test_a_stage_added_upstream_joins_the_billing_jobs_without_editing_them() -> None:
    ctx = StageContext.from_settings(BillingSettings())

    @dg.asset(partitions_def=ctx.partitions)
    def preflight() -> None:
        """A stage added upstream of the clients (the efficiency issue's preflight)."""

    # what adding it changes elsewhere: the dependency of the asset it feeds (here a stand-in)
    @dg.asset(partitions_def=ctx.partitions, name="qonto_clients", deps=["billable_usage", "preflight"])
    def gated_clients() -> None: ...

    stages = [stage.build_defs(ctx) for stage in STAGES]
    others = [d for d in stages if "qonto_clients" not in {a.key.to_user_string() for a in d.assets or []}]
    assert len(others) == len(stages) - 1
    resources = {"qonto": QontoResource(), "billing": BillingResource()}
    defs = dg.Definitions.merge(
        *others, dg.Definitions(assets=[preflight, gated_clients], resources=resources), build_jobs(ctx)
    )
    for job in ("monthly_invoicing", "bill_period"):
        assert {"preflight", "qonto_clients", "draft_invoices"} <= _selected(defs, job)
    for job in ("facturx_collection", "invoice_delivery", "payment_matching"):
        assert "preflight" not in _selected(defs, job)
