"""Column expressions (ibis) for the usage engine: what a row holds, decided with certainty.

A value is *certain* when its meaning is the file reader's without doubt; anything else is left to
the file reader (``UsageReader``), which says exactly what is wrong with it. Each column is read the
cheapest exact way its type allows:

- typed instants (TIMESTAMPTZ on PostgreSQL and DuckDB, Spark's TimestampType): microseconds since
  the epoch by the engine's own temporal arithmetic (``epoch_us`` on DuckDB, ibis' microsecond
  difference to the epoch elsewhere) — no text, no parsing; every such value is certain;
- ISO 8601 text ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`` (SQLite stores nothing else; text
  columns elsewhere): one regular expression, then integer arithmetic (days from the civil date),
  field ranges included (a 30th of February is not certain) — the same code on every engine, as
  engines parse dates with their own leniencies and time zones;
- quantities: integer columns as they are; decimal columns whose scale is at most 6 (or any
  PostgreSQL ``numeric``: exact arithmetic) split by FLOOR; anything else as text, ``123`` or
  ``123.456789`` (at most 12 digits before the point, 6 after). The value is an exact whole part
  and millionths, both int64 (sums of them cannot silently wrap: every engine widens or raises).

No decimal arithmetic beyond that, no floating point. Engines that flatten sub-selects into their
readers (SQLite, PostgreSQL) would evaluate each expression once per *reference* — the regular
expression hundreds of times per row: a ``fence`` stops that between stages (``engine_plan.fence_for``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir

MICRO = 1_000_000
_WHOLE_DIGITS = 12  # whole part < 10**12: one value in millionths stays below 2**63
PLAIN_QUANTITY = rf"^[0-9]{{1,{_WHOLE_DIGITS}}}(\.[0-9]{{1,6}})?$"
# the offset (or Z) is required, as for files
TEXT_INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
_MAX_OFFSET_HOURS = 18  # what Python and Arrow both accept without a doubt
_QUANTITY_SCALE = 6
# typed instants outside Python's datetime range (PostgreSQL's and DuckDB's infinity, BC dates) are
# left to the file reader rather than turned into arithmetic that may overflow
_FIRST = ibis.timestamp(datetime(1, 1, 1, tzinfo=UTC))
_LAST = ibis.timestamp(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
_EPOCH = ibis.timestamp(datetime(1970, 1, 1, tzinfo=UTC))
NO_INT = ibis.null("int64")
NO_STRING = ibis.null("string")

# the columns that make a stage's sub-select a barrier to flattening (``engine_plan.fence_for``)
Fence = Callable[[], dict[str, ir.Value]]
_FENCES = ("_fence",)
_FIELDS = ("_tt", "_y", "_mo", "_d", "_clock", "_clock_ok", "_fraction", "_offset", "_offset_ok")


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(moment: datetime) -> int:  # type: ignore[empty-body]
    """DuckDB's exact µs since the epoch (its generic date difference goes through ICU: slower)."""


def as_text(column: ir.Value, backend: str) -> ir.StringValue:
    """The column as text. On SQLite, ``|| ''`` converts an integer or real stored in a text
    column (ibis drops a cast to the type it believes the column has); elsewhere a text column is
    read as it is (the concatenation would copy every value)."""
    text = column.cast("string")
    return text.concat("") if backend == "sqlite" else text


