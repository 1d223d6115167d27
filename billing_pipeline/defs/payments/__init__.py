"""Payments: transfers matched to invoices, then receivables; fed by the transactions sensor."""

import dagster as dg

from billing_pipeline.defs.payments.assets import build_assets
from billing_pipeline.defs.payments.sensor import payments_sensor
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx), sensors=[payments_sensor])
