"""A real PostgreSQL server for the session, and a billing world (emulator over loopback, sample data,
Dagster instance and ledger on PostgreSQL) per test.

Run with ``make test-postgres`` (``pytest -m postgres``). Without PostgreSQL's server binaries the
tests are skipped with the reason; on a machine that has them, a server that fails to start is an
error, never a skip.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest

from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline_tests.postgres.server import (
    PostgresDatabase,
    PostgresServer,
)

if TYPE_CHECKING:  # imported lazily below: the ledger tests need no emulator
    from billing_pipeline.emulator.testing import RunningEmulator

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_INSTANCE_CONFIG = REPO / "deploy" / "dagster.production.yaml"
RENDER_DELAY_S = 0.5
QONTO_WRITES_POOL = "qonto_writes"


@pytest.fixture(scope="session", autouse=True)
def _dagster_postgres() -> None:
    """The pipeline's tests here also need Dagster's PostgreSQL storage (the server itself is the
    session's ``postgres_server``, billing_pipeline_tests/conftest.py)."""
    pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed: pip install -e '.[postgres]'")


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of a database created once for the session."""
    return postgres_server.create_database("billing").url


_database_numbers = itertools.count(1)


@pytest.fixture
def new_database(postgres_server: PostgresServer) -> Callable[[str], PostgresDatabase]:
    """Factory of empty databases, one per call, so tests never see each other's rows."""

    def create(purpose: str) -> PostgresDatabase:
        return postgres_server.create_database(f"{purpose}_{next(_database_numbers)}")

    return create


def production_dagster_home(target: Path) -> Path:
    """A DAGSTER_HOME holding the production instance config, as an operator would set it up."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PRODUCTION_INSTANCE_CONFIG, target / "dagster.yaml")
    return target


def copy_sample_data(target: Path) -> Path:
    shutil.copytree(REPO / "data", target, ignore=shutil.ignore_patterns("invoices"))
    return target


@dataclass
class PostgresBillingWorld:
    """Everything of one production-style deployment, with Qonto played by the emulator."""

    emulator: RunningEmulator
    dagster_db: PostgresDatabase
    ledger_db: PostgresDatabase
    dagster_home: Path
    data_dir: Path
    state_dir: Path
    invoices_dir: Path

    def resources(self) -> dict[str, dg.ConfigurableResource]:
        return {
            "qonto": QontoResource(
                mode="custom",
                base_url=self.emulator.base_url,
                api_key=self.emulator.api_key,
                state_dir=str(self.state_dir),
            ),
            "billing": BillingResource(
                data_dir=str(self.data_dir),
                invoices_dir=str(self.invoices_dir),
                state_dir=str(self.state_dir),
                timezone="Europe/Paris",
                ledger_url=self.ledger_db.url,
            ),
        }

    def environment(self) -> dict[str, str]:
        """The same deployment as environment variables, for the real CLI in a subprocess."""
        return {
            "QONTO_BASE_URL": self.emulator.base_url,
            "QONTO_API_KEY": self.emulator.api_key,
            "BILLING_DATA_DIR": str(self.data_dir),
            "BILLING_STATE_DIR": str(self.state_dir),
            "BILLING_INVOICES_DIR": str(self.invoices_dir),
            "BILLING_LEDGER_URL": self.ledger_db.url,
            "DAGSTER_HOME": str(self.dagster_home),
            **self.dagster_db.dagster_env(),
        }

    def live_invoices(self) -> list[dict]:
        return [i for i in self.emulator.state()["client_invoices"] if i["status"] != "canceled"]


@pytest.fixture
def pg_world(
    tmp_path: Path, new_database: Callable[[str], PostgresDatabase], monkeypatch: pytest.MonkeyPatch
) -> Iterator[PostgresBillingWorld]:
    from billing_pipeline.emulator.testing import running_emulator

    dagster_db, ledger_db = new_database("dagster"), new_database("ledger")
    # the production dagster.yaml reads its connection from these, in this process too
    for name, value in dagster_db.dagster_env().items():
        monkeypatch.setenv(name, value)
    with running_emulator(render_delay_s=RENDER_DELAY_S, state_path=tmp_path / "emulator.sqlite") as emulator:
        yield PostgresBillingWorld(
            emulator=emulator,
            dagster_db=dagster_db,
            ledger_db=ledger_db,
            dagster_home=production_dagster_home(tmp_path / "dagster_home"),
            data_dir=copy_sample_data(tmp_path / "data"),
            state_dir=tmp_path / "state",
            invoices_dir=tmp_path / "invoices",
        )


@pytest.fixture
def production_instance(pg_world: PostgresBillingWorld) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance loaded from the production dagster.yaml, storage on the test server, with
    the deployment step of docs/production.md done: `dagster instance concurrency set qonto_writes 1`."""
    with dg.DagsterInstance.from_config(str(pg_world.dagster_home)) as instance:
        # what the CLI command does. Without it, two runs touching the pool for the first time at once
        # can both try to create its default limit, and one run fails with a UniqueViolation on
        # PostgreSQL (Dagster issue #33552)
        instance.event_log_storage.set_concurrency_slots(QONTO_WRITES_POOL, 1)
        yield instance
