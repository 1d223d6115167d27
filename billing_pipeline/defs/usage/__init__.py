"""Stage 1 — usage: the period's usage events priced into one invoice plan per customer."""

import dagster as dg

from billing_pipeline.defs.stage import StageContext
from billing_pipeline.defs.usage.assets import build_assets


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx))
