"""Stage 3 — drafts: one draft invoice per customer and period."""

import dagster as dg

from billing_pipeline.defs.drafts.assets import build_assets
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx))
