"""Stage 6 — delivery: every verified invoice sent once, followed by the lifecycle sensor."""

import dagster as dg

from billing_pipeline.defs.delivery.assets import build_assets
from billing_pipeline.defs.delivery.sensor import delivery_lifecycle_sensor
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx), sensors=[delivery_lifecycle_sensor])
