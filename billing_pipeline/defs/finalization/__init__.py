"""Stage 4 — finalization: the drafts numbered and locked by Qonto."""

import dagster as dg

from billing_pipeline.defs.finalization.assets import build_assets
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx))
