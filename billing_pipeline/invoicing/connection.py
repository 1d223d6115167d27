"""Open a Qonto client for the configured mode: embedded emulator, a given server, sandbox or production.

The embedded emulator runs in-process (an ASGI transport, no socket) on a SQLite state file in the
state directory, so the UI's runs, the sensor and ``billing-pipeline bill`` all see the same
emulated Qonto. Its credentials are the emulator's public local ones, never the user's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.config import (
    PRODUCTION_BASE_URL,
    PRODUCTION_OAUTH_TOKEN_URL,
    SANDBOX_BASE_URL,
    SANDBOX_OAUTH_TOKEN_URL,
    ApiKeyAuth,
    OAuthAuth,
    QontoConfig,
)
from billing_pipeline.qonto.ratelimit_postgres import is_postgres_url
from billing_pipeline.settings import QONTO, QONTO_SERVER, BillingSettings, QontoMode

# the connection's defaults are the settings' (declared once, in settings.py)
_SETTINGS = BillingSettings.model_fields

EMULATOR_NOTICE = (
    "EMULATED: no Qonto credentials are set, so invoices go to the local Qonto emulator "
    "(not real invoices, nothing is sent to Qonto)"
)


class QontoConnection(BaseModel):
    model_config = ConfigDict(frozen=True)

    mode: QontoMode
    state_dir: Path
    base_url: str | None = None
    api_key: SecretStr | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None
    staging_token: SecretStr | None = None
    emulator_render_delay_s: float = _SETTINGS["emulator_render_delay_s"].default
    emulator_einvoicing_delay_s: float = _SETTINGS["emulator_einvoicing_delay_s"].default
    max_concurrency: int = _SETTINGS["max_concurrency"].default
    rate_limit_10s: int = _SETTINGS["rate_limit_10s"].default
    rate_limit_10min: int = _SETTINGS["rate_limit_10min"].default
    ledger_url: SecretStr | None = None

    @classmethod
    def from_settings(cls, settings: BillingSettings) -> QontoConnection:
        """The connection a command outside Dagster opens (``billing-pipeline check``): the values the
        ``qonto`` resource receives, the user's credentials only when a server is reached."""
        targets = (QONTO,) if settings.qonto_mode == QontoMode.EMULATOR else (QONTO, QONTO_SERVER)
        values: dict[str, Any] = {"mode": settings.qonto_mode}
        for target in targets:
            for name, _, value in settings.for_resource(target):
                unwrap = name in cls.model_fields and cls.model_fields[name].annotation == (str | None)
                values[name] = value.get_secret_value() if unwrap and isinstance(value, SecretStr) else value
        return cls.model_validate(values)

    def describe(self) -> str:
        """A human label for logs and the UI, without any secret."""
        if self.mode == QontoMode.EMULATOR:
            return EMULATOR_NOTICE
        return f"Qonto {self.mode.value} at {self.resolved_base_url()}"

    def resolved_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        return SANDBOX_BASE_URL if self.mode == QontoMode.SANDBOX else PRODUCTION_BASE_URL

    def _auth(self) -> ApiKeyAuth | OAuthAuth:
        if self.oauth_refresh_token is not None:
            if not (self.oauth_client_id and self.oauth_client_secret):
                raise ValueError("OAuth needs QONTO_OAUTH_CLIENT_ID and QONTO_OAUTH_CLIENT_SECRET too")
            token_url = SANDBOX_OAUTH_TOKEN_URL if self.mode == QontoMode.SANDBOX else PRODUCTION_OAUTH_TOKEN_URL
            if self.mode == QontoMode.CUSTOM:
                token_url = f"{self.resolved_base_url()}/oauth2/token"
            return OAuthAuth(
                client_id=self.oauth_client_id,
                client_secret=self.oauth_client_secret,
                refresh_token=self.oauth_refresh_token,
                token_store_path=self.state_dir / "qonto-oauth-tokens.json",
                token_url=token_url,
            )
        if self.api_key is None:
            raise ValueError("set QONTO_API_KEY (login:secret-key) or the QONTO_OAUTH_* variables")
        return ApiKeyAuth.parse(self.api_key.get_secret_value())

    def _budget(self) -> dict[str, Any]:
        """Where the request budget is kept: with the ledger on PostgreSQL, there, shared by every
        machine behind the egress IP; else a SQLite file shared by the processes of this machine."""
        budget: dict[str, Any] = {"rate_limit_10s": self.rate_limit_10s, "rate_limit_10min": self.rate_limit_10min}
        if self.ledger_url is not None and is_postgres_url(self.ledger_url.get_secret_value()):
            budget["rate_limit_url"] = self.ledger_url
        else:
            budget["rate_limit_db"] = self.state_dir / "qonto-rate-limit.sqlite"
        return budget

    def client_config(self) -> QontoConfig:
        """The client configuration for a real (or user-started) Qonto server."""
        if self.mode == QontoMode.EMULATOR:
            raise ValueError("the embedded emulator is reached in-process: use open()")
        return QontoConfig(
            base_url=self.resolved_base_url(),
            auth=self._auth(),
            staging_token=self.staging_token,
            max_concurrency=self.max_concurrency,
            **self._budget(),
        )

    def open(self) -> QontoClient:
        """A client to use as ``async with connection.open() as qonto:``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.mode != QontoMode.EMULATOR:
            return QontoClient(self.client_config())
        # imported here only: the pipeline starts the emulator, it never depends on it otherwise
        from billing_pipeline.emulator.embedded import start_embedded

        emulator = start_embedded(
            self.state_dir / "qonto-emulator.sqlite",
            render_delay_s=self.emulator_render_delay_s,
            einvoicing_delay_s=self.emulator_einvoicing_delay_s,
        )
        config = QontoConfig(
            base_url=emulator.base_url,
            auth=ApiKeyAuth.parse(emulator.api_key),
            max_concurrency=self.max_concurrency,
            **self._budget(),
        )
        return QontoClient(config, transport=emulator.transport, download_transport=emulator.transport)
