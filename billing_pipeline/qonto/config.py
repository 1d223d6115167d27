"""Configuration of the Qonto client: where to connect, how to authenticate, how hard to push."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from billing_pipeline.qonto.redaction import register_secret

PRODUCTION_BASE_URL = "https://thirdparty.qonto.com"
SANDBOX_BASE_URL = "https://thirdparty-sandbox.staging.qonto.co"
PRODUCTION_OAUTH_TOKEN_URL = "https://oauth.qonto.com/oauth2/token"  # noqa: S105 (a URL)
SANDBOX_OAUTH_TOKEN_URL = "https://oauth-sandbox.staging.qonto.co/oauth2/token"  # noqa: S105 (a URL)

# Qonto's documented limits per IP address; the defaults stay 5 % below them.
QONTO_LIMIT_10S = 1000
QONTO_LIMIT_10MIN = 10000


def _check_http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL with a host, got {value!r}")
    return value


class ApiKeyAuth(BaseModel):
    """API-key authentication: ``Authorization: <login>:<secret-key>`` (no scheme)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    login: str = Field(min_length=1)
    secret_key: SecretStr

    @field_validator("login")
    @classmethod
    def _login_has_no_colon(cls, value: str) -> str:
        if ":" in value or value != value.strip():
            raise ValueError("login must not contain ':' or surrounding spaces")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("secret_key must not be empty")
        register_secret(value.get_secret_value())
        return value

    @classmethod
    def parse(cls, api_key: str) -> ApiKeyAuth:
        """Build from the ``login:secret-key`` form used by ``QONTO_API_KEY``."""
        login, sep, secret = api_key.strip().partition(":")
        if not sep or not login or not secret:
            # the value itself is never echoed: it is (or contains) a secret
            raise ValueError("QONTO_API_KEY must have the form <login>:<secret-key>")
        return cls(login=login, secret_key=SecretStr(secret))

    def header_value(self) -> str:
        value = f"{self.login}:{self.secret_key.get_secret_value()}"
        register_secret(value)
        return value


class OAuthAuth(BaseModel):
    """OAuth 2.0 with refresh-token rotation persisted in ``token_store_path``.

    ``refresh_token`` bootstraps the chain: once the store holds a rotated token, the store wins,
    unless ``refresh_token`` changes (a new authorization), which starts a new chain.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    refresh_token: SecretStr
    token_store_path: Path
    token_url: str
    # proactive refresh margin: Qonto counts 401s towards throttling, so never wait for one
    refresh_margin_s: float = Field(default=60, ge=0)

    @field_validator("client_secret", "refresh_token")
    @classmethod
    def _register(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        register_secret(value.get_secret_value())
        return value

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return _check_http_url(value, "token_url")


class QontoConfig(BaseModel):
    """Everything the client needs. ``base_url`` is scheme + host (+ port), without ``/v2``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    auth: ApiKeyAuth | OAuthAuth
    staging_token: SecretStr | None = None
    timeout_s: float = Field(default=30, gt=0)
    max_concurrency: int = Field(default=8, ge=1)
    rate_limit_10s: int = Field(default=950, ge=1)
    rate_limit_10min: int = Field(default=9500, ge=1)
    rate_limit_db: Path | None = None
    # the ledger's PostgreSQL URL: the budget is kept there, shared by every machine (wins over the file)
    rate_limit_url: SecretStr | None = None
    # added to both windows: Qonto counts a request when it arrives, we when we send it
    rate_window_margin_s: float = Field(default=0.5, ge=0, le=60)
    max_attempts: int = Field(default=6, ge=1)
    verify_tls: bool = True

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = _check_http_url(value.strip(), "base_url").rstrip("/")
        if urlsplit(value).path.rstrip("/").endswith("/v2"):
            raise ValueError(f"base_url must not include /v2 (the client adds it), got {value!r}")
        if urlsplit(value).query or urlsplit(value).fragment:
            raise ValueError(f"base_url must not carry a query or fragment, got {value!r}")
        return value

    @field_validator("rate_limit_url")
    @classmethod
    def _rate_limit_url(cls, value: SecretStr | None) -> SecretStr | None:
        from billing_pipeline.qonto.ratelimit_postgres import is_postgres_url

        if value is not None and not is_postgres_url(value.get_secret_value()):
            # the value is never echoed: it holds a password
            raise ValueError("rate_limit_url must be a PostgreSQL URL (postgresql+psycopg://...)")
        return value

    @field_validator("staging_token")
    @classmethod
    def _staging(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            if not value.get_secret_value().strip():
                raise ValueError("staging_token must not be empty (use None for production)")
            register_secret(value.get_secret_value())
        return value

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def api_host(self) -> str:
        return urlsplit(self.base_url).hostname or ""
