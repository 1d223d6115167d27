"""The one place that assembles the code location (``workspace.yaml`` points at this module).

``build_definitions(settings)`` builds everything — partitions, every stage's assets with their
checks and sensors (``defs/stages.py``), the jobs and schedules (``defs/jobs.py``), the resources —
from its argument alone, so two definitions with different settings can live in one process.

The environment is read when Dagster *loads* the code location, by the ``@dg.definitions``-decorated
``code_location`` below — never at import. Dagster 1.13 loads such a function from a module
(``dagster/_core/workspace/autodiscovery.py`` prefers a module-level ``LazyDefinitions`` over a
``Definitions`` object; the code server calls it when it loads, ``_grpc/utils.py``; a run worker calls
it through its code pointer, ``reconstruct.py``), and so do
``dagster dev -w workspace.yaml``, ``dagster definitions validate`` and ``dagster asset materialize -m
billing_pipeline.definitions``. We chose it over a module-level ``defs = build_definitions(...)``
because importing this module then has no effect: a test or a command imports ``build_definitions``
and passes its own settings, and an invalid environment (a mistyped time zone) fails the load with
its message rather than any import of the package.

The resources are built from the settings (``resource_config``), nothing copied by hand. The Qonto
mode is chosen from which variables are *present*; secret-capable values travel only as ``EnvVar``s,
resolved inside the run, so the UI, run config and logs show names, never secrets.
"""

from __future__ import annotations

import dagster as dg

from billing_pipeline.defs.io_managers import io_manager_resources
from billing_pipeline.defs.jobs import build_jobs
from billing_pipeline.defs.resources import BillingResource, QontoResource, resource_config
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.defs.stages import STAGES
from billing_pipeline.invoicing.connection import EMULATOR_NOTICE
from billing_pipeline.settings import BILLING, QONTO, QONTO_SERVER, BillingSettings, QontoMode


def build_qonto_resource(settings: BillingSettings, mode: QontoMode) -> QontoResource:
    # the embedded emulator has its own public local credentials: the user's are not even named
    targets = (QONTO,) if mode == QontoMode.EMULATOR else (QONTO, QONTO_SERVER)
    return QontoResource(mode=mode.value, **resource_config(settings, *targets))


def build_billing_resource(settings: BillingSettings) -> BillingResource:
    return BillingResource(**resource_config(settings, BILLING))


def _announce_emulation(spec: dg.AssetSpec) -> dg.AssetSpec:
    return spec.replace_attributes(description=f"⚠ {EMULATOR_NOTICE}.\n\n{spec.description}")


def _announced(stage: dg.Definitions) -> dg.Definitions:
    """A stage's definitions with every asset description announcing the emulator."""
    assets = list(stage.assets or [])
    specs = [a for a in assets if isinstance(a, dg.AssetsDefinition | dg.AssetSpec)]
    others = [a for a in assets if not isinstance(a, dg.AssetsDefinition | dg.AssetSpec)]
    return dg.Definitions(
        assets=[*dg.map_asset_specs(_announce_emulation, specs), *others],
        asset_checks=stage.asset_checks,
        sensors=stage.sensors,
        schedules=stage.schedules,
        jobs=stage.jobs,
    )


def build_definitions(settings: BillingSettings, mode: QontoMode | None = None) -> dg.Definitions:
    """The code location for ``settings``; ``mode`` overrides the Qonto mode the settings imply."""
    mode = mode or settings.qonto_mode
    ctx = StageContext.from_settings(settings)
    stages = [stage.build_defs(ctx) for stage in STAGES]
    if mode == QontoMode.EMULATOR:
        stages = [_announced(stage) for stage in stages]
    resources = {
        "qonto": build_qonto_resource(settings, mode),
        "billing": build_billing_resource(settings),
        # an object store when BILLING_IO_MANAGER says so (Kubernetes); else Dagster's filesystem default
        **io_manager_resources(settings),
    }
    return dg.Definitions.merge(*stages, build_jobs(ctx), dg.Definitions(resources=resources))


@dg.definitions
def code_location() -> dg.Definitions:
    """What Dagster loads: the definitions of the settings in the environment, read now."""
    return build_definitions(BillingSettings.from_env())

