"""The one ``MetaData`` every stage declares its ledger tables on, and how rows are read back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from billing_pipeline.ledger import IllegalTransition, LedgerConflict

__all__ = ["IllegalTransition", "LedgerConflict", "aware", "from_row", "metadata", "utc"]

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



