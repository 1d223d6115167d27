"""Stage 5 — documents: the verified Factur-X files, collected when the attachment sensor sees them rendered."""

import dagster as dg

from billing_pipeline.defs.documents.assets import build_assets
from billing_pipeline.defs.documents.sensor import facturx_attachment_sensor
from billing_pipeline.defs.stage import StageContext


def build_defs(ctx: StageContext) -> dg.Definitions:
    return dg.Definitions(assets=build_assets(ctx), sensors=[facturx_attachment_sensor])
