"""Secrets never appear in reprs, exception messages or log lines (httpx/httpcore DEBUG included)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from billing_pipeline.qonto import ApiKeyAuth, OAuthAuth, QontoClient, QontoError, QontoValidationError
from billing_pipeline.qonto.models import Attachment
from billing_pipeline.qonto.redaction import MASK, install_log_redaction, redact
from billing_pipeline_tests.qonto.conftest import (
    API_LOGIN,
    API_SECRET,
    STAGING_TOKEN,
    FakeQonto,
    attachment_payload,
    error_reply,
    json_reply,
    make_config,
    organization_payload,
)

SECRETS = (API_SECRET, STAGING_TOKEN, f"{API_LOGIN}:{API_SECRET}")
Make = Callable[..., QontoClient]


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_config_and_auth_reprs_hide_secrets(tmp_path: Path) -> None:
    config = make_config(staging_token=STAGING_TOKEN)
    assert_clean(repr(config))
    assert_clean(str(config.model_dump()))
    oauth = OAuthAuth(
        client_id="cid",
        client_secret=SecretStr("client-secret-abcdef"),
        refresh_token=SecretStr("refresh-abcdef-123"),
        token_store_path=tmp_path / "t.json",
        token_url="https://oauth.test/oauth2/token",
    )
    assert "client-secret-abcdef" not in repr(oauth)
    assert "refresh-abcdef-123" not in repr(oauth)


def test_api_key_parse_never_echoes_the_value() -> None:
    auth = ApiKeyAuth.parse(f"{API_LOGIN}:{API_SECRET}")
    assert auth.login == API_LOGIN
    assert auth.header_value() == f"{API_LOGIN}:{API_SECRET}"
    with pytest.raises(ValueError, match="must have the form <login>:<secret-key>") as info:
        ApiKeyAuth.parse("no-colon-secret-value-123")
    assert "no-colon-secret-value-123" not in str(info.value)


def test_error_messages_are_redacted() -> None:
    make_config(staging_token=STAGING_TOKEN)  # registers the secrets
    error = QontoError(f"echoed header {API_LOGIN}:{API_SECRET} and {STAGING_TOKEN}")
    assert_clean(str(error))
    assert_clean(repr(error))
    assert MASK in str(error)


def test_signed_url_parameters_are_masked() -> None:
    text = redact("GET https://files.test/a.pdf?expires=1&signature=abcdef0123&X-Amz-Signature=zz99")
    assert "abcdef0123" not in text
    assert "zz99" not in text
    assert "expires=1" in text


async def test_logs_of_a_whole_exchange_hold_no_secret(
    fake: FakeQonto, make_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    fake.on(
        "GET", "/v2/organization", error_reply(503, "x", "y"), json_reply(200, {"organization": organization_payload()})
    )
    fake.on(
        "POST", "/v2/clients", error_reply(422, "invalid", f"bad {API_SECRET}", {"pointer": "/data/attributes/name"})
    )
    download = httpx.MockTransport(lambda request: httpx.Response(200, content=b"%PDF-1.7 x"))
    caplog.set_level(logging.DEBUG)
    async with make_client(make_config(staging_token=STAGING_TOKEN), download=download) as qonto:
        await qonto.get_organization()
        with pytest.raises(QontoValidationError) as info:
            await qonto._session.call("POST", "/v2/clients", body={"name": "x"})
        await qonto.download_attachment(Attachment.model_validate(attachment_payload()))
    assert_clean(str(info.value))
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log
    assert any("retrying" in r.getMessage() for r in caplog.records)
    rendered = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    assert_clean(rendered)
    assert "abc123" not in rendered  # the download signature


def test_filter_covers_httpcore_child_loggers(caplog: pytest.LogCaptureFixture) -> None:
    make_config(staging_token=STAGING_TOKEN)
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpcore.http11").debug("send_request_headers %s", [(b"X-Qonto-Staging-Token", STAGING_TOKEN)])
    logging.getLogger("httpx").info("Authorization: %s:%s", API_LOGIN, API_SECRET)
    assert caplog.records
    assert_clean(caplog.text)
    assert MASK in caplog.text
