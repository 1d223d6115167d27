"""Materialization metadata helpers: tables a finance person can read in the Dagster UI.

Metadata stays **bounded** whatever the number of customers (it is stored in the event log with
every materialization): a table holds at most ``TOP_ROWS`` rows — the largest or worst first — as a
Dagster ``TableMetadataValue`` with a typed ``TableSchema``; amounts carry their currency
(``"27.60 EUR"``). Per-customer tables also write every row to a CSV file of the period under the
state dir (``<state dir>/metadata/<period>/<asset>.<table>.csv``, replaced atomically, so a re-run
of the partition rewrites the same file) and add its path and row count next to the table.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg

TOP_ROWS = 50
QONTO_CURRENCY = "EUR"  # Qonto invoices in euros only

COMMON_ASSET_ARGS: dict[str, Any] = {
    "group_name": "billing",
    "owners": ["team:billing"],
}

_TYPES = ((bool, "bool"), (int, "int"), (float, "float"))


def _column_type(values: Iterable[Any], currency: str | None) -> str:
    for value in values:
        if value is None or value == "":
            continue
        if isinstance(value, Decimal):
            return "money" if currency else "decimal"
        return next((name for kind, name in _TYPES if type(value) is kind), "string")
    return "string"


def _cell(value: Any, kind: str, currency: str | None) -> str | int | float | bool | None:
    if value is None:
        return None
    if kind == "money" and isinstance(value, Decimal | str) and value != "":
        return f"{value} {currency}"
    if kind in ("bool", "int", "float") and type(value) is dict(_TYPES_BY_NAME)[kind]:
        return value
    return str(value)


_TYPES_BY_NAME = tuple((name, kind) for kind, name in _TYPES)


def table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    currency: str | None = None,
    rank: Callable[[Mapping[str, Any]], Any] | None = None,
    limit: int = TOP_ROWS,
    descriptions: Mapping[str, str] | None = None,
    amounts: Sequence[str] = (),
) -> dg.TableMetadataValue:
    """At most ``limit`` rows (sorted by ``rank``, descending, when given) as typed table metadata.

    ``Decimal`` values, and the values of the ``amounts`` columns (decimal strings), are amounts:
    with ``currency`` they are shown as ``"<amount> <currency>"``.
    """
    listed = list(rows)
    if rank is not None:
        listed.sort(key=rank, reverse=True)
    shown = listed[:limit]
    kinds = {name: _column_type((row.get(name) for row in listed), currency) for name in columns}
    kinds.update({name: "money" for name in amounts if currency and name in kinds})
    notes = dict(descriptions or {})
    if len(listed) > len(shown):
        notes.setdefault(columns[0], f"top {len(shown)} of {len(listed)} rows")
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                kinds[name],
                description=notes.get(name) or (f"amount in {currency}" if kinds[name] == "money" else None),
            )
            for name in columns
        ]
    )
    records = [dg.TableRecord({name: _cell(row.get(name), kinds[name], currency) for name in columns}) for row in shown]
    return dg.MetadataValue.table(records=records, schema=schema)


def full_table_file(state_dir: Path | str, period: str, asset: str, name: str) -> Path:
    """Where the complete rows of a per-customer table of ``asset`` for ``period`` are written."""
    return Path(state_dir) / "metadata" / period / f"{asset}.{name}.csv"


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], currency: str | None) -> None:
    """Every row as CSV (amounts as plain decimals, plus a ``currency`` column), replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [*columns, *(["currency"] if currency and "currency" not in columns else [])]
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as output:
            writer = csv.writer(output)
            writer.writerow(header)
            for row in rows:
                values = ["" if row.get(name) is None else row.get(name) for name in columns]
                writer.writerow([*values, *([currency] if len(header) > len(columns) else [])])
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def per_customer_table(
    name: str,
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    file: Path,
    currency: str | None = None,
    rank: Callable[[Mapping[str, Any]], Any] | None = None,
    limit: int = TOP_ROWS,
    amounts: Sequence[str] = (),
) -> dict[str, dg.MetadataValue | int]:
    """``name``: the top rows; ``<name>_rows``: how many there are; ``<name>_file``: all of them (CSV)."""
    listed = list(rows)
    write_rows(file, listed, columns, currency)
    return {
        name: table(listed, columns, currency=currency, rank=rank, limit=limit, amounts=amounts),
        f"{name}_rows": len(listed),
        f"{name}_file": dg.MetadataValue.path(str(file.resolve())),
    }


def bounded_list(values: Iterable[Any], limit: int = TOP_ROWS) -> dg.MetadataValue:
    """A JSON list of at most ``limit`` values, with how many were left out."""
    listed = list(values)
    if len(listed) <= limit:
        return dg.MetadataValue.json(listed)
    return dg.MetadataValue.json({"first": listed[:limit], "total": len(listed), "not_shown": len(listed) - limit})


def amount_rank(column: str) -> Callable[[Mapping[str, Any]], Decimal]:
    """Rank rows by an amount column, largest first (missing amounts last)."""

    def key(row: Mapping[str, Any]) -> Decimal:
        value = row.get(column)
        return Decimal(str(value)) if value not in (None, "") else Decimal("-Infinity")

    return key


def table_records(value: dg.TableMetadataValue) -> list[dict[str, Any]]:
    """The rows of a table metadata value as plain dicts (tests, scripts)."""
    return [dict(record.data) for record in value.records]


def money(amount: Decimal | str, currency: str = QONTO_CURRENCY) -> dg.TextMetadataValue:
    """A single amount with its currency (``"15762.35 EUR"``): a bare number in the UI reads as anything."""
    return dg.MetadataValue.text(f"{amount} {currency}")
