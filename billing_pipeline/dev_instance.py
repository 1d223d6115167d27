"""The Dagster instance of ``make dev`` and of a headless ``bill`` without ``DAGSTER_HOME``.

One folder holding ``deploy/dagster.dev.yaml`` as its ``dagster.yaml`` (pools, run retries, run
monitoring with the worker health check of :mod:`billing_pipeline.run_monitoring`) and the writers'
pool limit set explicitly, like ``make dev``'s ``dagster instance concurrency set qonto_writes 1``
(two runs initializing a default limit at once race: dagster#33552).
"""

from __future__ import annotations

import shutil
from pathlib import Path

DEV_INSTANCE_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "dagster.dev.yaml"
WRITER_POOL = "qonto_writes"
WRITER_POOL_LIMIT = 1


def prepare_dev_home(home: Path) -> Path:
    """Create or refresh ``home`` as a ``make dev`` instance folder; returns it (absolute)."""
    import dagster as dg

    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if DEV_INSTANCE_CONFIG.exists() and (
        not config.exists() or config.read_bytes() != DEV_INSTANCE_CONFIG.read_bytes()
    ):
        shutil.copyfile(DEV_INSTANCE_CONFIG, config)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        if storage.supports_global_concurrency_limits and WRITER_POOL not in storage.get_concurrency_keys():
            storage.set_concurrency_slots(WRITER_POOL, WRITER_POOL_LIMIT)
    return home
