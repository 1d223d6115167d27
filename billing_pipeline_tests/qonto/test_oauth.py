"""OAuth: proactive refresh, rotation persisted (0600) and shared, no refresh-on-401 loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from filelock import FileLock
from pydantic import SecretStr

from billing_pipeline.qonto import (
    OAuthAuth,
    QontoAuthError,
    QontoClient,
    QontoConfig,
    QontoConfigurationError,
    QontoError,
    QontoTransportError,
    RetryPolicy,
)
from billing_pipeline.qonto import auth as auth_module
from billing_pipeline_tests.qonto.conftest import (
    STAGING_TOKEN,
    FakeQonto,
    RecordingSleep,
    error_reply,
    json_reply,
    make_config,
    organization_payload,
)

CLIENT_ID = "oauth-client-1"
CLIENT_SECRET = "oauth-client-secret-9f8e7d"
BOOTSTRAP = "refresh-bootstrap-000"
TOKEN_URL = "https://oauth.test/oauth2/token"
ORG = json_reply(200, {"organization": organization_payload()})


class TokenEndpoint:
    """Rotates like Qonto: each refresh token works once; every refresh mints a new pair."""

    def __init__(self) -> None:
        self.valid_refresh = {BOOTSTRAP}
        self.counter = itertools.count(1)
        self.calls: list[dict[str, list[str]]] = []
        self.headers: list[httpx.Headers] = []
        self.expires_in = 3600

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.calls.append(form)
        self.headers.append(request.headers)
        token = form["refresh_token"][0]
        if form["client_secret"] != [CLIENT_SECRET] or token not in self.valid_refresh:
            return json_reply(400, {"error": "invalid_grant", "error_description": "refresh token revoked"})
        self.valid_refresh.discard(token)
        n = next(self.counter)
        self.valid_refresh.add(f"refresh-rotated-{n:03d}")
        return json_reply(
            200,
            {
                "access_token": f"access-token-{n:03d}",
                "refresh_token": f"refresh-rotated-{n:03d}",
                "expires_in": self.expires_in,
                "token_type": "bearer",
                "scope": "offline_access organization.read",
            },
        )


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def oauth_config(store: Path, refresh_token: str = BOOTSTRAP, **overrides: object) -> QontoConfig:
    auth = OAuthAuth(
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        refresh_token=SecretStr(refresh_token),
        token_store_path=store,
        token_url=TOKEN_URL,
    )
    return make_config(auth=auth, **overrides)


@pytest.fixture
def tokens(fake: FakeQonto) -> TokenEndpoint:
    endpoint = TokenEndpoint()
    fake.on("POST", "/oauth2/token", endpoint)
    fake.on("GET", "/v2/organization", ORG)
    return endpoint


@pytest.fixture
def build(fake: FakeQonto, sleeps: RecordingSleep) -> Callable[..., QontoClient]:
    def make(config: QontoConfig, clock: Clock | None = None) -> QontoClient:
        return QontoClient(
            config, transport=fake.transport, retry_policy=RetryPolicy(wait_jitter=0, sleep=sleeps), clock=clock
        )

    return make


async def test_bearer_token_persisted_0600_and_shared(
    tmp_path: Path, fake: FakeQonto, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    store = tmp_path / "state" / "qonto-oauth.json"
    async with build(oauth_config(store)) as first:
        await first.get_organization()
    async with build(oauth_config(store)) as second:  # another process would behave the same
        await second.get_organization()

    assert len(tokens.calls) == 1  # the second client reused the stored, still valid token
    assert [r.headers["authorization"] for r in fake.sent("GET", "/v2/organization")] == [
        "Bearer access-token-001",
        "Bearer access-token-001",
    ]
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    saved = json.loads(store.read_text())
    assert saved["refresh_token"] == "refresh-rotated-001"
    assert saved["access_token"] == "access-token-001"
    assert tokens.calls[0]["grant_type"] == ["refresh_token"]
    assert tokens.calls[0]["client_id"] == [CLIENT_ID]
    assert "authorization" not in tokens.headers[0]


async def test_proactive_refresh_before_expiry_and_rotation_chain(
    tmp_path: Path, fake: FakeQonto, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    clock = Clock()
    store = tmp_path / "tokens.json"
    async with build(oauth_config(store), clock) as qonto:
        await qonto.get_organization()
        clock.now += timedelta(seconds=3600 - 61)  # 61 s left: still fine
        await qonto.get_organization()
        clock.now += timedelta(seconds=2)  # 59 s left: refresh before calling
        await qonto.get_organization()
    assert [c["refresh_token"] for c in tokens.calls] == [[BOOTSTRAP], ["refresh-rotated-001"]]
    assert [r.headers["authorization"] for r in fake.sent("GET", "/v2/organization")] == [
        "Bearer access-token-001",
        "Bearer access-token-001",
        "Bearer access-token-002",
    ]
    assert json.loads(store.read_text())["refresh_token"] == "refresh-rotated-002"


async def test_concurrent_clients_refresh_once(
    tmp_path: Path, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    store = tmp_path / "tokens.json"
    clients = [build(oauth_config(store)) for _ in range(3)]
    await asyncio.gather(*(c.get_organization() for c in clients for _ in range(3)))
    for c in clients:
        await c.aclose()
    assert len(tokens.calls) == 1


async def test_401_is_not_answered_by_a_refresh_loop(
    tmp_path: Path, fake: FakeQonto, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    fake.on("GET", "/v2/organization", error_reply(401, "unauthorized", "token revoked"))
    async with build(oauth_config(tmp_path / "t.json")) as qonto:
        with pytest.raises(QontoAuthError, match="401"):
            await qonto.get_organization()
        with pytest.raises(QontoAuthError, match="401"):
            await qonto.get_organization()
    assert len(tokens.calls) == 1
    assert len(fake.sent("GET", "/v2/organization")) == 2


async def test_rejected_refresh_token_explains_what_to_do(
    tmp_path: Path, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    async with build(oauth_config(tmp_path / "t.json", refresh_token="refresh-unknown-xyz")) as qonto:
        with pytest.raises(QontoAuthError, match="re-authorize and set QONTO_OAUTH_REFRESH_TOKEN") as info:
            await qonto.get_organization()
    assert "invalid_grant" in str(info.value)
    assert "refresh-unknown-xyz" not in str(info.value)
    assert CLIENT_SECRET not in str(info.value)


async def test_new_configured_refresh_token_starts_a_new_chain(
    tmp_path: Path, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    store = tmp_path / "t.json"
    async with build(oauth_config(store)) as qonto:
        await qonto.get_organization()
    tokens.valid_refresh.add("refresh-reauthorized")
    clock = Clock()
    clock.now += timedelta(hours=2)  # stored access token expired
    async with build(oauth_config(store, refresh_token="refresh-reauthorized"), clock) as qonto:
        await qonto.get_organization()
    assert [c["refresh_token"] for c in tokens.calls] == [[BOOTSTRAP], ["refresh-reauthorized"]]


async def test_token_refresh_retried_on_server_error_with_staging_header(
    tmp_path: Path, fake: FakeQonto, tokens: TokenEndpoint, build: Callable[..., QontoClient], sleeps: RecordingSleep
) -> None:
    fake.on("POST", "/oauth2/token", error_reply(503, "unavailable", "later"), tokens)
    async with build(oauth_config(tmp_path / "t.json", staging_token=STAGING_TOKEN)) as qonto:
        await qonto.get_organization()
    assert len(tokens.calls) == 1
    assert tokens.headers[0]["x-qonto-staging-token"] == STAGING_TOKEN
    assert sleeps.delays == [0.5]


async def test_corrupt_store_is_a_configuration_error(
    tmp_path: Path, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    store = tmp_path / "t.json"
    store.write_text('{"refresh_token": 12')
    async with build(oauth_config(store)) as qonto:
        with pytest.raises(QontoConfigurationError, match=r"OAuth token store .*t\.json is unreadable"):
            await qonto.get_organization()
    assert tokens.calls == []


def test_oauth_config_rejects_empty_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        OAuthAuth(
            client_id=CLIENT_ID,
            client_secret=SecretStr(" "),
            refresh_token=SecretStr(BOOTSTRAP),
            token_store_path=tmp_path / "t.json",
            token_url=TOKEN_URL,
        )
    with pytest.raises(ValueError, match="token_url must be an http"):
        OAuthAuth(
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            refresh_token=SecretStr(BOOTSTRAP),
            token_store_path=tmp_path / "t.json",
            token_url="oauth.qonto.com/oauth2/token",
        )


async def test_token_endpoint_unreachable_means_the_write_was_not_sent(
    tmp_path: Path, fake: FakeQonto, tokens: TokenEndpoint, build: Callable[..., QontoClient]
) -> None:
    fake.on("POST", "/oauth2/token", httpx.ReadTimeout("token endpoint too slow"))
    async with build(oauth_config(tmp_path / "t.json")) as qonto:
        with pytest.raises(QontoTransportError, match="the API request was not sent") as info:
            await qonto.finalize_client_invoice("inv-1")
    assert info.value.request_sent is False
    assert len(fake.sent("POST", "/oauth2/token")) == 4  # retried like any call that never left
    assert fake.sent("POST", "/v2/client_invoices/inv-1/finalize") == []


async def test_token_lock_held_elsewhere_times_out_with_a_clear_error(
    tmp_path: Path, tokens: TokenEndpoint, build: Callable[..., QontoClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_module, "_LOCK_TIMEOUT_S", 0.2)
    store = tmp_path / "t.json"
    with FileLock(str(store) + ".lock"):  # another process in the middle of a refresh
        async with build(oauth_config(store)) as qonto:
            with pytest.raises(QontoError, match=r"timed out after 0\.2 s waiting for the OAuth token lock"):
                await qonto.get_organization()
    assert tokens.calls == []
