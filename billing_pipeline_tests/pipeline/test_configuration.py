"""One source of configuration: the settings' declarations drive ``from_env`` and both resources."""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import get_args, get_origin

import dagster as dg
import pytest
from pydantic import SecretStr

from billing_pipeline.definitions import build_billing_resource, build_qonto_resource
from billing_pipeline.defs.resources import BillingResource, QontoResource, resource_config
from billing_pipeline.invoicing.connection import QontoConnection
from billing_pipeline.settings import (
    BILLING,
    QONTO,
    QONTO_SERVER,
    BillingSettings,
    QontoMode,
    qonto_mode,
    usage_source,
)

# the variables of contracts.md / README, the field each sets and a value that is not its default
CONTRACT = {
    "BILLING_DATA_DIR": ("data_dir", "in", Path("in")),
    "BILLING_INVOICES_DIR": ("invoices_dir", "out", Path("out")),
    "BILLING_STATE_DIR": ("state_dir", "st", Path("st")),
    "BILLING_TIMEZONE": ("timezone", "America/New_York", "America/New_York"),
    "BILLING_FIRST_PERIOD": ("first_period", "2025-01", "2025-01"),
    "QONTO_EMULATOR_RENDER_DELAY": ("emulator_render_delay_s", "0.5", 0.5),
    "QONTO_EMULATOR_EINVOICING_DELAY": ("emulator_einvoicing_delay_s", "0.25", 0.25),
    "BILLING_SCHEDULE_DAY": ("schedule_day_of_month", "5", 5),
    "BILLING_SCHEDULE_HOUR": ("schedule_hour", "7", 7),
    "BILLING_AUTO_FINALIZE": ("auto_finalize", "false", False),
    "BILLING_BILL_WITHOUT_USAGE": ("bill_customers_without_usage", "true", True),
    "BILLING_USAGE_TABLE": ("usage_table", "events", "events"),
    "BILLING_USAGE_SCHEMA": ("usage_schema", "raw", "raw"),
    "BILLING_IN_FLIGHT_GRACE_S": ("in_flight_grace_s", "5", 5.0),
    "BILLING_REISSUE_CANCELED": ("reissue_canceled", "true", True),
    "BILLING_CORRECTIONS": ("corrections", "review", "review"),
    "QONTO_BASE_URL": ("base_url", "http://127.0.0.1:9", "http://127.0.0.1:9"),
}
SECRETS = {
    "BILLING_LEDGER_URL": "ledger_url",
    "BILLING_USAGE_URL": "usage_url",
    "QONTO_API_KEY": "api_key",
    "QONTO_OAUTH_CLIENT_ID": "oauth_client_id",
    "QONTO_OAUTH_CLIENT_SECRET": "oauth_client_secret",
    "QONTO_OAUTH_REFRESH_TOKEN": "oauth_refresh_token",
    "QONTO_STAGING_TOKEN": "staging_token",
}


def test_defaults_are_the_documented_ones() -> None:
    settings = BillingSettings.from_env({})
    assert settings.data_dir == Path("data") and settings.resolved_invoices_dir == Path("data/invoices")
    assert settings.state_dir == Path(".state") and settings.timezone == "Europe/Paris"
    assert (settings.first_period, settings.schedule_day_of_month, settings.schedule_hour) == ("2026-08", 3, 6)
    assert settings.auto_finalize is True and settings.bill_customers_without_usage is False
    assert settings.emulator_render_delay_s == 10.0 and settings.in_flight_grace_s == 60.0
    assert (settings.usage_table, settings.usage_schema, settings.usage_url) == ("usage_events", None, None)
    assert settings.resolved_ledger_url == f"sqlite:///{Path('.state/ledger.sqlite').resolve()}"
    assert settings.qonto_mode == QontoMode.EMULATOR


@pytest.mark.parametrize("variable", sorted(CONTRACT))
def test_every_documented_variable_sets_its_field(variable: str) -> None:
    field, raw, expected = CONTRACT[variable]
    assert getattr(BillingSettings.from_env({variable: f" {raw} "}), field) == expected


