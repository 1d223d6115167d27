"""Configuration validation, messages included."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from billing_pipeline.qonto import PRODUCTION_BASE_URL, SANDBOX_BASE_URL, ApiKeyAuth, QontoClient, QontoConfig
from billing_pipeline_tests.qonto.conftest import make_config


def test_defaults_stay_below_qonto_limits() -> None:
    config = make_config()
    assert config.rate_limit_10s == 950
    assert config.rate_limit_10min == 9500
    assert config.timeout_s == 30
    assert config.max_concurrency == 8
    assert config.verify_tls is True
    assert config.rate_limit_db is None
    assert config.rate_window_margin_s == 0.5
    assert config.api_base == "https://qonto.test/v2"
    assert PRODUCTION_BASE_URL == "https://thirdparty.qonto.com"
    assert SANDBOX_BASE_URL == "https://thirdparty-sandbox.staging.qonto.co"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_url": "thirdparty.qonto.com"}, "base_url must be an http"),
        ({"base_url": "https://thirdparty.qonto.com/v2"}, "must not include /v2"),
        ({"base_url": "https://x.test?a=1"}, "must not carry a query"),
        ({"rate_limit_10s": 0}, "greater than or equal to 1"),
        ({"timeout_s": 0}, "greater than 0"),
        ({"staging_token": SecretStr("  ")}, "staging_token must not be empty"),
        ({"unknown_knob": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_config_is_explained(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_config(**overrides)


def test_trailing_slash_is_dropped() -> None:
    assert make_config(base_url="http://127.0.0.1:8000/").base_url == "http://127.0.0.1:8000"


def test_api_key_login_must_not_hold_a_colon() -> None:
    with pytest.raises(ValidationError, match="login must not contain ':'"):
        ApiKeyAuth(login="a:b", secret_key=SecretStr("secret-123"))


async def test_disabling_tls_verification_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with QontoClient(make_config(verify_tls=False)):
        pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("TLS certificate verification is DISABLED for https://qonto.test" in r.getMessage() for r in warnings)
    caplog.clear()
    async with QontoClient(make_config()):
        pass
    assert not [r for r in caplog.records if "TLS" in r.getMessage()]


def test_rate_limit_db_is_a_path(tmp_path: Path) -> None:
    config = QontoConfig(
        base_url="https://qonto.test",
        auth=ApiKeyAuth(login="l", secret_key=SecretStr("secret-123")),
        rate_limit_db=tmp_path / "rate.sqlite",
    )
    assert config.rate_limit_db == tmp_path / "rate.sqlite"
