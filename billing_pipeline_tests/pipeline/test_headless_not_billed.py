"""Headless `bill` never reports success for a customer who was not billed (issue 11, case 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx

from billing_pipeline.emulator.testing import running_emulator
from billing_pipeline_tests.pipeline.conftest import copy_sample_data
from billing_pipeline_tests.pipeline.small_world import Company, write_customers, write_usage

QONTO_VARIABLES = ("QONTO_API_KEY", "QONTO_OAUTH_REFRESH_TOKEN", "QONTO_BASE_URL", "QONTO_STAGING_TOKEN")


def _bill(workdir: Path, emulator_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in QONTO_VARIABLES and not k.startswith("BILLING_")}
    env.pop("DAGSTER_HOME", None)  # the configuration a cron user runs: no DAGSTER_HOME
    env.update(emulator_env, BILLING_IN_FLIGHT_GRACE_S="2")
    return subprocess.run(
        [sys.executable, "-m", "billing_pipeline.cli", "bill", "--period", "2026-10", "--wait", "60",
         "--format", "json"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_bill_exits_1_naming_a_customer_whose_invoice_a_person_canceled(tmp_path: Path) -> None:
    world = SimpleNamespace(data_dir=copy_sample_data(tmp_path / "data"))
    write_customers(world, [Company("alpha"), Company("beta", siren="493375109", email="b@beta.example.fr")])  # type: ignore[arg-type]
    write_usage(world, {"alpha": 100, "beta": 200})  # type: ignore[arg-type]
    with running_emulator(render_delay_s=1, state_path=tmp_path / "emulator.sqlite") as emulator:
        env = {"QONTO_BASE_URL": emulator.base_url, "QONTO_API_KEY": emulator.api_key}
        first = _bill(tmp_path, env)
        assert first.returncode == 0, first.stderr[-3000:]
        rows = {r["customer_id"]: r for r in json.loads(first.stdout)["invoices"]}
        httpx.post(
            f"{emulator.base_url}/v2/client_invoices/{rows['alpha']['invoice_id']}/mark_as_canceled",
            headers={"Authorization": emulator.api_key},
        ).raise_for_status()

        again = _bill(tmp_path, env)
        invoices = emulator.state()["client_invoices"]
    assert again.returncode == 1
    assert "NOT BILLED: customer alpha" in again.stderr
    report = {r["customer_id"]: r for r in json.loads(again.stdout)["invoices"]}
    assert report["alpha"]["status"] == "canceled" and report["beta"]["status"] == "stored"
    assert len(invoices) == 2  # nothing re-issued silently