def test_every_documented_variable_is_declared_once() -> None:
    # one-directional: a new setting is one line in settings.py, this table need not follow
    declared = [variable.variable for _, variable in BillingSettings.declarations()]
    assert len(declared) == len(set(declared))
    assert {variable.variable: name for name, variable in BillingSettings.declarations()}.items() >= (
        {v: f for v, (f, _, _) in CONTRACT.items()} | SECRETS
    ).items()


def test_secrets_are_kept_out_of_reprs_but_usable() -> None:
    env = {variable: f"postgresql://u:pw-{field}@h/db" for variable, field in SECRETS.items()}
    settings = BillingSettings.from_env(env)
    assert "pw-" not in repr(settings) and "pw-" not in str(settings.model_dump())
    assert settings.resolved_ledger_url == env["BILLING_LEDGER_URL"]
    source = usage_source(settings)
    assert source is not None


def test_a_blank_variable_counts_as_unset() -> None:
    settings = BillingSettings.from_env({"BILLING_LEDGER_URL": " ", "QONTO_API_KEY": "", "BILLING_DATA_DIR": ""})
    assert settings.ledger_url is None and settings.data_dir == Path("data")
    assert settings.qonto_mode == QontoMode.EMULATOR
    assert "ledger_url" not in resource_config(settings, BILLING, environ={"BILLING_LEDGER_URL": " "})


@pytest.mark.parametrize(
    ("present", "mode"),
    [
        ({}, QontoMode.EMULATOR),
        ({"QONTO_BASE_URL": "http://x", "QONTO_STAGING_TOKEN": "t"}, QontoMode.EMULATOR),
        ({"QONTO_OAUTH_CLIENT_ID": "i", "QONTO_OAUTH_CLIENT_SECRET": "s"}, QontoMode.EMULATOR),
        ({"QONTO_API_KEY": "l:k", "QONTO_BASE_URL": "http://x"}, QontoMode.CUSTOM),
        (
            {"QONTO_OAUTH_REFRESH_TOKEN": "r", "QONTO_BASE_URL": "http://x", "QONTO_STAGING_TOKEN": "t"},
            QontoMode.CUSTOM,
        ),
        ({"QONTO_API_KEY": "l:k", "QONTO_STAGING_TOKEN": "t"}, QontoMode.SANDBOX),
        ({"QONTO_API_KEY": "l:k"}, QontoMode.PRODUCTION),
        ({"QONTO_OAUTH_REFRESH_TOKEN": "r"}, QontoMode.PRODUCTION),
    ],
)
def test_the_mode_follows_which_variables_are_present(present: dict[str, str], mode: QontoMode) -> None:
    assert qonto_mode(present) == mode
    assert BillingSettings.from_env(present).qonto_mode == mode


def test_the_mode_is_answered_even_when_another_setting_is_invalid() -> None:
    assert qonto_mode({"QONTO_API_KEY": "l:k", "BILLING_TIMEZONE": "Mars/Olympus"}) == QontoMode.PRODUCTION


def _config_annotation(annotation: object) -> object:
    """What a setting's type becomes in Dagster config: paths and secrets are strings (a secret as an EnvVar)."""
    if annotation in (Path, SecretStr):
        return str
    if get_origin(annotation) is UnionType:
        return _config_annotation(get_args(annotation)[0]) | None
    return annotation


@pytest.mark.parametrize(
    ("resource", "targets", "own"),
    [(BillingResource, (BILLING,), set()), (QontoResource, (QONTO, QONTO_SERVER), {"mode"})],
)
def test_resources_declare_exactly_the_settings_they_receive_with_their_defaults(
    resource: type[dg.ConfigurableResource], targets: tuple[str, ...], own: set[str]
) -> None:
    defaults = BillingSettings()
    received = {name: (declared, value) for t in targets for name, declared, value in defaults.for_resource(t)}
    # no setting missing, none extra: a setting added for a resource needs its field, and only there
    assert set(resource.model_fields) - own == set(received)
    for name, (declared, value) in received.items():
        field = resource.model_fields[name]
        assert field.default == (None if declared.secret else (str(value) if isinstance(value, Path) else value))
        assert field.annotation == _config_annotation(BillingSettings.model_fields[name].annotation), name
        assert declared.variable in (field.description or "")


