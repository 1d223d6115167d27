"""Dagster resources: thin wrappers that turn configuration into the Dagster-free objects.

Their settings fields are not written here: they are generated from the declarations of
``BillingSettings`` (name, type, default, environment variable), so a setting is declared once.
A secret-capable setting reaches Dagster only as ``dg.EnvVar(<its variable>)`` (``resource_config``):
the UI and run config show the variable's name, never its value.
"""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import dagster as dg
from pydantic import Field, PrivateAttr, SecretStr, create_model

from billing_pipeline.billing.mentions import LegalMentions
from billing_pipeline.billing.usage import UsageSource
from billing_pipeline.invoicing.connection import QontoConnection
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.settings import BILLING, QONTO, QONTO_SERVER, BillingSettings, QontoMode, usage_source

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Dagster steps and sensors are synchronous; the Qonto client is async."""
    return asyncio.run(coroutine)


def _config_type(annotation: Any) -> Any:
    """Dagster config knows strings, not paths nor SecretStr (a secret arrives as an EnvVar string)."""
    if annotation in (Path, SecretStr):
        return str
    if get_origin(annotation) in (Union, types.UnionType):
        return Union[tuple(_config_type(arg) for arg in get_args(annotation))]  # noqa: UP007 (built at runtime)
    return annotation


def _config_value(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _settings_fields(*resources: str) -> dict[str, Any]:
    """The config fields a resource gets from the settings, with the settings' defaults."""
    defaults = BillingSettings()
    fields: dict[str, Any] = {}
    for resource in resources:
        for name, declared, value in defaults.for_resource(resource):
            annotation = _config_type(BillingSettings.model_fields[name].annotation)
            default = None if declared.secret else _config_value(value)
            fields[name] = (annotation, Field(default=default, description=f"set by {declared.variable}"))
    return fields


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
                config[name] = _config_value(value)
            elif value is not None or env.get(declared.variable, "").strip():
                config[name] = dg.EnvVar(declared.variable)
    return config


def _blank_is_unset(value: Any) -> Any:
    return None if value == "" else value


_QontoSettings = create_model(  # type: ignore[call-overload]
    "_QontoSettings", __base__=dg.ConfigurableResource, **_settings_fields(QONTO, QONTO_SERVER)
)
_BillingSettings = create_model(  # type: ignore[call-overload]
    "_BillingSettings", __base__=dg.ConfigurableResource, **_settings_fields(BILLING)
)


class QontoResource(_QontoSettings):  # type: ignore[misc,valid-type]
    """Where and how to reach Qonto. ``mode`` is decided from which variables are present."""

    mode: str = QontoMode.EMULATOR.value

    def connection(self) -> QontoConnection:
        # same field names on both sides: the connection takes the resolved values (secrets as SecretStr)
        return QontoConnection.model_validate(
            {name: _blank_is_unset(getattr(self, name)) for name in QontoConnection.model_fields}
        )

    @property
    def is_emulated(self) -> bool:
        return self.mode == QontoMode.EMULATOR.value


class BillingResource(_BillingSettings):  # type: ignore[misc,valid-type]
    """Inputs, outputs and the invoicing ledger."""

    _ledger: Ledger | None = PrivateAttr(default=None)

    def settings(self) -> BillingSettings:
        """The settings this resource was configured with, resolved (secrets back to SecretStr)."""
        names = [name for name, _, _ in BillingSettings().for_resource(BILLING)]
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
