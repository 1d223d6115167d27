"""``billing-pipeline emulator serve|reset`` run as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from click.testing import CliRunner

from billing_pipeline.emulator.cli import emulator
from billing_pipeline.emulator.testing import running_emulator

from .helpers import create_client, create_invoice, finalize

SERVE = [sys.executable, "-m", "billing_pipeline.cli", "emulator", "serve"]


@contextmanager
def serving(*arguments: str, cwd: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    process = subprocess.Popen(
        [*SERVE, *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BILLING_STATE_DIR": str(cwd / "state")},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        yield process, [first, second]
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_serve_prints_the_two_lines_then_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    with serving("--port", "0", "--render-delay", "0", cwd=tmp_path) as (process, lines):
        base_url = lines[0].removeprefix("QONTO_BASE_URL=").strip()
        # printed only once it accepts connections: this request must succeed at once
        organization = httpx.get(
            f"{base_url}/v2/organization", headers={"Authorization": lines[1].split("=", 1)[1].strip()}
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    assert lines[0].startswith("QONTO_BASE_URL=http://127.0.0.1:")
    assert int(base_url.rsplit(":", 1)[1]) > 0
    assert lines[1] == "QONTO_API_KEY=emulator-org:emulator-local-secret\n"
    assert organization.status_code == 200
    assert (tmp_path / "state" / "qonto-emulator.sqlite").exists()  # $BILLING_STATE_DIR default


def test_sandbox_serve_prints_the_staging_token_and_sigint_exits_0(tmp_path: Path) -> None:
    with serving("--port", "0", "--sandbox", "--state", str(tmp_path / "s.sqlite"), cwd=tmp_path) as (process, lines):
        assert process.stdout is not None
        third = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0

    assert lines[0].startswith("QONTO_BASE_URL=http://127.0.0.1:")
    assert third == "QONTO_STAGING_TOKEN=emulator-staging-token\n"
    assert (tmp_path / "s.sqlite").exists()


def test_non_loopback_bind_is_refused_without_the_flag(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, "--host", "0.0.0.0", "--port", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "refusing to bind 0.0.0.0" in result.stderr and "--allow-non-loopback" in result.stderr


def test_invalid_settings_are_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(emulator, ["serve", "--port", "0", "--fault-rate", "2", "--state", str(tmp_path / "x")])

    assert result.exit_code == 2
    assert "fault_rate" in result.output and "less than or equal to 1" in result.output


def test_reset_command_wipes_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "e.sqlite"
    with (
        running_emulator(render_delay_s=0, state_path=state) as running,
        httpx.Client(base_url=running.base_url, headers={"Authorization": running.api_key}) as api,
    ):
        create_invoice(api)
        result = CliRunner().invoke(emulator, ["reset", "--state", str(state)])
        remaining = running.state()["client_invoices"]

    assert result.exit_code == 0, result.output
    assert f"emulator state reset: {state}" in result.output
    assert remaining == []


def test_serve_delivery_options(tmp_path: Path) -> None:
    outbox = tmp_path / "mail"
    options = ["--port", "0", "--render-delay", "0", "--outbox", str(outbox), "--einvoicing-delay", "0"]
    options += ["--einvoicing-unreachable", "552100554", "--einvoicing-refuse", "732829320,542065479"]
    with serving(*options, cwd=tmp_path) as (process, lines):
        base_url = lines[0].removeprefix("QONTO_BASE_URL=").strip()
        headers = {"Authorization": lines[1].split("=", 1)[1].strip()}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
            unreachable = create_client(api, tax_identification_number="552100554")
            invoice = finalize(api, create_invoice(api)["id"])
            sent = api.post(
                f"/v2/client_invoices/{invoice['id']}/send", json={"send_to": ["a@acme.test"], "email_title": "F"}
            )
            submitted = api.post(f"/v2/client_invoices/{invoice['id']}/send_by_einvoice")
            events = api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    assert unreachable["e_invoicing_reachable"] is False
    assert (sent.status_code, submitted.status_code) == (204, 204)
    assert [p.name for p in outbox.iterdir()] == [f"{invoice['number']}-1.eml"]
    # delay 0: every step at once, and 732829320 (the default test client) refuses
    assert [e["status_code"] for e in events["einvoicing_lifecycle_events"]] == [200, 201, 210]
    assert events["einvoicing_status"] == "declined"


def test_an_invalid_siren_option_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        emulator, ["serve", "--port", "0", "--einvoicing-refuse", "123456789", "--state", str(tmp_path / "x")]
    )

    assert result.exit_code == 2
    assert "not a valid SIREN" in result.output and "123456789" in result.output