def test_the_connection_takes_its_defaults_from_the_settings() -> None:
    for name in ("emulator_render_delay_s", "emulator_einvoicing_delay_s", "max_concurrency"):
        assert QontoConnection.model_fields[name].default == BillingSettings.model_fields[name].default
    assert set(QontoConnection.model_fields) - {"mode"} <= set(QontoResource.model_fields)


def test_resources_keep_the_defaults_tests_rely_on() -> None:
    # the defaults that tests rely on when they build a resource by hand
    assert BillingResource().invoices_dir == "data/invoices" and BillingResource().ledger_url is None
    assert QontoResource().mode == "emulator" and QontoResource().max_concurrency == 24


def test_a_resource_is_built_from_the_settings_with_secrets_as_variable_names(tmp_path: Path) -> None:
    env = {variable: f"value-of-{variable}" for variable in SECRETS} | {"BILLING_STATE_DIR": str(tmp_path)}
    settings = BillingSettings.from_env(env)
    billing = build_billing_resource(settings)
    assert billing.state_dir == str(tmp_path) and billing.invoices_dir == "data/invoices"
    for name in ("ledger_url", "usage_url"):
        value = getattr(billing, name)
        assert isinstance(value, dg.EnvVar) and value.env_var_name == f"BILLING_{name.upper()}"
    qonto = build_qonto_resource(settings, QontoMode.SANDBOX)
    assert qonto.mode == "sandbox" and qonto.state_dir == str(tmp_path)
    for variable, name in SECRETS.items():
        if variable.startswith("QONTO_"):
            assert isinstance(getattr(qonto, name), dg.EnvVar) and getattr(qonto, name).env_var_name == variable


def test_unset_secrets_are_left_out_and_the_emulator_never_names_the_users_credentials() -> None:
    settings = BillingSettings.from_env({"QONTO_API_KEY": "l:k", "QONTO_BASE_URL": "http://x"})
    assert not {"ledger_url", "usage_url"} & set(resource_config(settings, BILLING, environ={}))
    emulated = build_qonto_resource(settings, QontoMode.EMULATOR)
    assert emulated.api_key is None and emulated.base_url is None
    custom = build_qonto_resource(settings, QontoMode.CUSTOM)
    assert custom.base_url == "http://x" and isinstance(custom.api_key, dg.EnvVar) and custom.staging_token is None


def test_resolved_resources_hand_the_values_to_the_dagster_free_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    monkeypatch.setenv("BILLING_LEDGER_URL", ledger_url)
    monkeypatch.setenv("QONTO_API_KEY", "login:secret")
    settings = BillingSettings.from_env({"BILLING_STATE_DIR": str(tmp_path), "QONTO_API_KEY": "login:secret"})
    resources = {
        "billing": build_billing_resource(settings),
        "qonto": build_qonto_resource(settings, QontoMode.PRODUCTION),
    }
    with dg.build_resources(resources) as resolved:
        assert resolved.billing.settings().resolved_ledger_url == ledger_url
        assert resolved.billing.ledger().url == ledger_url
        connection = resolved.qonto.connection()
        assert connection.api_key is not None and connection.api_key.get_secret_value() == "login:secret"
        assert connection.mode == QontoMode.PRODUCTION and connection.state_dir == tmp_path
        assert resolved.billing.usage_source() is None


def test_by_hand_resources_keep_their_keyword_arguments(tmp_path: Path) -> None:
    billing = BillingResource(
        data_dir=str(tmp_path), invoices_dir=str(tmp_path / "out"), state_dir=str(tmp_path), timezone="UTC",
        in_flight_grace_s=1.5, ledger_url="", usage_url="sqlite:///x.sqlite",
    )  # fmt: skip
    assert billing.settings().resolved_ledger_url == f"sqlite:///{(tmp_path / 'ledger.sqlite').resolve()}"
    assert billing.in_flight_grace_s == 1.5 and billing.usage_source() is not None
    qonto = QontoResource(mode="custom", base_url="http://127.0.0.1:9", api_key="l:k", state_dir=str(tmp_path))
    assert not qonto.is_emulated and qonto.connection().resolved_base_url() == "http://127.0.0.1:9"
    assert QontoResource(state_dir=str(tmp_path)).is_emulated
