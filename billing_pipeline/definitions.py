"""The one place that assembles the code location (``workspace.yaml`` points here).

The resources are built from the settings (``resource_config``), nothing copied by hand. The Qonto
mode is chosen from which variables are *present*; secret-capable values travel only as ``EnvVar``s,
resolved inside the run, so the UI, run config and logs show names, never secrets.
"""

from __future__ import annotations

import dagster as dg

from billing_pipeline.defs.catalog import BILLING_ASSETS
from billing_pipeline.defs.delivery.sensor import delivery_lifecycle_sensor
from billing_pipeline.defs.documents.sensor import facturx_attachment_sensor
from billing_pipeline.defs.jobs import (
    bill_period,
    facturx_collection,
    invoice_delivery,
    monthly_invoicing,
    monthly_invoicing_schedule,
    payment_matching,
    payment_matching_schedule,
)
from billing_pipeline.defs.partitions import SETTINGS
from billing_pipeline.defs.payments.assets import PAYMENT_ASSETS
from billing_pipeline.defs.payments.sensor import payments_sensor
from billing_pipeline.defs.resources import BillingResource, QontoResource, resource_config
from billing_pipeline.invoicing.connection import EMULATOR_NOTICE
from billing_pipeline.settings import BILLING, QONTO, QONTO_SERVER, BillingSettings, QontoMode


def build_qonto_resource(settings: BillingSettings, mode: QontoMode) -> QontoResource:
    # the embedded emulator has its own public local credentials: the user's are not even named
    targets = (QONTO,) if mode == QontoMode.EMULATOR else (QONTO, QONTO_SERVER)
    return QontoResource(mode=mode.value, **resource_config(settings, *targets))


def build_billing_resource(settings: BillingSettings) -> BillingResource:
    return BillingResource(**resource_config(settings, BILLING))


def _announce_emulation(spec: dg.AssetSpec) -> dg.AssetSpec:
    return spec.replace_attributes(description=f"⚠ {EMULATOR_NOTICE}.\n\n{spec.description}")


def build_definitions(settings: BillingSettings = SETTINGS, mode: QontoMode | None = None) -> dg.Definitions:
    mode = mode or settings.qonto_mode
    assets = [*BILLING_ASSETS, *PAYMENT_ASSETS]
    if mode == QontoMode.EMULATOR:
        assets = dg.map_asset_specs(_announce_emulation, assets)
    return dg.Definitions(
        assets=assets,
        jobs=[monthly_invoicing, bill_period, facturx_collection, invoice_delivery, payment_matching],
        schedules=[monthly_invoicing_schedule, payment_matching_schedule],
        sensors=[facturx_attachment_sensor, delivery_lifecycle_sensor, payments_sensor],
        resources={"qonto": build_qonto_resource(settings, mode), "billing": build_billing_resource(settings)},
    )


defs = build_definitions()
