"""Stage 0 — preflight: Qonto ready for billing before the first write of a period."""

import dagster as dg

from billing_pipeline.defs.preflight.assets import build_assets
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx))
