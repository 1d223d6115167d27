"""Functions run in spawned processes by the ledger tests (kept free of pytest so they start fast)."""

from __future__ import annotations

import os
import sqlite3
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from billing_pipeline.ledger import LedgerEngine

RELEASE_FIXTURE = Path(__file__).parent / "fixtures" / "ledger_release_a86cc62.sql"
NOTE = "kernel_note"  # the column the toy upgrade adds to every table of the release
SLOW_S = 0.5  # long enough for a second process to start the same work if nothing stops it


def release_metadata() -> sa.MetaData:
    """The release fixture's tables as SQLAlchemy sees them (reflected from a scratch in-memory copy)."""
    connection = sqlite3.connect(":memory:")
    connection.executescript(RELEASE_FIXTURE.read_text())
    engine = sa.create_engine("sqlite://", creator=lambda: connection)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    engine.dispose()
    return metadata


def upgraded_metadata() -> sa.MetaData:
    """The release's tables, each with one more nullable column, and one NOT NULL column that only a
    numbered migration can add."""
    metadata = release_metadata()
    for table in metadata.tables.values():
        table.append_column(sa.Column(NOTE, sa.Text, nullable=True))
    metadata.tables["payment_transactions"].append_column(
        sa.Column("currency", sa.String(3), nullable=False, server_default="EUR")
    )
    return metadata


def backfill_notes(connection: sa.Connection) -> None:
    """Migration 2: a back-fill, and a marker row that would collide if it ever ran twice."""
    time.sleep(SLOW_S)
    connection.execute(sa.text(f"UPDATE invoice_records SET {NOTE} = 'was ' || state"))
    connection.execute(
        sa.text("INSERT INTO payment_cursor (name, value) VALUES ('migration-2', :pid)"), {"pid": str(os.getpid())}
    )


def add_currency(connection: sa.Connection) -> None:
    """Migration 3: a NOT NULL column, with a default for the rows already there."""
    connection.execute(
        sa.text("ALTER TABLE payment_transactions ADD COLUMN currency VARCHAR(3) NOT NULL DEFAULT 'EUR'")
    )


MIGRATIONS = {2: backfill_notes, 3: add_currency}


def slow_tables() -> sa.MetaData:
    """Three tables whose creation takes a while each: a second process checking for them meanwhile
    would find some missing and create them again."""
    metadata = sa.MetaData()
    for name in ("alpha", "beta", "gamma"):
        table = sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("state", sa.Text))
        sa.event.listen(table, "after_create", lambda *_args, **_kwargs: time.sleep(SLOW_S / 3))
    return metadata


def migrate_together(url: str, kind: str, barrier: Barrier, results: Queue[Any]) -> None:
    """Open the ledger at ``url`` once every process is ready, and report what happened."""
    metadata, migrations = (upgraded_metadata(), MIGRATIONS) if kind == "release" else (slow_tables(), {})
    barrier.wait(timeout=60)
    try:
        ledger = LedgerEngine(url, metadata=metadata, migrations=migrations)
    except Exception as error:  # reported to the test, which shows it
        results.put(("error", f"{type(error).__name__}: {error}"))
        return
    results.put(("ok", ledger.schema.applied))
    ledger.dispose()


def hold_lock(url: str, name: str, held: Event, release: Event) -> None:
    ledger = LedgerEngine(url, metadata=sa.MetaData())
    with ledger.lock(name):
        held.set()
        release.wait(60)
    ledger.dispose()
