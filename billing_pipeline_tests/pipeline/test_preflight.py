"""The preflight against the emulator over loopback HTTP: ready by default; e-invoicing off, a missing
scope, an unreadable setting each named — and nothing created in Qonto by asking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.invoicing.preflight.check import PreflightReport, run_preflight
from billing_pipeline.qonto import ApiKeyAuth, QontoClient, QontoConfig, RetryPolicy

FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)
EVERY_SCOPE_BUT = "organization.read,client.read,client.write,client_invoices.read,client_invoice.write,attachment.read"


async def _preflight(tmp_path: Path, **emulator_options: Any) -> tuple[PreflightReport, dict[str, Any]]:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", **emulator_options) as emulator:
        async with _client(emulator) as qonto:
            report = await run_preflight(qonto)
        return report, emulator.state()


def _client(emulator: RunningEmulator) -> QontoClient:
    config = QontoConfig(base_url=emulator.base_url, auth=ApiKeyAuth.parse(emulator.api_key))
    return QontoClient(config, retry_policy=FAST)


def _nothing_created(state: dict[str, Any]) -> bool:
    return (state["clients"], state["client_invoices"], state["credit_notes"]) == ([], [], [])


async def test_ready_by_default_with_what_it_confirmed(tmp_path: Path) -> None:
    report, state = await _preflight(tmp_path)
    assert report.ready and not report.warnings, report.lines()
    confirmed = " | ".join(report.confirmed)
    assert "e-invoicing sending enabled" in confirmed and "SIREN" in confirmed and "receiving account" in confirmed
    assert "scope client_invoice.write" in confirmed
    assert _nothing_created(state)


async def test_einvoicing_off_is_named_with_what_to_do(tmp_path: Path) -> None:
    report, state = await _preflight(tmp_path, einvoicing_disabled=True)
    assert not report.ready
    assert [p.name for p in report.problems] == ["einvoicing.sending"]
    assert "disabled" in report.problems[0].message and "Settings › E-invoicing" in (report.problems[0].fix or "")
    assert _nothing_created(state)


async def test_a_missing_write_scope_is_named_and_nothing_is_created(tmp_path: Path) -> None:
    scopes = "organization.read,client.read,client_invoices.read,client_invoice.write,attachment.read,einvoicing.read"
    report, state = await _preflight(tmp_path, scopes=scopes)
    assert [p.name for p in report.problems] == ["scope.client.write"]
    assert "client.write" in report.problems[0].message and "403" in report.problems[0].message
    assert _nothing_created(state)


async def test_without_einvoicing_read_the_setting_is_a_named_warning_not_a_pass(tmp_path: Path) -> None:
    report, _ = await _preflight(tmp_path, scopes=EVERY_SCOPE_BUT)
    assert report.ready  # the seed guide's scope list has no einvoicing.read: not a reason to stop
    assert [w.name for w in report.warnings] == ["einvoicing.unconfirmed"]
    assert not any("e-invoicing" in fact for fact in report.confirmed)


async def test_without_organization_read_the_account_and_seller_are_not_confirmed(tmp_path: Path) -> None:
    scopes = "client.read,client.write,client_invoices.read,client_invoice.write,attachment.read,einvoicing.read"
    report, _ = await _preflight(tmp_path, scopes=scopes)
    assert [p.name for p in report.problems] == ["scope.organization.read"]
    assert not any("receiving account" in fact or "SIREN" in fact for fact in report.confirmed)


def test_the_text_report_puts_problems_first() -> None:
    from billing_pipeline.invoicing.preflight.check import PreflightFinding

    report = PreflightReport(
        problems=(PreflightFinding(name="einvoicing.sending", message="off", fix="enable it"),),
        warnings=(PreflightFinding(name="scope.x", message="unclear"),),
        confirmed=("scope client.read",),
    )
    assert report.lines() == [
        "NOT READY  einvoicing.sending: off — enable it",
        "WARNING    scope.x: unclear",
        "ok         scope client.read",
    ]
    assert not report.ready and report.summary() == "not ready to bill: off"
