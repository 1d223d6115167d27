"""`billing-pipeline bill` on the embedded emulator (no credentials at all), as a cron job runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.facturx import verify_pdf
from billing_pipeline_tests.pipeline.conftest import copy_sample_data

QONTO_VARIABLES = ("QONTO_API_KEY", "QONTO_OAUTH_REFRESH_TOKEN", "QONTO_BASE_URL", "QONTO_STAGING_TOKEN")


def _bill(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in QONTO_VARIABLES and not k.startswith("BILLING_")}
    env.pop("DAGSTER_HOME", None)
    env["QONTO_EMULATOR_RENDER_DELAY"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "billing_pipeline.cli", "bill", *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_bill_embedded_mode_end_to_end_then_idempotent(tmp_path: Path) -> None:
    copy_sample_data(tmp_path / "data")
    first = _bill(tmp_path, "--period", "2026-09", "--wait", "120", "--format", "json")
    assert first.returncode == 0, first.stderr[-3000:]
    report = json.loads(first.stdout)
    assert report["period"] == "2026-09" and report["mode"] == "emulator"
    assert report["invoices"] and all(i["status"] == "stored" for i in report["invoices"])
    for invoice in report["invoices"]:
        content = Path(invoice["file"]).read_bytes()
        assert verify_pdf(content).valid
        assert Path(invoice["file"]).is_relative_to(tmp_path / "data" / "invoices" / "2026-09")
    assert "EMULATED" in first.stderr  # announced in the run's logs
    # everything stays inside the working directory: state, instance, files
    assert (tmp_path / ".state" / "ledger.sqlite").exists()
    assert (tmp_path / ".dagster_home" / "dagster.yaml").exists()

    again = _bill(tmp_path, "--period", "2026-09", "--format", "json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["invoices"] == report["invoices"]  # same invoices, same files


def test_bill_refuses_invalid_input_with_the_preview_error_shape(tmp_path: Path) -> None:
    copy_sample_data(tmp_path / "data")
    (tmp_path / "data" / "usage" / "bad.csv").write_text(
        "event_id,customer_id,metric,quantity,timestamp\nbad-1,cus_fr_001,api_calls,NaN,2026-09-10T10:00:00Z\n"
    )
    result = _bill(tmp_path, "--period", "2026-09", "--format", "json")
    assert result.returncode == 2
    errors = json.loads(result.stdout)["errors"]
    assert errors[0]["file"].endswith("bad.csv") and errors[0]["field"] == "quantity"
    assert not (tmp_path / ".state" / "qonto-emulator.sqlite").exists()  # Qonto never contacted


def _open_periods(now: datetime) -> list[str]:
    """The month running in the billing time zone at ``now`` and the next one: open whatever the date."""
    local = now.astimezone(ZoneInfo("Europe/Paris"))
    current = BillingPeriod(local.year, local.month)
    return [current.key, current.next().key]


def test_open_periods_follow_the_clock() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert _open_periods(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == ["2026-12", "2027-01"]  # Paris: 1 Dec
    assert _open_periods(datetime(2031, 2, 14, 12, tzinfo=paris)) == ["2031-02", "2031-03"]


def test_bill_refuses_an_open_period(tmp_path: Path) -> None:
    copy_sample_data(tmp_path / "data")
    # the same clock as the subprocess (the system's, possibly moved by faketime), never a fixed month
    _, next_month = _open_periods(datetime.now(UTC))
    result = _bill(tmp_path, "--period", next_month)
    assert result.returncode == 2
    assert "not a closed billing period" in result.stderr


def test_bill_against_a_qonto_server_with_credentials_from_the_environment(tmp_path: Path) -> None:
    from billing_pipeline.emulator.testing import running_emulator

    copy_sample_data(tmp_path / "data")
    with running_emulator(render_delay_s=1, state_path=tmp_path / "emulator.sqlite") as emulator:
        env = {k: v for k, v in os.environ.items() if k not in QONTO_VARIABLES and not k.startswith("BILLING_")}
        env.pop("DAGSTER_HOME", None)
        env.update(QONTO_BASE_URL=emulator.base_url, QONTO_API_KEY=emulator.api_key)
        result = subprocess.run(
            [sys.executable, "-m", "billing_pipeline.cli", "bill", "--period", "2026-10", "--wait", "120",
             "--format", "json"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        invoices = emulator.state()["client_invoices"]
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["mode"] == "custom"
    assert len(report["invoices"]) == len(invoices) and all(i["status"] == "stored" for i in report["invoices"])
    assert emulator.api_key.split(":", 1)[1] not in result.stdout + result.stderr
