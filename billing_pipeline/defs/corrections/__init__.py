"""Stage 4b — corrections: credit notes and replacements after a finalized period's usage changed."""

import dagster as dg

from billing_pipeline.defs.corrections.assets import build_assets
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx))
