"""The definitions the tests use, built from the settings' defaults — never from the environment the
tests happen to run in. A test that needs other settings builds its own with ``assets_for(settings)``
or ``build_definitions(settings)``.

``BILLING_ASSETS`` keeps the order tests slice (``[:3]`` up to the drafts, ``[:4]`` up to finalization).
"""

from __future__ import annotations

import dagster as dg

from billing_pipeline.definitions import build_definitions
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.defs.stages import STAGES
from billing_pipeline.settings import BillingSettings

DEFAULT_SETTINGS = BillingSettings()


def assets_for(settings: BillingSettings = DEFAULT_SETTINGS) -> dict[str, dg.AssetsDefinition]:
    """Every stage's assets built for ``settings``, by asset key."""
    ctx = StageContext.from_settings(settings)
    built = [asset for stage in STAGES for asset in stage.build_defs(ctx).assets or []]
    return {asset.key.to_user_string(): asset for asset in built if isinstance(asset, dg.AssetsDefinition)}


ASSETS = assets_for()
billable_usage = ASSETS["billable_usage"]
qonto_preflight = ASSETS["qonto_preflight"]
qonto_clients = ASSETS["qonto_clients"]
draft_invoices = ASSETS["draft_invoices"]
finalized_invoices = ASSETS["finalized_invoices"]
facturx_files = ASSETS["facturx_files"]
delivered_invoices = ASSETS["delivered_invoices"]
invoice_corrections = ASSETS["invoice_corrections"]
payments = ASSETS["payments"]
receivables = ASSETS["receivables"]

BILLING_ASSETS = [
    billable_usage,
    qonto_clients,
    draft_invoices,
    finalized_invoices,
    facturx_files,
    delivered_invoices,
    invoice_corrections,
]
PAYMENT_ASSETS = [payments, receivables]

# the whole code location of the default settings (jobs, schedules, sensors, resources)
DEFS = build_definitions(DEFAULT_SETTINGS)
