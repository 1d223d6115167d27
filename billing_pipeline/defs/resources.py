"""Dagster resources: thin wrappers that turn configuration into the Dagster-free objects.

Their settings fields are declared here, typed, but each default and each description comes from the
declaration in ``BillingSettings`` (``setting``): a default is written once, in ``settings.py``. A test
(``test_configuration.py``) holds each resource's fields equal to the settings declared for it.
A secret-capable setting reaches Dagster only as ``dg.EnvVar(<its variable>)`` (``resource_config``):
the UI and run config show the variable's name, never its value.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
from pydantic import Field, PrivateAttr

from billing_pipeline.billing.mentions import LegalMentions
from billing_pipeline.billing.usage import UsageSource
from billing_pipeline.invoicing.connection import QontoConnection
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.settings import BILLING, BillingSettings, QontoMode, env_setting, usage_source

T = TypeVar("T")

# the defaults a resource field takes: those of the settings (a default depending on other settings,
# e.g. the invoices dir under the data dir, resolved from the other defaults)
_DEFAULTS = BillingSettings()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Dagster steps and sensors are synchronous; the Qonto client is async."""
    return asyncio.run(coroutine)


def config_value(value: Any) -> Any:
    """Dagster config knows strings, not paths (a secret never gets here: it travels as an EnvVar)."""
    return str(value) if isinstance(value, Path) else value


def setting(name: str) -> Any:
    """The resource field of setting ``name``: its default and the variable that sets it."""
    declared = env_setting(BillingSettings.model_fields[name])
    assert declared is not None, f"{name} is not a declared setting"
    value = getattr(_DEFAULTS, f"resolved_{name}") if declared.resolved else getattr(_DEFAULTS, name)
    # a secret's default is never a value: unset, or an EnvVar naming its variable
    return Field(default=None if declared.secret else config_value(value), description=f"set by {declared.variable}")


def resource_config(
    settings: BillingSettings, *resources: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Keyword arguments for a resource built from ``settings``.

    A secret-capable setting becomes ``dg.EnvVar(variable)`` when it is set — in the settings or in
    the environment the code location loads from, which is where the EnvVar is resolved at run
    launch — and is left out (its default, None) otherwise: its value is never copied.
    """
    env = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for resource in resources:
        for name, declared, value in settings.for_resource(resource):
            if not declared.secret:
                config[name] = config_value(value)
            elif value is not None or env.get(declared.variable, "").strip():
                config[name] = dg.EnvVar(declared.variable)
    return config


def _blank_is_unset(value: Any) -> Any:
    return None if value == "" else value


class QontoResource(dg.ConfigurableResource):
    """Where and how to reach Qonto. ``mode`` is decided from which variables are present."""

    mode: str = QontoMode.EMULATOR.value
    # settings of the `qonto` resource
    state_dir: str = setting("state_dir")
    emulator_render_delay_s: float = setting("emulator_render_delay_s")
    emulator_einvoicing_delay_s: float = setting("emulator_einvoicing_delay_s")
    max_concurrency: int = setting("max_concurrency")
    rate_limit_10s: int = setting("rate_limit_10s")
    rate_limit_10min: int = setting("rate_limit_10min")
    # on PostgreSQL, where the request budget shared by every machine is kept
    ledger_url: str | None = setting("ledger_url")
    # settings of `qonto_server`: given only when a server is reached (never to the embedded emulator)
    base_url: str | None = setting("base_url")
    api_key: str | None = setting("api_key")
    oauth_client_id: str | None = setting("oauth_client_id")
    oauth_client_secret: str | None = setting("oauth_client_secret")
    oauth_refresh_token: str | None = setting("oauth_refresh_token")
    staging_token: str | None = setting("staging_token")

    def connection(self) -> QontoConnection:
        # same field names on both sides: the connection takes the resolved values (secrets as SecretStr)
        return QontoConnection.model_validate(
            {name: _blank_is_unset(getattr(self, name)) for name in QontoConnection.model_fields}
        )

    @property
    def is_emulated(self) -> bool:
        return self.mode == QontoMode.EMULATOR.value


class BillingResource(dg.ConfigurableResource):
    """Inputs, outputs and the invoicing ledger."""

    data_dir: str = setting("data_dir")
    invoices_dir: str | None = setting("invoices_dir")
    state_dir: str = setting("state_dir")
    timezone: str = setting("timezone")
    bill_customers_without_usage: bool = setting("bill_customers_without_usage")
    ledger_url: str | None = setting("ledger_url")
    usage_url: str | None = setting("usage_url")
    usage_table: str = setting("usage_table")
    usage_schema: str | None = setting("usage_schema")
    in_flight_grace_s: float = setting("in_flight_grace_s")
    render_follow_s: float = setting("render_follow_s")
    reissue_canceled: bool = setting("reissue_canceled")
    corrections: str = setting("corrections")
    reminder_days: str = setting("reminder_days")
    delivery: str = setting("delivery")
    transaction_type: str = setting("transaction_type")
    vat_payment_condition: str = setting("vat_payment_condition")
    late_payment_penalties: str = setting("late_payment_penalties")
    recovery_indemnity: str = setting("recovery_indemnity")
    discount_conditions: str = setting("discount_conditions")

    _ledger: Ledger | None = PrivateAttr(default=None)

    def settings(self) -> BillingSettings:
        """The settings this resource was configured with, resolved (secrets back to SecretStr)."""
        names = [name for name, _, _ in _DEFAULTS.for_resource(BILLING)]
        return BillingSettings.model_validate({name: _blank_is_unset(getattr(self, name)) for name in names})

    def ledger(self) -> Ledger:
        if self._ledger is None:
            settings = self.settings()
            self._ledger = Ledger(settings.resolved_ledger_url, lock_dir=settings.state_dir / "locks")
        return self._ledger

    def usage_source(self) -> UsageSource | None:
        return usage_source(self.settings())

    def legal_mentions(self) -> LegalMentions:
        return self.settings().legal_mentions()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._ledger is not None:
            self._ledger.dispose()
