"""The one way a ledger row changes: ``move`` (to a state) and ``refresh`` (facts, same state).

Both run inside one transaction that first takes the row for writing, then reads its state, checks
it against the table's ``StateMachine`` and writes: no other writer can slip between the read and
the write. On PostgreSQL the read is ``SELECT … FOR UPDATE``; SQLite has no row locks, so the
transaction starts with ``BEGIN IMMEDIATE`` (the database's write lock), which serializes writers.

Every timestamp other writers compare with comes from the database's clock (``DB_NOW``), datetimes
are stored as UTC (SQLite would drop an offset and keep the wall-clock time), and error text is cut
to ``ERROR_TEXT_LIMIT`` characters in the one column that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from billing_pipeline.ledger.clock import DB_NOW, db_now
from billing_pipeline.ledger.machine import S, StateMachine

ERROR_TEXT_LIMIT = 4000
"""Characters of error text kept (Qonto's error bodies can be long; the ledger keeps their head)."""

STATE_COLUMN = "state"
UPDATED_AT = "updated_at"
ERROR_COLUMN = "last_error"


def move(
    bind: sa.Connection | sa.Engine,
    table: sa.Table,
    key: Mapping[str, Any],
    machine: StateMachine[S],
    to: S,
    values: Mapping[str, Any] | None = None,
    *,
    insert: Mapping[str, Any] | None = None,
    also_from: Iterable[S | None] = (),
    conflict: bool = False,
    create: bool = True,
    error_column: str | None = ERROR_COLUMN,
) -> S | None:
    """Move the row ``key`` of ``table`` to ``to`` and write ``values``; return its previous state
    (``None``: the row did not exist and was inserted with ``key`` and ``insert`` values too).

    Refused moves (``IllegalTransition``, or ``LedgerConflict`` with ``conflict=True``) write
    nothing. ``updated_at`` (when the table has it) and every value that ``is DB_NOW`` get the
    database's time. Given a connection already in a transaction, the move joins it (the caller
    commits, with its other writes); given an engine or an idle connection, it commits its own.
    """
    where = _key_clause(table, key)
    values = dict(values or {})
    insert_only = dict(insert or {})
    _refuse_reserved(table, key, values, insert_only)
    with _write_transaction(bind) as connection:
        current = _current_state(connection, table, where, machine, key)
        machine.check(current, to, key=key, also_from=also_from, conflict=conflict, create=create)
        now = db_now(connection)
        written = {**_prepared(values, now, table, error_column), STATE_COLUMN: to.value}
        if UPDATED_AT in table.c:
            written[UPDATED_AT] = now
        if current is None:
            connection.execute(
                sa.insert(table).values(**dict(key), **_prepared(insert_only, now, table, error_column), **written)
            )
        else:
            connection.execute(sa.update(table).where(where).values(**written))
    return current


def refresh(
    bind: sa.Connection | sa.Engine,
    table: sa.Table,
    key: Mapping[str, Any],
    machine: StateMachine[S],
    values: Mapping[str, Any],
    *,
    states: Iterable[S],
    error_column: str | None = ERROR_COLUMN,
) -> S:
    """Write facts re-read from elsewhere on the row ``key`` without changing its state; the row must
    be in one of ``states`` (else ``IllegalTransition``, nothing written). Returns its state.

    ``updated_at`` is left alone: it dates the row's last move, and readers order rows by it.
    """
    allowed = machine.members(states, "refresh state")
    where = _key_clause(table, key)
    values = dict(values)
    _refuse_reserved(table, key, values, {})
    with _write_transaction(bind) as connection:
        current = _current_state(connection, table, where, machine, key)
        if current is None or current not in allowed:
            raise machine.refuse_refresh(current, allowed, key=key)
        if values:
            now = db_now(connection)
            connection.execute(sa.update(table).where(where).values(**_prepared(values, now, table, error_column)))
    return current


def cut_error(text: str | None) -> str | None:
    """Error text as the ledger keeps it: its first ``ERROR_TEXT_LIMIT`` characters."""
    return text[:ERROR_TEXT_LIMIT] if text is not None else None


def as_utc(value: datetime | None) -> datetime | None:
    """An instant as stored: UTC (a naive datetime is taken as UTC already)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


@contextmanager
def write_transaction(bind: sa.Connection | sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that holds the right to write from its first statement (see the module doc);
    for callers that write several rows atomically and hand the connection to ``move``."""
    with _write_transaction(bind) as connection:
        yield connection


@contextmanager
def _write_transaction(bind: sa.Connection | sa.Engine) -> Iterator[sa.Connection]:
    if isinstance(bind, sa.Engine):
        with bind.begin() as connection:
            _take_write_lock(connection)
            yield connection
    elif bind.in_transaction():
        _take_write_lock(bind)
        yield bind
    else:
        with bind.begin():
            _take_write_lock(bind)
            yield bind


def _take_write_lock(connection: sa.Connection) -> None:
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL: the row lock of SELECT … FOR UPDATE
    dbapi = connection.connection.dbapi_connection
    # pysqlite opens its transaction lazily, at the first INSERT/UPDATE/DELETE: the SELECT of the
    # state would otherwise run before any lock, and two writers could both read the old state.
    # A transaction that already wrote holds the write lock already.
    if dbapi is not None and not getattr(dbapi, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _current_state(
    connection: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool], machine: StateMachine[S],
    key: Mapping[str, Any],
) -> S | None:  # fmt: skip
    query = sa.select(table.c[STATE_COLUMN]).where(where)
    if connection.dialect.name != "sqlite":
        query = query.with_for_update()
    stored = connection.execute(query).scalar_one_or_none()
    return machine.state(stored, key=key)


def _key_clause(table: sa.Table, key: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    if not key:
        raise ValueError(f"a move on {table.name} needs the row's key")
    missing = [column for column in key if column not in table.c]
    if missing:
        raise ValueError(f"{table.name} has no column {', '.join(missing)} (key {dict(key)})")
    if STATE_COLUMN not in table.c:
        raise ValueError(f"{table.name} has no {STATE_COLUMN!r} column: it is not a table of states")
    return sa.and_(*(table.c[column] == value for column, value in key.items()))


def _refuse_reserved(
    table: sa.Table, key: Mapping[str, Any], values: Mapping[str, Any], insert: Mapping[str, Any]
) -> None:
    # the state changes only through the machine, updated_at only with it, and the key never: a
    # value that tries is a programming error, refused before anything is read
    for name in (*values, *insert):
        if name in (STATE_COLUMN, UPDATED_AT) or name in key:
            raise ValueError(f"{table.name}.{name} is written by move itself, not passed as a value")
    both = set(values) & set(insert)
    if both:
        raise ValueError(f"{table.name}: {', '.join(sorted(both))} given both as a value and as an insert-only value")


def _prepared(values: Mapping[str, Any], now: datetime, table: sa.Table, error_column: str | None) -> dict[str, Any]:
    prepared: dict[str, Any] = {}
    for name, value in values.items():
        if value is DB_NOW:
            value = now
        elif isinstance(value, datetime):
            value = as_utc(value)
        if name == error_column and isinstance(value, str):
            value = cut_error(value)
        prepared[name] = value
    unknown = set(prepared) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(sorted(unknown))}")
    return prepared
