"""The ledger database's clock: the one time every writer shares, whatever its machine's clock says.

Intents are compared across processes and machines ("is this create older than the grace period?"),
so they are stamped with the database's time, read inside the writing transaction. A value equal to
``DB_NOW`` handed to ``move``/``refresh`` is replaced by that time: it is the only way to ask for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Final, Literal

import sqlalchemy as sa


class _DbNow(Enum):
    # an enum member, not a bare object(): it has a readable repr and a precise type for hints
    DB_NOW = "DB_NOW"

    def __repr__(self) -> str:
        return "DB_NOW"


DB_NOW: Final = _DbNow.DB_NOW
"""Placeholder for "the database's clock, read inside the transaction that writes this value"."""

DbNow = Literal[_DbNow.DB_NOW]


def db_now(connection: sa.Connection) -> datetime:
    """The database's current time as an aware UTC datetime (microseconds kept where the database has them)."""
    if connection.dialect.name == "sqlite":
        # milliseconds: SQLite's finest clock; CURRENT_TIMESTAMP would round to the second
        text = connection.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    # clock_timestamp(), not now(): now() is frozen at the start of the transaction, which may have
    # waited on a lock for a long time
    value = connection.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
