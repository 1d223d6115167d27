"""deploy/dagster.production.yaml: no literal connection detail, and it loads into a PostgreSQL-backed
instance with the queue, pools, retries and monitoring production relies on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from billing_pipeline_tests.postgres.conftest import PRODUCTION_INSTANCE_CONFIG, production_dagster_home
from billing_pipeline_tests.postgres.server import PostgresDatabase

CONNECTION_VARIABLES = {
    "hostname": "DAGSTER_PG_HOST",
    "port": "DAGSTER_PG_PORT",
    "username": "DAGSTER_PG_USER",
    "password": "DAGSTER_PG_PASSWORD",
    "db_name": "DAGSTER_PG_DB",
}


def _config() -> dict:
    return yaml.safe_load(PRODUCTION_INSTANCE_CONFIG.read_text())


def test_every_connection_detail_comes_from_the_environment() -> None:
    config = _config()
    assert set(config["storage"]) == {"postgres"}
    connection = config["storage"]["postgres"]["postgres_db"]
    scheme = connection.pop("scheme")
    assert connection == {field: {"env": variable} for field, variable in CONNECTION_VARIABLES.items()}
    # the driver dagster-postgres is written for (SQLAlchemy 2.1 would pick psycopg 3 for "postgresql")
    assert scheme == "postgresql+psycopg2"
    assert "postgres_url" not in config["storage"]["postgres"]


def test_the_production_config_declares_queue_pools_retries_and_monitoring() -> None:
    config = _config()
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert config["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
    assert config["run_monitoring"]["enabled"] is True


def test_a_missing_connection_variable_is_named_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed: pip install -e '.[postgres]'")
    for variable in CONNECTION_VARIABLES.values():
        monkeypatch.setenv(variable, "5432" if variable == "DAGSTER_PG_PORT" else "set")
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    home = production_dagster_home(tmp_path / "dagster_home")
    with pytest.raises(
        dg.DagsterInvalidConfigError, match='environment variable "DAGSTER_PG_PASSWORD" which is not set'
    ):
        dg.DagsterInstance.from_config(str(home))


@pytest.mark.postgres
def test_the_production_config_loads_a_postgresql_instance(
    tmp_path: Path, new_database: Callable[[str], PostgresDatabase], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = new_database("dagster")
    for variable, value in database.dagster_env().items():
        monkeypatch.setenv(variable, value)
    home = production_dagster_home(tmp_path / "dagster_home")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        run_queue = instance.get_concurrency_config().run_queue_config
        assert run_queue is not None and run_queue.max_concurrent_runs == 10
        assert run_queue.tag_concurrency_limits == [
            {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
        pool = instance.event_log_storage.get_concurrency_info("qonto_writes")
        assert (pool.limit, pool.using_default_limit) == (1, True)
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        # the instance really lives in the test server: a run written here is a row there
        run = instance.create_run_for_job(dg.GraphDefinition("smoke", node_defs=[]).to_job())
    engine = sa.create_engine(database.url)
    try:
        with engine.connect() as connection:
            run_ids = connection.execute(sa.text("SELECT run_id FROM runs")).scalars().all()
    finally:
        engine.dispose()
    assert run_ids == [run.run_id]
