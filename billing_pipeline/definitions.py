"""The one place that assembles the code location (``workspace.yaml`` points here).

The Qonto mode is chosen from which variables are *present*; their values travel only as
``EnvVar``s, resolved inside the run, so the UI, run config and logs show names, never secrets.
"""

from __future__ import annotations

import os

import dagster as dg

from billing_pipeline.defs.assets import BILLING_ASSETS
from billing_pipeline.defs.jobs import bill_period, facturx_collection, monthly_invoicing, monthly_invoicing_schedule
from billing_pipeline.defs.partitions import SETTINGS
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.defs.sensors import facturx_attachment_sensor
from billing_pipeline.invoicing.connection import EMULATOR_NOTICE
from billing_pipeline.settings import BillingSettings, QontoMode, qonto_mode

_SECRET_VARIABLES = {
    "api_key": "QONTO_API_KEY",
    "oauth_client_id": "QONTO_OAUTH_CLIENT_ID",
    "oauth_client_secret": "QONTO_OAUTH_CLIENT_SECRET",
    "oauth_refresh_token": "QONTO_OAUTH_REFRESH_TOKEN",
    "staging_token": "QONTO_STAGING_TOKEN",
}


def build_qonto_resource(settings: BillingSettings, mode: QontoMode) -> QontoResource:
    common = {
        "mode": mode.value,
        "state_dir": str(settings.state_dir),
        "emulator_render_delay_s": settings.emulator_render_delay_s,
    }
    if mode == QontoMode.EMULATOR:
        return QontoResource(**common)
    secrets = {field: dg.EnvVar(name) for field, name in _SECRET_VARIABLES.items() if os.environ.get(name)}
    return QontoResource(**common, base_url=os.environ.get("QONTO_BASE_URL") or None, **secrets)


def build_billing_resource(settings: BillingSettings) -> BillingResource:
    return BillingResource(
        data_dir=str(settings.data_dir),
        invoices_dir=str(settings.resolved_invoices_dir),
        state_dir=str(settings.state_dir),
        timezone=settings.timezone,
        ledger_url=settings.ledger_url or "",
        bill_customers_without_usage=settings.bill_customers_without_usage,
        usage_url=dg.EnvVar("BILLING_USAGE_URL") if settings.usage_url else None,
        usage_table=settings.usage_table,
        usage_schema=settings.usage_schema,
        in_flight_grace_s=settings.in_flight_grace_s,
    )


def _announce_emulation(spec: dg.AssetSpec) -> dg.AssetSpec:
    return spec.replace_attributes(description=f"⚠ {EMULATOR_NOTICE}.\n\n{spec.description}")


def build_definitions(settings: BillingSettings = SETTINGS, mode: QontoMode | None = None) -> dg.Definitions:
    mode = mode or qonto_mode()
    assets = BILLING_ASSETS
    if mode == QontoMode.EMULATOR:
        assets = dg.map_asset_specs(_announce_emulation, BILLING_ASSETS)
    return dg.Definitions(
        assets=assets,
        jobs=[monthly_invoicing, bill_period, facturx_collection],
        schedules=[monthly_invoicing_schedule],
        sensors=[facturx_attachment_sensor],
        resources={"qonto": build_qonto_resource(settings, mode), "billing": build_billing_resource(settings)},
    )


defs = build_definitions()
