"""The preflight as users meet it: `bill` refuses before any write (exit 2, the problem named), the
Dagster run's blocking check stops the period before its first client, and `check` prints it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline_tests.defs_for_tests import (
    billable_usage,
    draft_invoices,
    finalized_invoices,
    qonto_clients,
    qonto_preflight,
)
from billing_pipeline_tests.pipeline.conftest import copy_sample_data, world_on

PERIOD = "2026-10"

QONTO_VARIABLES = ("QONTO_API_KEY", "QONTO_OAUTH_REFRESH_TOKEN", "QONTO_BASE_URL", "QONTO_STAGING_TOKEN")
WITHOUT_CLIENT_WRITE = (
    "organization.read,client.read,client_invoices.read,client_invoice.write,attachment.read,einvoicing.read"
)


def _command(workdir: Path, emulator: RunningEmulator, *args: str) -> subprocess.CompletedProcess[str]:
    """``billing-pipeline`` on a Qonto server (``emulator serve`` standing in for Qonto), no DAGSTER_HOME."""
    env = {k: v for k, v in os.environ.items() if k not in QONTO_VARIABLES and not k.startswith("BILLING_")}
    env.pop("DAGSTER_HOME", None)
    env.update(QONTO_BASE_URL=emulator.base_url, QONTO_API_KEY=emulator.api_key)
    return subprocess.run(
        [sys.executable, "-m", "billing_pipeline.cli", *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _untouched(emulator: RunningEmulator) -> bool:
    state: dict[str, Any] = emulator.state()
    return (state["clients"], state["client_invoices"], state["credit_notes"]) == ([], [], [])


def test_bill_refuses_before_any_write_when_einvoicing_is_off(tmp_path: Path) -> None:
    copy_sample_data(tmp_path / "data")
    with running_emulator(render_delay_s=0, state_path=tmp_path / "qonto.sqlite", einvoicing_disabled=True) as qonto:
        result = _command(tmp_path, qonto, "bill", "--period", PERIOD, "--wait", "30", "--format", "json")
        assert result.returncode == 2, result.stderr[-2000:]
        assert "einvoicing.sending" in result.stderr and "nothing was written to Qonto" in result.stderr
        report = json.loads(result.stdout)
        assert [e["check"] for e in report["errors"]] == ["einvoicing.sending"]
        assert "Settings › E-invoicing" in report["errors"][0]["fix"]
        assert _untouched(qonto)  # nothing created, so nothing finalized
    assert not (tmp_path / ".dagster_home").exists()  # no run was even started


def test_bill_names_a_missing_scope_and_creates_nothing(tmp_path: Path) -> None:
    copy_sample_data(tmp_path / "data")
    with running_emulator(render_delay_s=0, state_path=tmp_path / "qonto.sqlite", scopes=WITHOUT_CLIENT_WRITE) as qonto:
        result = _command(tmp_path, qonto, "bill", "--period", PERIOD)
        assert result.returncode == 2
        assert "scope.client.write" in result.stderr and "client.write" in result.stderr
        assert _untouched(qonto)


def test_check_prints_the_preflight_and_exits_1_when_not_ready(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "qonto.sqlite", einvoicing_disabled=True) as qonto:
        not_ready = _command(tmp_path, qonto, "check", "--format", "json")
    assert not_ready.returncode == 1
    report = json.loads(not_ready.stdout)
    assert report["ready"] is False and report["mode"] == "custom"
    assert [p["name"] for p in report["problems"]] == ["einvoicing.sending"]
    with running_emulator(render_delay_s=0, state_path=tmp_path / "ready.sqlite") as qonto:
        ready = _command(tmp_path, qonto, "check")
    assert ready.returncode == 0, ready.stdout
    assert "ready to bill" in ready.stdout and "ok         e-invoicing sending enabled" in ready.stdout


def test_the_blocking_check_stops_the_run_before_the_first_client(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "qonto.sqlite", einvoicing_disabled=True) as qonto:
        world = world_on(qonto, tmp_path)
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [qonto_preflight, billable_usage, qonto_clients, draft_invoices, finalized_invoices],
                partition_key=PERIOD, resources=world.resources, instance=instance, raise_on_error=False,
            )  # fmt: skip
        [ready] = [e for e in result.get_asset_check_evaluations() if e.check_name == "qonto_ready"]
        assert not ready.passed and "e-invoicing sending is disabled" in (ready.description or "")
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert "qonto_clients" not in materialized and "finalized_invoices" not in materialized
        assert _untouched(qonto)
