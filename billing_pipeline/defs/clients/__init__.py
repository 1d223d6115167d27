"""Stage 2 — clients: one Qonto client per billed customer."""

import dagster as dg

from billing_pipeline.defs.clients.assets import build_assets
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx))
