"""Contract: settings and scope probes over loopback HTTP against the emulator's --scopes and
--einvoicing-disabled. A probe never creates anything and takes its permit of the request budget."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from billing_pipeline.emulator.config import (
    EMULATOR_OAUTH_CLIENT_ID,
    EMULATOR_OAUTH_CLIENT_SECRET,
    EMULATOR_OAUTH_REFRESH_TOKEN,
)
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.qonto import (
    PIPELINE_SCOPES,
    ApiKeyAuth,
    OAuthAuth,
    QontoClient,
    QontoConfig,
    QontoForbiddenError,
    RetryPolicy,
    ScopeStatus,
)

FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)
READ_ONLY = "organization.read,client.read,client_invoices.read,attachment.read,einvoicing.read"


def client_for(emulator: RunningEmulator, **overrides: Any) -> QontoClient:
    values: dict[str, Any] = {"base_url": emulator.base_url, "auth": ApiKeyAuth.parse(emulator.api_key)}
    values.update(overrides)
    return QontoClient(QontoConfig(**values), retry_policy=FAST)


def nothing_created(emulator: RunningEmulator) -> bool:
    state = emulator.state()
    return (state["clients"], state["client_invoices"], state["credit_notes"]) == ([], [], [])


async def test_every_scope_is_granted_by_default_and_nothing_is_created(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite") as emulator:
        async with client_for(emulator) as qonto:
            report = await qonto.probe_scopes()
            settings = await qonto.get_einvoicing_settings()

        assert report.all_granted and report.granted == list(PIPELINE_SCOPES)
        assert {check.http_status for check in report.checks if check.probe.startswith("POST")} == {422}
        assert report.get("attachment.read").http_status == 404  # type: ignore[union-attr]
        assert settings.sending_enabled and settings.receiving_enabled
        assert nothing_created(emulator)


async def test_read_only_credentials_miss_both_write_scopes(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", scopes=READ_ONLY) as emulator:
        async with client_for(emulator) as qonto:
            report = await qonto.probe_scopes()

        assert report.missing == ["client.write", "client_invoice.write"]
        assert report.granted == [scope for scope in PIPELINE_SCOPES if scope.endswith(".read")]
        assert report.unknown == []
        missing = report.get("client_invoice.write")
        assert missing is not None and missing.detail and "insufficient_scope" in missing.detail
        assert nothing_created(emulator)
        assert emulator.stats()["responses"]["POST /v2/client_invoices"] == {"403": 1}  # sent once


async def test_without_einvoicing_read_the_settings_cannot_be_read(tmp_path: Path) -> None:
    scopes = "organization.read,client.read,client.write,client_invoices.read,client_invoice.write"
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", scopes=scopes) as emulator:
        async with client_for(emulator) as qonto:
            report = await qonto.probe_scopes()
            with pytest.raises(QontoForbiddenError) as info:
                await qonto.get_einvoicing_settings()

        assert report.missing == ["attachment.read", "einvoicing.read"]
        assert info.value.status == 403 and info.value.code == "insufficient_scope"
        assert nothing_created(emulator)


async def test_einvoicing_disabled_shows_in_the_settings(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", einvoicing_disabled=True) as emulator:
        async with client_for(emulator) as qonto:
            settings = await qonto.get_einvoicing_settings()
            report = await qonto.probe_scopes(["einvoicing.read"])

    assert (settings.sending_status, settings.receiving_status) == ("disabled", "disabled")
    assert not settings.sending_enabled
    assert report.all_granted  # readable, and says disabled: two different answers for a preflight


async def test_probes_take_permits_of_the_request_budget(tmp_path: Path) -> None:
    budget = tmp_path / "budget.sqlite"  # the machine-wide budget keeps one row per permit
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", scopes=READ_ONLY) as emulator:
        async with client_for(emulator, rate_limit_db=budget) as qonto:
            await qonto.probe_scopes()
            sent = qonto.request_count
        arrivals = emulator.stats()["api_requests"]
    connection = sqlite3.connect(budget)
    try:
        permits = connection.execute("SELECT COUNT(*) FROM qonto_api_requests").fetchone()[0]
    finally:
        connection.close()

    assert sent == arrivals == permits == len(PIPELINE_SCOPES)


async def test_oauth_tokens_are_probed_the_same_way(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", scopes=READ_ONLY) as emulator:
        auth = OAuthAuth(
            client_id=EMULATOR_OAUTH_CLIENT_ID,
            client_secret=SecretStr(EMULATOR_OAUTH_CLIENT_SECRET),
            refresh_token=SecretStr(EMULATOR_OAUTH_REFRESH_TOKEN),
            token_url=f"{emulator.base_url}/oauth2/token",
            token_store_path=tmp_path / "tokens.json",
        )
        async with client_for(emulator, auth=auth) as qonto:
            report = await qonto.probe_scopes(["client.read", "client.write"])

    assert [(check.scope, check.status) for check in report.checks] == [
        ("client.read", ScopeStatus.GRANTED),
        ("client.write", ScopeStatus.MISSING),
    ]
