"""The ``Authorization`` header: API key, or OAuth access tokens kept fresh and shared.

OAuth refresh tokens rotate on every use (the old one stays valid 60 s). The current refresh token
and access token live in a JSON file (mode 0600, written atomically); a file lock serializes the
refreshes of every process using that file, and each process re-reads the file under the lock so
that a token rotated elsewhere is picked up instead of being refreshed twice. Tokens are refreshed
proactively ``refresh_margin_s`` before they expire; a 401 is never answered by a refresh loop
(Qonto throttles an IP after 200 401s per hour).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx
from filelock import AsyncFileLock
from filelock import Timeout as FileLockTimeout
from pydantic import BaseModel, SecretStr, ValidationError

from billing_pipeline.qonto.config import ApiKeyAuth, OAuthAuth
from billing_pipeline.qonto.errors import (
    QontoAuthError,
    QontoConfigurationError,
    QontoError,
    QontoRateLimitedError,
    QontoTransportError,
    parse_error_objects,
)
from billing_pipeline.qonto.redaction import register_secret
from billing_pipeline.qonto.retries import parse_retry_after

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_DEFAULT_EXPIRES_IN_S = 3600
_LOCK_TIMEOUT_S = 60


class AuthProvider(Protocol):
    async def authorization(self) -> str:
        """The value of the ``Authorization`` header for the next request."""
        ...

    def describe(self) -> str:
        """A secret-free description for reprs and logs."""
        ...


class ApiKeyProvider:
    def __init__(self, auth: ApiKeyAuth) -> None:
        self._auth = auth

    async def authorization(self) -> str:
        return self._auth.header_value()

    def describe(self) -> str:
        return f"api-key login={self._auth.login}"


class TokenState(BaseModel):
    """What the token store holds."""

    refresh_token: SecretStr
    access_token: SecretStr | None = None
    access_token_expires_at: datetime | None = None
    # sha256 of the configured refresh token this chain of rotations started from
    bootstrap_fingerprint: str
    rotated_at: datetime | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "refresh_token": self.refresh_token.get_secret_value(),
                "access_token": self.access_token.get_secret_value() if self.access_token else None,
                "access_token_expires_at": (
                    self.access_token_expires_at.isoformat() if self.access_token_expires_at else None
                ),
                "bootstrap_fingerprint": self.bootstrap_fingerprint,
                "rotated_at": self.rotated_at.isoformat() if self.rotated_at else None,
            },
            indent=2,
        )

    def access_valid_at(self, now: datetime, margin_s: float) -> bool:
        if self.access_token is None or self.access_token_expires_at is None:
            return False
        return self.access_token_expires_at - timedelta(seconds=margin_s) > now


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """The JSON file holding the rotated tokens (mode 0600, atomic replace)."""

    def __init__(self, path: Path, lock_timeout_s: float = _LOCK_TIMEOUT_S) -> None:
        self.path = path
        self.lock = AsyncFileLock(str(path) + ".lock", timeout=lock_timeout_s)

    def read(self) -> TokenState | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            state = TokenState.model_validate_json(text)
        except ValidationError as exc:
            # the message names the path and the broken fields, never the values
            fields = ", ".join(".".join(map(str, e["loc"])) or "file" for e in exc.errors())
            raise QontoConfigurationError(
                f"OAuth token store {self.path} is unreadable ({fields}); delete it and set a fresh "
                "QONTO_OAUTH_REFRESH_TOKEN"
            ) from None
        register_secret(
            state.refresh_token.get_secret_value(),
            state.access_token.get_secret_value() if state.access_token else None,
        )
        return state

    def write(self, state: TokenState) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(state.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(self.path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OAuthTokenManager:
    """Hands out a valid access token, refreshing and rotating it when due."""

    def __init__(
        self,
        auth: OAuthAuth,
        http: httpx.AsyncClient,
        *,
        staging_token: SecretStr | None,
        clock: Clock,
    ) -> None:
        self._auth = auth
        self._http = http
        self._staging_token = staging_token
        self._clock = clock
        self._store = TokenStore(auth.token_store_path, lock_timeout_s=_LOCK_TIMEOUT_S)
        self._state: TokenState | None = None
        self._local_lock = asyncio.Lock()
        self.refresh_count = 0

    def describe(self) -> str:
        return f"oauth client_id={self._auth.client_id}"

    async def authorization(self) -> str:
        return f"Bearer {await self.access_token()}"

    async def access_token(self) -> str:
        state = self._state
        if state is not None and state.access_valid_at(self._clock(), self._auth.refresh_margin_s):
            assert state.access_token is not None
            return state.access_token.get_secret_value()
        async with self._local_lock:
            try:
                await self._store.lock.acquire()
            except FileLockTimeout:
                raise QontoError(
                    f"timed out after {self._store.lock.timeout} s waiting for the OAuth token lock "
                    f"{self._store.lock.lock_file} (another process is refreshing, or died holding it)"
                ) from None
            try:
                state = self._current_state()
                if not state.access_valid_at(self._clock(), self._auth.refresh_margin_s):
                    state = await self._refresh(state)
                    self._store.write(state)
            finally:
                await self._store.lock.release()
            self._state = state
            assert state.access_token is not None
            return state.access_token.get_secret_value()

    def _current_state(self) -> TokenState:
        """The stored chain, unless the configured refresh token starts a new one."""
        configured = self._auth.refresh_token.get_secret_value()
        stored = self._store.read()
        if stored is not None and stored.bootstrap_fingerprint == fingerprint(configured):
            return stored
        if stored is not None:
            logger.info("a new OAuth refresh token was configured; starting a new token chain")
        return TokenState(refresh_token=self._auth.refresh_token, bootstrap_fingerprint=fingerprint(configured))

    async def _refresh(self, state: TokenState) -> TokenState:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._auth.client_id,
            "client_secret": self._auth.client_secret.get_secret_value(),
            "refresh_token": state.refresh_token.get_secret_value(),
        }
        headers = {"Accept": "application/json"}
        if self._staging_token is not None:
            headers["X-Qonto-Staging-Token"] = self._staging_token.get_secret_value()
        response = await self._post_token(form, headers)
        payload = _token_payload(response, self._auth.token_url)
        now = self._clock()
        access = str(payload["access_token"])
        refresh = str(payload.get("refresh_token") or state.refresh_token.get_secret_value())
        register_secret(access, refresh)
        expires_in = _expires_in(payload.get("expires_in"))
        self.refresh_count += 1
        logger.info("OAuth access token refreshed (valid %d s)", expires_in)
        return TokenState(
            refresh_token=SecretStr(refresh),
            access_token=SecretStr(access),
            access_token_expires_at=now + timedelta(seconds=expires_in),
            bootstrap_fingerprint=state.bootstrap_fingerprint,
            rotated_at=now,
        )

    async def _post_token(self, form: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        """POST the refresh grant. Transient failures surface as "the API request was not sent".

        The caller's retry loop then retries the whole call, which is safe for reads and writes
        alike, and safe for the token too: the old refresh token stays valid 60 s after first use.
        """
        url = self._auth.token_url
        try:
            response = await self._http.post(url, data=form, headers=headers)
        except httpx.TransportError as exc:
            raise QontoTransportError(
                f"OAuth token refresh at {url} failed ({type(exc).__name__}); the API request was not sent",
                request_sent=False,
            ) from exc
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.status_code == 429:
            raise QontoRateLimitedError(f"OAuth token endpoint {url} answered 429", status=429, retry_after=retry_after)
        if response.status_code >= 500:
            raise QontoTransportError(
                f"OAuth token endpoint {url} answered {response.status_code}; the API request was not sent",
                request_sent=False,
                status=response.status_code,
                retry_after=retry_after,
            )
        return response


def _token_payload(response: httpx.Response, url: str) -> dict[str, object]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code in (400, 401, 403):
        errors = parse_error_objects(payload)
        reason = ""
        if isinstance(payload, dict) and payload.get("error"):
            reason = f" ({payload.get('error')})"
        raise QontoAuthError(
            f"OAuth refresh refused by {url}: {response.status_code}{reason}; the refresh token is "
            "revoked, expired or already rotated — re-authorize and set QONTO_OAUTH_REFRESH_TOKEN",
            status=response.status_code,
            errors=errors,
        )
    if not isinstance(payload, dict):
        raise QontoConfigurationError(
            f"OAuth token endpoint {url} answered {response.status_code} without a JSON body: check the "
            "token URL (and QONTO_STAGING_TOKEN for the sandbox)",
            status=response.status_code,
        )
    if response.status_code >= 300 or not payload.get("access_token"):
        raise QontoError(
            f"OAuth token endpoint {url} answered {response.status_code} without an access token",
            status=response.status_code,
            errors=parse_error_objects(payload),
        )
    return payload


def _expires_in(value: object) -> int:
    try:
        seconds = int(str(value))
    except ValueError:
        return _DEFAULT_EXPIRES_IN_S
    return seconds if seconds > 0 else _DEFAULT_EXPIRES_IN_S


def utc_now() -> datetime:
    return datetime.now(UTC)
