"""The one registry of stages, in lineage order: adding a stage is one entry here (and its folders).

Each entry is a stage package exposing ``build_defs(ctx: StageContext) -> dg.Definitions``
(``defs/stage.py``). The order is the order of the billing steps (how the UI and the docs list them);
the asset graph itself comes from each asset's declared dependencies.
"""

from __future__ import annotations

from billing_pipeline.defs import (
    clients,
    corrections,
    delivery,
    documents,
    drafts,
    finalization,
    payments,
    preflight,
    usage,
)
from billing_pipeline.defs.stage import Stage

STAGES: tuple[Stage, ...] = (
    usage,
    preflight,
    clients,
    drafts,
    finalization,
    documents,
    corrections,
    delivery,
    payments,
)
