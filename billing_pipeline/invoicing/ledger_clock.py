"""The ledger database's clock: the one time every writer shares, whatever its machine's clock says."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


def db_now(connection: sa.Connection) -> datetime:
    if connection.dialect.name == "sqlite":
        text = connection.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    value = connection.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
