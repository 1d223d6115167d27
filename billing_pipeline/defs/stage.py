"""What every stage's definitions are built from, and what a stage package provides.

A stage package (``defs/<stage>/``) exposes ``build_defs(ctx: StageContext) -> dg.Definitions``: its
assets (with their checks) built for ``ctx.partitions``, and its sensor if it has one. Nothing in a
stage reads the environment: the settings arrive in ``ctx``, so two definitions built from different
settings can live in one process (tests, a headless run next to the code location).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import dagster as dg

from billing_pipeline.defs.partitions import billing_period_partitions
from billing_pipeline.settings import BillingSettings


@dataclass(frozen=True)
class StageContext:
    settings: BillingSettings
    # built once per definitions: every monthly asset shares the very same partitions definition
    partitions: dg.MonthlyPartitionsDefinition

    @classmethod
    def from_settings(cls, settings: BillingSettings) -> StageContext:
        return cls(settings=settings, partitions=billing_period_partitions(settings))


class Stage(Protocol):
    """A stage package: ``defs/<stage>/__init__.py`` defines this function."""

    def build_defs(self, ctx: StageContext) -> dg.Definitions: ...
