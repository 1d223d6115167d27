"""The one ``MetaData`` every stage declares its ledger tables on, and how rows are read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

metadata = sa.MetaData()


class IllegalTransition(RuntimeError):
    """A ledger write that the invoice's recorded history does not allow."""


class LedgerConflict(RuntimeError):
    """A write that would break one-client-per-customer or one-invoice-per-customer-and-period."""


def aware(value: datetime | None) -> datetime | None:
    # SQLite drops the offset; everything we store is UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def from_row(model: type[M], row: Any, timestamps: tuple[str, ...]) -> M:
    data = dict(row)
    for key in timestamps:
        data[key] = aware(data[key])
    return model.model_validate(data)




def add_missing_columns(connection: sa.Connection) -> None:
    """Columns added after a table's first release, added in place to an existing ledger (all nullable)."""
    inspector = sa.inspect(connection)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