def days_from_civil(year: ir.IntegerValue, month: ir.IntegerValue, day: ir.IntegerValue) -> ir.IntegerValue:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), year >= 1:
    every division is of non-negative integers, where all engines agree."""
    shifted = year - ibis.ifelse(month <= 2, 1, 0)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _month_length(year: ir.IntegerValue, month: ir.IntegerValue) -> ir.IntegerValue:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return ibis.cases(
        (month == 2, ibis.ifelse(leap, 29, 28)),
        (month.isin([4, 6, 9, 11]), 30),
        else_=31,
    )


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
    in_range = ((quantity >= 0) & (quantity < 10**_WHOLE_DIGITS)).fill_null(False)
    if kind.is_integer():
        return {"_q_ok": in_range, "_whole": quantity.cast("int64"), "_frac": ibis.literal(0, "int64")}
    if not kind.is_decimal():
        return None
    if backend != "postgres" and (kind.scale is None or kind.scale > _QUANTITY_SCALE):
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
    """``table`` plus ``more``, ``_ts_ok`` (the timestamp is an instant beyond doubt), ``_us`` (µs
    since the epoch), ``_q_ok`` (the quantity is certain), ``_whole`` and ``_frac`` (its whole part
    and millionths); the values are NULL when not certain.

    Text goes through up to three stages, fenced: the regular expressions (once per row), the fields
    cut out of the text, the arithmetic on them — each stage reads the previous one's columns.
    """
    stage: dict[str, ir.Value] = dict(more)
    typed = timestamp.type().is_timestamp()
    if typed:
        stage.update(typed_instant_values(timestamp, backend))
    else:
        text = as_text(timestamp, backend)
        shaped = (text.notnull() & text.re_search(TEXT_INSTANT)).fill_null(False)
        # only certain text reaches the casts below: SQLite casts "x" to 0, Spark raises
        stage["_tt"] = ibis.ifelse(shaped, text, NO_STRING)
    numeric = numeric_quantity_values(quantity, backend) if quantity.type().is_numeric() else None
    if numeric is not None:
        stage.update(numeric)
    else:
        text = as_text(quantity, backend)
        plain = (text.notnull() & text.re_search(PLAIN_QUANTITY)).fill_null(False)
        stage.update(_qt=ibis.ifelse(plain, text, NO_STRING), _q_ok=plain)
    # each stage one sub-select (SQLite's parser gives up beyond a few dozen nested ones)
    staged = table.select(**stage, **fence())
    if typed and numeric is not None:
        return staged
    kept = [name for name in staged.columns if name not in ("_qt", *_FENCES)]
    split = _text_quantity(staged._qt) if numeric is None else {}
    fields = _instant_fields(staged._tt) if not typed else {}
    staged = staged.select(*(name for name in kept if name != "_tt" or fields), **split, **fields, **fence())
    if typed:
        return staged
    return _text_instant(staged, fence)


def _text_quantity(q: ir.StringValue) -> dict[str, ir.Value]:
    dot = q.find(".")
    return {
        "_whole": ibis.ifelse(dot >= 0, q.substr(0, dot), q).cast("int64"),
        # "5" -> "500000": the digits after the point padded to 6; no point -> "000000"
        "_frac": ibis.ifelse(dot >= 0, q.substr(dot + 1), "").concat("000000").substr(0, 6).cast("int64"),
    }


def _instant_fields(t: ir.StringValue) -> dict[str, ir.Value]:
    """The fields of a shaped text instant (``_tt``), as integers; NULL for other text."""
    zulu = t.endswith("Z")
    zone = ibis.ifelse(zulu, 1, 6)  # the form is certain: "Z" or "±HH:MM"
    fraction = ibis.ifelse(t.substr(19, 1) == ".", t.substr(20, t.length() - 20 - zone), "")
    # the casts read guarded text only (Spark in ANSI mode raises on "Z")
    hours = ibis.ifelse(zulu, "0", t.right(5).substr(0, 2)).cast("int64")
    minutes = ibis.ifelse(zulu, "0", t.right(2)).cast("int64")
    sign = ibis.ifelse(t.right(6).substr(0, 1) == "-", -1, 1)
    return dict(
        _y=t.substr(0, 4).cast("int64"),
        _mo=t.substr(5, 2).cast("int64"),
        _d=t.substr(8, 2).cast("int64"),
        _clock=t.substr(11, 2).cast("int64") * 3600
        + t.substr(14, 2).cast("int64") * 60
        + t.substr(17, 2).cast("int64"),
        _clock_ok=(t.substr(11, 2) <= "23") & (t.substr(14, 2) <= "59") & (t.substr(17, 2) <= "59"),
        _fraction=fraction.concat("000000").substr(0, 6).cast("int64"),
        _offset=sign * (hours * 3600 + minutes * 60),
        _offset_ok=(hours <= _MAX_OFFSET_HOURS) & (minutes <= 59),
    )


def _text_instant(fields: ir.Table, fence: Fence) -> ir.Table:
    s = fields
    valid = (
        s._tt.notnull()
        & (s._y >= 1)
        & s._mo.between(1, 12)
        & (s._d >= 1)
        & (s._d <= _month_length(s._y, s._mo))
        & s._clock_ok
        & s._offset_ok
    ).fill_null(False)
    seconds = days_from_civil(s._y, s._mo, s._d) * 86_400 + s._clock - s._offset
    kept = [name for name in s.columns if name not in (*_FIELDS, *_FENCES)]
    return s.select(*kept, _ts_ok=valid, _us=ibis.ifelse(valid, seconds * MICRO + s._fraction, NO_INT), **fence())
