"""Column values (ibis) for the usage engine: what a row holds, decided with certainty.

A value is *certain* when its meaning is the file reader's without doubt; anything else is left to
the file reader (``UsageReader``), which says exactly what is wrong with it. Each column is read the
cheapest exact way its type allows:

- typed instants (TIMESTAMPTZ on PostgreSQL and DuckDB, Spark's TimestampType): microseconds since
  the epoch by the engine's own temporal arithmetic (``epoch_us`` on DuckDB, ibis' microsecond
  difference to the epoch elsewhere) — no text, no parsing; every such value is certain;
- quantities: integer columns as they are; decimal columns whose scale is at most 6 (or any
  PostgreSQL ``numeric``: exact arithmetic) split by FLOOR;
- anything else — ISO 8601 text instants (all SQLite has), decimal text, floating point — through
  its text (``engine_text``).

A quantity is an exact whole part and millionths, both int64 (sums of them cannot silently wrap:
every engine widens or raises). Engines that flatten sub-selects into their readers (SQLite,
PostgreSQL) would evaluate each expression once per *reference* — a regular expression hundreds
of times per row: a ``fence`` keeps each step's sub-select apart (``engine_plan.fence_for``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir

from billing_pipeline.billing.engine_text import (
    FIELDS,
    MICRO,
    NO_INT,
    NO_STRING,
    QUANTITY_SCALE,
    WHOLE_DIGITS,
    instant_fields,
    instant_values,
    plain_quantity,
    quantity_parts,
    shaped_instant,
    sqlite_instant_form,
    sqlite_instant_values,
)

# typed instants outside Python's datetime range (PostgreSQL's and DuckDB's infinity, BC dates) are
# left to the file reader rather than turned into arithmetic that may overflow
_FIRST = ibis.timestamp(datetime(1, 1, 1, tzinfo=UTC))
_LAST = ibis.timestamp(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
_EPOCH = ibis.timestamp(datetime(1970, 1, 1, tzinfo=UTC))

# makes a stage's sub-select a barrier to flattening (``engine_plan.fence_for``)
Fence = Callable[[ir.Table], ir.Table]


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(moment: datetime) -> int:  # type: ignore[empty-body]
    """DuckDB's exact µs since the epoch (its generic date difference goes through ICU: slower)."""


def as_text(column: ir.Value, backend: str) -> ir.StringValue:
    """The column as text. On SQLite, ``|| ''`` converts an integer or real stored in a text
    column (ibis drops a cast to the type it believes the column has); elsewhere a text column is
    read as it is (the concatenation would copy every value)."""
    text = column.cast("string")
    return text.concat("") if backend == "sqlite" else text


def typed_instant_values(moment: ir.TimestampValue, backend: str) -> dict[str, ir.Value]:
    """``_ts_ok`` and ``_us`` of a timestamp-with-time-zone column: the engine's own arithmetic."""
    ok = moment.between(_FIRST, _LAST).fill_null(False)
    micros = _duckdb_epoch_us(moment) if backend == "duckdb" else moment.delta(_EPOCH, unit="microsecond")
    return {"_ts_ok": ok, "_us": ibis.ifelse(ok, micros.cast("int64"), NO_INT)}


def numeric_quantity_values(quantity: ir.NumericValue, backend: str) -> dict[str, ir.Value] | None:
    """``_q_ok``, ``_whole`` and ``_frac`` of an integer or decimal column without going through
    text, or None when only the text is exact (floating point; decimals of more than 6 places,
    except on PostgreSQL whose numeric arithmetic never rounds)."""
    kind = quantity.type()
    if backend == "sqlite":
        return None  # a declared type binds nothing there: an INTEGER column may hold "abc"
    in_range = ((quantity >= 0) & (quantity < 10**WHOLE_DIGITS)).fill_null(False)
    if kind.is_integer():
        return {"_q_ok": in_range, "_whole": quantity.cast("int64"), "_frac": ibis.literal(0, "int64")}
    if not kind.is_decimal():
        return None
    if backend != "postgres" and (kind.scale is None or kind.scale > QUANTITY_SCALE):
        return None
    whole = quantity.floor()
    millionths = (quantity - whole) * MICRO  # exact: a decimal below 10**6
    # the casts only see values in range (CASE), so none can overflow; a value with more than 6
    # decimals is not certain (its millionths are not whole) and goes to the file reader
    frac = ibis.ifelse(in_range, millionths.cast("int64"), NO_INT)
    return {
        "_q_ok": in_range & (frac == millionths).fill_null(False),
        "_whole": ibis.ifelse(in_range, whole.cast("int64"), NO_INT),
        "_frac": frac,
    }


def with_values(
    table: ir.Table,
    *,
    timestamp: ir.Value,
    quantity: ir.Value,
    backend: str,
    fence: Fence,
    **more: ir.Value,
) -> ir.Table:
    """``more``, ``_ts_ok`` (the timestamp is an instant beyond doubt), ``_us`` (µs since the
    epoch, meaningful where ``_ts_ok`` holds), ``_q_ok`` (the quantity is certain), ``_whole`` and
    ``_frac`` (its whole part and millionths, NULL when not certain) of ``table``'s rows.

    Each step is one sub-select (SQLite's parser gives up beyond a few dozen nested ones), fenced:
    on SQLite the text of the columns first (its conversion copies each value), then the shapes
    (one test per value), the fields cut out of the text, the arithmetic on them.
    """
    typed = timestamp.type().is_timestamp()
    numeric = numeric_quantity_values(quantity, backend) if quantity.type().is_numeric() else None
    as_read = {"_ts": as_text(timestamp, backend), "_qs": as_text(quantity, backend)}
    if backend == "sqlite":
        table = fence(table.select(**more, **as_read))
        more = {name: table[name] for name in more}
        as_read = {"_ts": table._ts, "_qs": table._qs}
    stage: dict[str, ir.Value] = dict(more)
    if typed:
        stage.update(typed_instant_values(timestamp, backend))
    else:
        text = as_read["_ts"]
        if backend == "sqlite":  # the text, and which strict form it has (NULL: none)
            stage.update(_tt=text, _form=sqlite_instant_form(text))
        else:
            stage["_tt"] = ibis.ifelse(text.notnull() & shaped_instant(text), text, NO_STRING)
    if numeric is not None:
        stage.update(numeric)
    else:
        # the text and whether it is plain; the next step splits the plain text
        text = as_read["_qs"]
        stage.update(_qt=text, _q_ok=(text.notnull() & plain_quantity(text, backend)).fill_null(False))
    staged = fence(table.select(**stage))
    if typed and numeric is not None:
        return staged
    split = quantity_parts(ibis.ifelse(staged._q_ok, staged._qt, NO_STRING)) if numeric is None else {}
    if typed:
        fields = {}
    elif backend == "sqlite":  # the instant at once, by SQLite's own date functions
        fields = sqlite_instant_values(staged._tt, staged._form)
    else:
        fields = instant_fields(staged._tt)
    kept = [name for name in staged.columns if name not in ("_qt", "_tt", "_form")]
    staged = fence(staged.select(*kept, **split, **fields))
    if typed or backend == "sqlite":
        return staged
    kept = [name for name in staged.columns if name not in FIELDS]
    return fence(staged.select(*kept, **instant_values(staged)))
