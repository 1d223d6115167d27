"""Portable column expressions (ibis) for the usage engine: what a row holds, decided with certainty.

Every expression here compiles to plain SQL on every ibis backend we run (DuckDB, SQLite,
PostgreSQL, Spark): string functions, a regular expression, integer arithmetic and CASE — no date
parsing of the engine's own (formats and time zones differ from one engine to the next), no
decimal type (SQLite has none), no floating point. A value is *certain* when it is in a strict
form whose meaning is the file reader's without doubt; anything else is left to the file reader
(``UsageReader``), which says exactly what is wrong with it.

- Quantities: ``123`` or ``123.456789`` (at most 12 digits before the point, at most 6 after),
  split into an exact whole part and millionths, both int64 (sums of them cannot silently wrap:
  every engine widens or raises on overflow);
- Instants: ISO 8601 ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`` for text columns; a typed
  instant column is cast to text in a UTC session (``2026-10-02 08:00:00.5+00`` on DuckDB and
  PostgreSQL, ``2026-10-02 08:00:00.5`` on Spark) and read by the same code. Microseconds since
  the epoch are computed with integer arithmetic (days from the civil date), field ranges
  included (a 30th of February is not certain).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

MICRO = 1_000_000
_WHOLE_DIGITS = 12  # whole part < 10**12: one value in millionths stays below 2**63
PLAIN_QUANTITY = rf"^[0-9]{{1,{_WHOLE_DIGITS}}}(\.[0-9]{{1,6}})?$"
# text columns: the offset (or Z) is required, as for files; typed columns: in a UTC session
TEXT_INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
TYPED_INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-]00(:00)?)?$"
_MAX_OFFSET_HOURS = 18  # what Python and Arrow both accept without a doubt


def as_text(column: ir.Value) -> ir.StringValue:
    """The column as text. ``|| ''`` makes SQLite convert an integer or real stored in a text
    column (ibis drops a cast to the type it believes the column has)."""
    return column.cast("string").concat("")


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


def with_values(
    table: ir.Table, *, timestamp: ir.StringValue, quantity: ir.StringValue, typed: bool, **more: ir.Value
) -> ir.Table:
    """``table`` plus ``_ts_ok`` (the timestamp text is an instant beyond doubt), ``_us`` (µs since
    the epoch), ``_q_ok`` (the quantity is plain), ``_whole`` and ``_frac`` (its whole part and
    millionths); the values are NULL when not certain. ``typed``: the timestamp text is that of a
    typed column in a UTC session; ``more``: other columns to add.

    Three stages (sub-selects), so that no expression is repeated inside another (ibis does not
    share sub-expressions), yet few: SQLite's parser gives up beyond ~15 nested sub-selects.
    """
    shaped = (timestamp.notnull() & timestamp.re_search(TYPED_INSTANT if typed else TEXT_INSTANT)).fill_null(False)
    plain = (quantity.notnull() & quantity.re_search(PLAIN_QUANTITY)).fill_null(False)
    # only certain text reaches the casts below: SQLite casts "x" to 0, Spark raises
    staged = table.mutate(
        _tt=ibis.ifelse(shaped, timestamp, ibis.null("string")),
        _qt=ibis.ifelse(plain, quantity, ibis.null("string")),
        _q_ok=plain,
        **more,
    )
    t = staged._tt
    zone = ibis.cases((t.endswith("Z"), 1), (t.right(6).substr(0, 1).isin(["+", "-"]), 6), else_=0)
    short_zone = t.right(3).substr(0, 1).isin(["+", "-"])  # "+00", a typed column's zone
    staged = staged.mutate(
        _zone=ibis.ifelse(short_zone & (zone == 0), 3, zone),
        _len=t.length(),
        _y=t.substr(0, 4).cast("int64"),
        _mo=t.substr(5, 2).cast("int64"),
        _d=t.substr(8, 2).cast("int64"),
        _clock=t.substr(11, 2).cast("int64") * 3600
        + t.substr(14, 2).cast("int64") * 60
        + t.substr(17, 2).cast("int64"),
        _clock_ok=(t.substr(11, 2) <= "23") & (t.substr(14, 2) <= "59") & (t.substr(17, 2) <= "59"),
        _dot=staged._qt.find("."),
    )
    s = staged
    t, zone, q, dot = s._tt, s._zone, s._qt, s._dot
    fraction = ibis.ifelse(t.substr(19, 1) == ".", t.substr(20, s._len - 20 - zone), "")
    fraction = fraction.concat("000000").substr(0, 6).cast("int64")
    sign = ibis.ifelse(t.right(zone).substr(0, 1) == "-", -1, 1)
    offset_hours = ibis.ifelse(zone >= 3, t.right(zone).substr(1, 2), "0").cast("int64")
    offset_minutes = ibis.ifelse(zone == 6, t.right(2), "0").cast("int64")
    valid = (
        t.notnull()
        & (s._y >= 1)
        & s._mo.between(1, 12)
        & (s._d >= 1)
        & (s._d <= _month_length(s._y, s._mo))
        & s._clock_ok
        & (offset_hours <= _MAX_OFFSET_HOURS)
        & (offset_minutes <= 59)
    ).fill_null(False)
    seconds = (
        days_from_civil(s._y, s._mo, s._d) * 86_400 + s._clock - sign * (offset_hours * 3600 + offset_minutes * 60)
    )
    return s.mutate(
        _ts_ok=valid,
        _us=ibis.ifelse(valid, seconds * MICRO + fraction, ibis.null("int64")),
        _whole=ibis.ifelse(dot >= 0, q.substr(0, dot), q).cast("int64"),
        # "5" -> "500000": the digits after the point padded to 6; no point -> "000000"
        _frac=ibis.ifelse(dot >= 0, q.substr(dot + 1), "").concat("000000").substr(0, 6).cast("int64"),
    )
