"""The kernel's PostgreSQL paths: row locks, advisory locks, the server's clock, DDL on a live schema.

Run with ``pytest -m postgres billing_pipeline_tests/ledger``; skipped (with the reason) on a machine
without PostgreSQL's server binaries.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from billing_pipeline.ledger import DB_NOW, LedgerEngine, SchemaTooNew, migrate, move, refresh
from billing_pipeline.ledger.migrations import VERSION_TABLE, lock_key
from billing_pipeline_tests.ledger.conftest import TOY, Toy, key, race_two_writers, row, toy_metadata, toys
from billing_pipeline_tests.ledger.workers import migrate_together
from billing_pipeline_tests.postgres.server import PostgresServer

pytestmark = pytest.mark.postgres

_numbers = itertools.count(1)


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database(f"kernel_{next(_numbers)}").url


@pytest.fixture
def ledger(url: str) -> Iterator[LedgerEngine]:
    engine = LedgerEngine(url, metadata=toy_metadata)
    yield engine
    engine.dispose()


def test_moves_stamp_the_servers_clock_and_refuse_illegal_ones(ledger: LedgerEngine) -> None:
    before = ledger.now()
    move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"intent_at": DB_NOW}, insert={"label": "L"})
    after = ledger.now()
    stored = row(ledger.engine)
    assert stored is not None and before <= stored["intent_at"] <= after and stored["intent_at"] == stored["updated_at"]
    assert refresh(ledger.engine, toys, key(), TOY, {"seen_at": DB_NOW}, states={Toy.OPEN}) is Toy.OPEN


def test_select_for_update_lets_one_writer_take_a_transition(ledger: LedgerEngine) -> None:
    move(ledger.engine, toys, key(), TOY, Toy.OPEN, insert={"label": "L"})
    assert race_two_writers(ledger.engine) == ["paid", "refused"]


def test_a_database_of_the_previous_schema_is_adopted_and_upgraded(url: str) -> None:
    engine = sa.create_engine(url)
    toy_metadata.create_all(engine)  # what an unversioned release would have left
    with engine.begin() as connection:
        connection.execute(
            sa.insert(toys).values(owner="o", number=1, label="L", state="open", updated_at=sa.func.now())
        )
    upgraded = sa.MetaData()
    for table in toy_metadata.tables.values():
        table.to_metadata(upgraded).append_column(sa.Column("kernel_note", sa.Text))

    def backfill(connection: sa.Connection) -> None:
        connection.execute(sa.text("UPDATE toys SET kernel_note = 'was ' || state"))

    report = migrate(engine, upgraded, {2: backfill})
    assert (report.adopted, report.applied, report.added_columns) == (True, [2], ["toys.kernel_note"])
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT kernel_note FROM toys")).scalar_one() == "was open"
        assert connection.execute(sa.text(f"SELECT version FROM {VERSION_TABLE} ORDER BY 1")).scalars().all() == [1, 2]
    with pytest.raises(SchemaTooNew, match="version 2, newer than this code's version 1"):
        migrate(engine, toy_metadata)
    engine.dispose()


def test_processes_creating_the_schema_together_take_turns(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    workers = [context.Process(target=migrate_together, args=(url, "slow_tables", barrier, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(60)
    assert [outcome for outcome, _ in outcomes] == ["ok"] * 3, outcomes


def test_the_lock_is_the_previous_releases_advisory_lock(ledger: LedgerEngine, url: str) -> None:
    other = sa.create_engine(url)
    with other.connect() as connection:
        # what a86cc62's Ledger.period_lock("2026-10") takes
        assert connection.execute(
            sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key("billing-period:2026-10")}
        ).scalar()
        with pytest.raises(TimeoutError, match="lock period:2026-10 stayed held"):
            with ledger.lock("period:2026-10", timeout_s=0.5):
                pass
        with ledger.lock("period:2026-09", timeout_s=5):
            pass
        connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        connection.commit()
    with ledger.lock("period:2026-10", timeout_s=5):
        pass
    other.dispose()
