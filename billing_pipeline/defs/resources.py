"""Dagster resources: thin wrappers that turn configuration into the Dagster-free objects.

Secrets reach ``QontoResource`` as ``EnvVar``s (see ``definitions.py``): the UI and run config show
the variable's name, never its value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
from pydantic import PrivateAttr, SecretStr

from billing_pipeline.billing.sql_usage import SqlUsageSource
from billing_pipeline.billing.usage import UsageSource
from billing_pipeline.invoicing.connection import QontoConnection
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.settings import QontoMode

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Dagster steps and sensors are synchronous; the Qonto client is async."""
    return asyncio.run(coroutine)


class QontoResource(dg.ConfigurableResource):
    """Where and how to reach Qonto. ``mode`` is decided from which variables are present."""

    mode: str = QontoMode.EMULATOR.value
    state_dir: str = ".state"
    base_url: str | None = None
    api_key: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_refresh_token: str | None = None
    staging_token: str | None = None
    emulator_render_delay_s: float = 10.0
    max_concurrency: int = 8

    def connection(self) -> QontoConnection:
        def secret(value: str | None) -> SecretStr | None:
            return SecretStr(value) if value else None

        return QontoConnection(
            mode=QontoMode(self.mode),
            state_dir=Path(self.state_dir),
            base_url=self.base_url or None,
            api_key=secret(self.api_key),
            oauth_client_id=self.oauth_client_id or None,
            oauth_client_secret=secret(self.oauth_client_secret),
            oauth_refresh_token=secret(self.oauth_refresh_token),
            staging_token=secret(self.staging_token),
            emulator_render_delay_s=self.emulator_render_delay_s,
            max_concurrency=self.max_concurrency,
        )

    @property
    def is_emulated(self) -> bool:
        return self.mode == QontoMode.EMULATOR.value


class BillingResource(dg.ConfigurableResource):
    """Inputs, outputs and the invoicing ledger."""

    data_dir: str = "data"
    invoices_dir: str = "data/invoices"
    state_dir: str = ".state"
    timezone: str = "Europe/Paris"
    ledger_url: str = ""
    bill_customers_without_usage: bool = False
    # usage from a SQL table (set from BILLING_USAGE_URL as an EnvVar: the URL may hold a password)
    usage_url: str | None = None
    usage_table: str = "usage_events"
    usage_schema: str | None = None
    # after an unanswered create, how long it may still land at Qonto (a re-run waits this out)
    in_flight_grace_s: float = 60.0

    _ledger: Ledger | None = PrivateAttr(default=None)

    def ledger(self) -> Ledger:
        if self._ledger is None:
            url = self.ledger_url or f"sqlite:///{(Path(self.state_dir) / 'ledger.sqlite').resolve()}"
            self._ledger = Ledger(url, lock_dir=Path(self.state_dir) / "locks")
        return self._ledger

    def usage_source(self) -> UsageSource | None:
        if not self.usage_url:
            return None
        return SqlUsageSource(self.usage_url, self.usage_table, self.usage_schema)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._ledger is not None:
            self._ledger.dispose()
