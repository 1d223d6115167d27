"""The versioned schema: fresh creation, adoption of the unversioned release, idempotence, no downgrade,
all-or-nothing, and processes starting together on one SQLite file."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from billing_pipeline.ledger import BASELINE_VERSION, SchemaMismatch, SchemaTooNew, migrate
from billing_pipeline.ledger.migrations import VERSION_TABLE, code_version
from billing_pipeline_tests.ledger.conftest import load_release_fixture, table_rows
from billing_pipeline_tests.ledger.workers import MIGRATIONS, NOTE, migrate_together, upgraded_metadata

RELEASE_TABLES = {
    "client_links", "correction_records", "delivery_records", "invoice_records", "payment_allocations",
    "payment_cursor", "payment_markings", "payment_reminders", "payment_transactions",
}  # fmt: skip


def _engine(path: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{path}")


def _versions(path: Path) -> list[int]:
    connection = sqlite3.connect(path)
    try:
        return [r[0] for r in connection.execute(f"SELECT version FROM {VERSION_TABLE} ORDER BY version")]
    finally:
        connection.close()


def _columns(path: Path, table: str) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [r[1] for r in connection.execute(f'PRAGMA table_info("{table}")')]
    finally:
        connection.close()


def _rows(path: Path, table: str, columns: list[str]) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        selected = ", ".join(f'"{column}"' for column in columns)
        return sorted(connection.execute(f'SELECT {selected} FROM "{table}"').fetchall(), key=repr)
    finally:
        connection.close()


def _counting(migrations: dict[int, Callable[[sa.Connection], None]]) -> tuple[dict, list[int]]:
    ran: list[int] = []

    def wrap(number: int, migration: Callable[[sa.Connection], None]) -> Callable[[sa.Connection], None]:
        def run(connection: sa.Connection) -> None:
            ran.append(number)
            migration(connection)

        return run

    return {number: wrap(number, migration) for number, migration in migrations.items()}, ran


def test_a_fresh_database_is_created_at_the_codes_version(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite"
    migrations, ran = _counting(MIGRATIONS)
    report = migrate(_engine(path), upgraded_metadata(), migrations)
    assert (report.found_version, report.version, report.adopted) == (None, 3, False)
    assert set(report.created_tables) == RELEASE_TABLES
    assert ran == [] and report.applied == []  # migrations transform old databases only
    assert _versions(path) == [3]
    assert "currency" in _columns(path, "payment_transactions")


def test_the_release_database_is_adopted_as_the_baseline_and_upgraded(tmp_path: Path) -> None:
    path = load_release_fixture(tmp_path / "release.sqlite")
    before = table_rows(path)
    assert set(before) == RELEASE_TABLES and all(before.values())  # the fixture fills every table
    report = migrate(_engine(path), upgraded_metadata(), MIGRATIONS)
    assert (report.found_version, report.version, report.adopted, report.applied) == (BASELINE_VERSION, 3, True, [2, 3])
    assert report.created_tables == []
    # the generic step reached EVERY table, not a hand list
    assert sorted(report.added_columns) == sorted(f"{table}.{NOTE}" for table in RELEASE_TABLES)
    assert _versions(path) == [1, 2, 3]
    for table, rows in before.items():
        kept = _rows(path, table, _columns(path, table)[: len(rows[0])])
        if table == "payment_cursor":  # migration 2's marker, and nothing else
            assert [r for r in kept if r not in rows] == [("migration-2", r[1]) for r in kept if r[0] == "migration-2"]
            kept = [r for r in kept if r[0] != "migration-2"]
        assert kept == rows, f"{table} changed"
        assert NOTE in _columns(path, table)
    connection = sqlite3.connect(path)
    notes = dict(connection.execute(f"SELECT customer_id || '/' || period, {NOTE} FROM invoice_records"))
    currencies = {r[0] for r in connection.execute("SELECT currency FROM payment_transactions")}
    connection.close()
    assert notes["acme/2026-10"] == "was stored" and notes["hooli/2026-10"] == "was canceled"
    assert currencies == {"EUR"}


def test_migrating_again_changes_nothing(tmp_path: Path) -> None:
    path = load_release_fixture(tmp_path / "release.sqlite")
    migrate(_engine(path), upgraded_metadata(), MIGRATIONS)
    upgraded = table_rows(path)
    migrations, ran = _counting(MIGRATIONS)
    report = migrate(_engine(path), upgraded_metadata(), migrations)
    assert (report.found_version, report.version, report.adopted, report.changed) == (3, 3, False, False)
    assert (report.created_tables, report.added_columns, report.applied, ran) == ([], [], [], [])
    assert table_rows(path) == upgraded


def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    path = load_release_fixture(tmp_path / "release.sqlite")
    migrate(_engine(path), upgraded_metadata(), MIGRATIONS)
    before = table_rows(path)
    older_code = {2: MIGRATIONS[2]}
    metadata = upgraded_metadata()
    metadata.tables["client_links"].append_column(sa.Column("older_code_column", sa.Text))
    with pytest.raises(SchemaTooNew, match="at schema version 3, newer than this code's version 2"):
        migrate(_engine(path), metadata, older_code)
    assert table_rows(path) == before
    assert "older_code_column" not in _columns(path, "client_links")


def test_a_failing_migration_leaves_the_database_at_its_version(tmp_path: Path) -> None:
    path = load_release_fixture(tmp_path / "release.sqlite")
    before = table_rows(path)

    def broken(_connection: sa.Connection) -> None:
        raise RuntimeError("migration 3 is broken")

    with pytest.raises(RuntimeError, match="migration 3 is broken"):
        migrate(_engine(path), upgraded_metadata(), {2: MIGRATIONS[2], 3: broken})
    # not even the version table, the added columns or migration 2's back-fill
    assert table_rows(path) == before
    assert NOTE not in _columns(path, "invoice_records")


def test_a_column_no_step_adds_is_refused(tmp_path: Path) -> None:
    path = load_release_fixture(tmp_path / "release.sqlite")
    before = table_rows(path)
    with pytest.raises(SchemaMismatch, match=r"lacks payment_transactions\.currency after migrating"):
        migrate(_engine(path), upgraded_metadata(), {2: MIGRATIONS[2]})  # migration 3 forgotten
    assert table_rows(path) == before


@pytest.mark.parametrize("numbers", [[3], [1, 2], [2, 4]])
def test_migrations_are_numbered_from_2_without_gaps(tmp_path: Path, numbers: list[int]) -> None:
    with pytest.raises(ValueError, match="numbered 2, 3… without gaps"):
        migrate(_engine(tmp_path / "x.sqlite"), sa.MetaData(), dict.fromkeys(numbers, MIGRATIONS[3]))
    assert code_version({}) == BASELINE_VERSION and code_version(MIGRATIONS) == 3


def test_the_version_table_is_not_the_ledgers_to_declare(tmp_path: Path) -> None:
    metadata = sa.MetaData()
    sa.Table(VERSION_TABLE, metadata, sa.Column("version", sa.Integer, primary_key=True))
    with pytest.raises(ValueError, match="must not declare it"):
        migrate(_engine(tmp_path / "x.sqlite"), metadata)


def _migrate_in_processes(url: str, kind: str, processes: int = 2) -> list[tuple[str, object]]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=migrate_together, args=(url, kind, barrier, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(60)
    return outcomes


def test_processes_adopting_the_release_together_migrate_it_once(tmp_path: Path) -> None:
    """Migration 2 is slow and writes a row that collides if it runs twice: the second process must
    wait for the first and find the database at version 3."""
    path = load_release_fixture(tmp_path / "release.sqlite")
    outcomes = _migrate_in_processes(f"sqlite:///{path}", "release")
    assert sorted(outcomes, key=lambda outcome: len(outcome[1])) == [("ok", []), ("ok", [2, 3])], outcomes
    assert _versions(path) == [1, 2, 3]


def test_processes_creating_an_empty_ledger_together_create_it_once(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    outcomes = _migrate_in_processes(f"sqlite:///{path}", "slow_tables", processes=3)
    assert [outcome for outcome, _ in outcomes] == ["ok"] * 3, outcomes
    assert _versions(path) == [BASELINE_VERSION]


@pytest.mark.parametrize(
    "column",
    [
        sa.Column("extra", sa.String(10), nullable=True, unique=True),
        sa.Column("extra", sa.String(10), nullable=True, index=True),
        sa.Column("extra", sa.String(10), nullable=True, server_default="x"),
        sa.Column("extra", sa.String(10), nullable=False),
    ],
    ids=["unique", "index", "default", "not-null"],
)
def test_only_plain_nullable_columns_are_added_generically(tmp_path: Path, column: sa.Column) -> None:
    """ADD COLUMN would drop the uniqueness or index silently, or fail on the rows already there."""
    path = load_release_fixture(tmp_path / "release.sqlite")
    metadata = upgraded_metadata()
    metadata.tables["client_links"].append_column(column)
    with pytest.raises(SchemaMismatch, match=r"lacks client_links\.extra"):
        migrate(_engine(path), metadata, MIGRATIONS)
    assert "extra" not in _columns(path, "client_links")
