"""Runtime settings read from the environment (the variables of ../shared/contracts.md).

Only *where things are* and *how to behave* live here. Secrets are not read here: the Dagster layer
passes them as ``EnvVar`` so that their values never reach run config, the UI or logs. This module
only answers "is a credential present?" to pick the Qonto mode.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

from billing_pipeline.billing.sql_usage import SqlUsageSource
from billing_pipeline.billing.usage import UsageSource


class QontoMode(StrEnum):
    EMULATOR = "emulator"  # no credentials: the embedded local emulator, in-process
    CUSTOM = "custom"  # credentials + QONTO_BASE_URL: that server, treated exactly like Qonto
    SANDBOX = "sandbox"  # credentials + QONTO_STAGING_TOKEN
    PRODUCTION = "production"  # credentials only


class BillingSettings(BaseModel):
    data_dir: Path = Path("data")
    invoices_dir: Path | None = None
    state_dir: Path = Path(".state")
    timezone: str = "Europe/Paris"
    first_period: str = "2026-08"
    emulator_render_delay_s: float = 10.0
    schedule_day_of_month: int = Field(default=3, ge=1, le=28)
    schedule_hour: int = Field(default=6, ge=0, le=23)
    auto_finalize: bool = True
    bill_customers_without_usage: bool = False
    ledger_url: str | None = None
    # usage from a SQL table instead of files under <data dir>/usage (the URL may hold a password)
    usage_url: str | None = None
    usage_table: str = "usage_events"
    usage_schema: str | None = None
    # after an unanswered create, how long it may still land at Qonto (a re-run waits this out)
    in_flight_grace_s: float = Field(default=60.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises a clear ZoneInfoNotFoundError for a typo
        return value

    @property
    def resolved_invoices_dir(self) -> Path:
        return self.invoices_dir if self.invoices_dir is not None else self.data_dir / "invoices"

    @property
    def resolved_ledger_url(self) -> str:
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.state_dir / 'ledger.sqlite').resolve()}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> BillingSettings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        mapping = {
            "BILLING_DATA_DIR": "data_dir",
            "BILLING_INVOICES_DIR": "invoices_dir",
            "BILLING_STATE_DIR": "state_dir",
            "BILLING_TIMEZONE": "timezone",
            "BILLING_FIRST_PERIOD": "first_period",
            "QONTO_EMULATOR_RENDER_DELAY": "emulator_render_delay_s",
            "BILLING_SCHEDULE_DAY": "schedule_day_of_month",
            "BILLING_SCHEDULE_HOUR": "schedule_hour",
            "BILLING_AUTO_FINALIZE": "auto_finalize",
            "BILLING_BILL_WITHOUT_USAGE": "bill_customers_without_usage",
            "BILLING_LEDGER_URL": "ledger_url",
            "BILLING_USAGE_URL": "usage_url",
            "BILLING_USAGE_TABLE": "usage_table",
            "BILLING_USAGE_SCHEMA": "usage_schema",
            "BILLING_IN_FLIGHT_GRACE_S": "in_flight_grace_s",
        }
        for variable, field in mapping.items():
            if env.get(variable, "").strip():
                values[field] = env[variable].strip()
        return cls.model_validate(values)


def usage_source(settings: BillingSettings) -> UsageSource | None:
    """The SQL table when ``BILLING_USAGE_URL`` is set, else None (files under <data dir>/usage)."""
    if not settings.usage_url:
        return None
    return SqlUsageSource(settings.usage_url, settings.usage_table, settings.usage_schema)


def qonto_mode(environ: dict[str, str] | None = None) -> QontoMode:
    """Pick the Qonto mode from which variables are *present* (values are never read here)."""
    env = os.environ if environ is None else environ
    has_credentials = bool(env.get("QONTO_API_KEY")) or bool(env.get("QONTO_OAUTH_REFRESH_TOKEN"))
    if not has_credentials:
        return QontoMode.EMULATOR
    if env.get("QONTO_BASE_URL"):
        return QontoMode.CUSTOM
    if env.get("QONTO_STAGING_TOKEN"):
        return QontoMode.SANDBOX
    return QontoMode.PRODUCTION
