"""A toy table and machine to exercise the ledger kernel without any real ledger table, and the
release fixture loaded into a scratch SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from billing_pipeline.ledger import DecimalString, IllegalTransition, LedgerEngine, StateMachine, move
from billing_pipeline_tests.ledger.workers import RELEASE_FIXTURE

FAKE_DB_TIME = "2001-02-03 04:05:06.789"  # far from any machine's clock


class Toy(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    ARCHIVED = "archived"


TOY = StateMachine(
    "toy",
    Toy,
    {
        Toy.OPEN: {None, Toy.OPEN},
        Toy.PAID: {Toy.OPEN},
        Toy.VOID: {None, Toy.OPEN, Toy.PAID},
        Toy.ARCHIVED: {Toy.PAID, Toy.VOID},
    },
    final={Toy.PAID, Toy.ARCHIVED},
)

toy_metadata = sa.MetaData()
toys = sa.Table(
    "toys",
    toy_metadata,
    sa.Column("owner", sa.String(50), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("label", sa.String(50), nullable=False),  # insert-only
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("amount", DecimalString(), nullable=True),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LedgerEngine]:
    engine = LedgerEngine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", metadata=toy_metadata)
    try:
        yield engine
    finally:
        engine.dispose()


def freeze_database_clock(engine: sa.Engine, text: str = FAKE_DB_TIME) -> None:
    """Make SQLite's own clock read ``text``: a stamp equal to it came from the database, not Python."""
    sa.event.listen(engine, "connect", lambda dbapi, _record: dbapi.create_function("strftime", 2, lambda *_: text))
    engine.dispose()  # connections opened before the listener keep the real clock


def row(engine: sa.Engine, owner: str = "o", number: int = 1) -> dict[str, Any] | None:
    with engine.connect() as connection:
        found = (
            connection.execute(sa.select(toys).where(toys.c.owner == owner, toys.c.number == number)).mappings().first()
        )
    return dict(found) if found is not None else None


def key(owner: str = "o", number: int = 1) -> dict[str, Any]:
    return {"owner": owner, "number": number}


def load_release_fixture(path: Path) -> Path:
    """The release fixture as a SQLite file at ``path`` (in WAL mode, as the release leaves it)."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(RELEASE_FIXTURE.read_text())
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


def table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), read with the plain sqlite3 module."""
    connection = sqlite3.connect(path)
    try:
        names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {name: sorted(connection.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}
    finally:
        connection.close()


def race_two_writers(engine: sa.Engine) -> list[str]:
    """Two writers move the OPEN row ``key()`` to PAID, which is allowed once only; sorted outcomes.

    The first writer pauses between its read and its write until the second writer's read has
    returned (or a second has passed): unless the first holds the row (or the database) for writing
    from its read on, both read OPEN and both move the row to PAID.
    """
    read = {"first": threading.Event(), "second": threading.Event()}

    def after_read(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        name = threading.current_thread().name
        if statement.startswith("SELECT toys.state") and name in read:
            read[name].set()

    def before_write(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("UPDATE toys") and threading.current_thread().name == "first":
            read["second"].wait(timeout=1)

    sa.event.listen(engine, "after_cursor_execute", after_read)
    sa.event.listen(engine, "before_cursor_execute", before_write)
    outcomes: list[str] = []

    def pay() -> None:
        try:
            move(engine, toys, key(), TOY, Toy.PAID, {"note": threading.current_thread().name})
            outcomes.append("paid")
        except IllegalTransition:
            outcomes.append("refused")

    writers = [threading.Thread(target=pay, name=name) for name in ("first", "second")]
    try:
        writers[0].start()
        assert read["first"].wait(timeout=10)
        writers[1].start()
        for writer in writers:
            writer.join(timeout=60)
    finally:
        sa.event.remove(engine, "after_cursor_execute", after_read)
        sa.event.remove(engine, "before_cursor_execute", before_write)
    return sorted(outcomes)
