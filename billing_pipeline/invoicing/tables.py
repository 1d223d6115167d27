"""The one ``MetaData`` every stage declares its ledger tables on, and how rows are read back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from billing_pipeline.ledger import IllegalTransition, LedgerConflict

__all__ = ["IllegalTransition", "LedgerConflict", "aware", "from_row", "metadata", "period_rows", "utc"]

M = TypeVar("M", bound=BaseModel)

metadata = sa.MetaData()


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


def period_rows(
    engine: sa.Engine,
    table: sa.Table,
    order_by: tuple[str, ...],
    period: str | None = None,
    states: Iterable[StrEnum] | None = None,
) -> list[Any]:
    """The rows of ``table`` (every stage's table has ``period`` and ``state``), optionally of one
    period and in some states, in a stable order: the one reader behind ``invoices()``,
    ``corrections()`` and ``deliveries()``."""
    query = sa.select(table).order_by(*(table.c[name] for name in order_by))
    if period is not None:
        query = query.where(table.c.period == period)
    if states:
        query = query.where(table.c.state.in_([state.value for state in states]))
    with engine.connect() as connection:
        return list(connection.execute(query).mappings().all())
