"""Text values read by the usage engine with certainty: ISO 8601 instants and plain decimals.

The same arithmetic on every engine — engines parse dates with their own leniencies and time
zones — in steps that each read the previous step's columns (``engine_columns.with_values``):

1. the shape: a regular expression (a Python call per value on SQLite, where native GLOB
   patterns say the same), so that only text of the strict form reaches a cast (SQLite casts "x"
   to 0, Spark in ANSI mode raises);
2. the fields, cut by ``substr`` at fixed 1-based positions (the same function on every engine;
   ibis' own substring adds a test for negative starts to every call);
3. the value: days from the civil date (integer arithmetic), the clock, the offset; field ranges
   checked (a 30th of February is not certain).

SQLite takes steps 2 and 3 at once with its own date functions (C, where each ``substr`` or cast
costs 0.1 to 0.3 µs): the GLOB pattern that matched tells the form (fraction digits, offset or Z),
``strftime('%s')`` reads the date, clock and offset (exact whole seconds: the fraction, which it
would round to milliseconds, is added apart), and ``date(julianday())`` catches a date it rolls over
(30 February becomes 2 March: only a real date comes back unchanged).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

MICRO = 1_000_000
WHOLE_DIGITS = 12  # whole part < 10**12: one value in millionths stays below 2**63
QUANTITY_SCALE = 6
PLAIN_QUANTITY = rf"^[0-9]{{1,{WHOLE_DIGITS}}}(\.[0-9]{{1,{QUANTITY_SCALE}}})?$"
# the offset (or Z) is required, as for files
TEXT_INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
_MAX_OFFSET_HOURS = 18  # what Python and Arrow both accept without a doubt
NO_INT = ibis.null("int64")
NO_STRING = ibis.null("string")
# the columns of step 2, read by step 3 only
FIELDS = ("_tt", "_y", "_mo", "_d", "_clock", "_clock_ok", "_fraction", "_offset", "_offset_ok")

# the strict forms as SQLite GLOB patterns, the commonest first: (pattern, fraction digits, offset?)
_D2, _D4 = "[0-9]" * 2, "[0-9]" * 4
_SQLITE_FORMS = tuple(
    (f"{_D4}-{_D2}-{_D2}T{_D2}:{_D2}:{_D2}{'.' + '[0-9]' * digits if digits else ''}{zone}", digits, zone != "Z")
    for zone in ("Z", f"[+-]{_D2}:{_D2}")
    for digits in (0, 6, 3, 1, 2, 4, 5)
)


@ibis.udf.scalar.builtin(name="glob")
def _glob(pattern: str, text: str) -> bool:  # type: ignore[empty-body]
    """SQLite's ``text GLOB pattern``: native C, where ibis' regular expressions are Python calls."""


@ibis.udf.scalar.builtin(name="substr")
def substr(text: str, start: int, length: int) -> str:  # type: ignore[empty-body]
    """``substr(text, start, length)``, start 1-based: the same on SQLite, PostgreSQL, DuckDB, Spark."""


@ibis.udf.scalar.builtin(name="strftime")
def _strftime(form: str, text: str) -> str:  # type: ignore[empty-body]
    """SQLite's ``strftime``."""


@ibis.udf.scalar.builtin(name="date")
def _date(day: float) -> str:  # type: ignore[empty-body]
    """SQLite's ``date`` of a Julian day number."""


@ibis.udf.scalar.builtin(name="julianday")
def _julianday(text: str) -> float:  # type: ignore[empty-body]
    """SQLite's ``julianday``: it takes any day from 1 to 31, so that 2026-09-31 is 1 October."""


def shaped_instant(text: ir.StringValue) -> ir.BooleanValue:
    """The text is in the strict ISO 8601 form (``TEXT_INSTANT``); NULL for NULL."""
    return text.re_search(TEXT_INSTANT)


def sqlite_instant_form(text: ir.StringValue) -> ir.IntegerValue:
    """Which strict form the text has (an index of ``_SQLITE_FORMS``), NULL for none: a CASE stops
    at the first GLOB that matches."""
    return ibis.cases(*((_glob(pattern, text), at) for at, (pattern, _, _) in enumerate(_SQLITE_FORMS)), else_=NO_INT)


def plain_quantity(text: ir.StringValue, backend: str) -> ir.BooleanValue:
    """The text is a plain decimal (``PLAIN_QUANTITY``); NULL for NULL."""
    if backend != "sqlite":
        return text.re_search(PLAIN_QUANTITY)
    dot, length = text.find("."), text.length()  # dot: 0-based, -1 when there is none
    integral = (dot == -1) & length.between(1, WHOLE_DIGITS)
    decimal = dot.between(1, WHOLE_DIGITS) & (length - dot - 1).between(1, QUANTITY_SCALE)
    # digits and one point at most
    return ~_glob("*[^0-9.]*", text) & ~_glob("*.*.*", text) & (integral | decimal)


def quantity_parts(plain: ir.StringValue) -> dict[str, ir.Value]:
    """``_whole`` and ``_frac`` (millionths) of a plain decimal; NULL for NULL."""
    dot = plain.find(".")  # 0-based: the length of the whole part
    return {
        "_whole": ibis.ifelse(dot >= 0, substr(plain, 1, dot), plain).cast("int64"),
        # "5" -> "500000": the digits after the point padded to 6; no point -> "000000"
        "_frac": substr(ibis.ifelse(dot >= 0, substr(plain, dot + 2, 6), "").concat("000000"), 1, 6).cast("int64"),
    }


def instant_fields(t: ir.StringValue) -> dict[str, ir.Value]:
    """The fields of a shaped instant (``_tt``), as integers; NULL for NULL."""

    def number(start: int, size: int) -> ir.IntegerValue:
        return substr(t, start, size).cast("int64")

    return {
        "_tt": t,
        "_y": number(1, 4),
        "_mo": number(6, 2),
        "_d": number(9, 2),
        "_clock": number(12, 2) * 3600 + number(15, 2) * 60 + number(18, 2),
        "_clock_ok": _clock_ok(t),
        **_fraction_and_offset(t),
    }


def _clock_ok(t: ir.StringValue) -> ir.BooleanValue:
    return (substr(t, 12, 2) <= "23") & (substr(t, 15, 2) <= "59") & (substr(t, 18, 2) <= "59")


def _fraction_and_offset(t: ir.StringValue) -> dict[str, ir.Value]:
    """``_fraction`` (µs), ``_offset`` (seconds east of UTC) and ``_offset_ok`` of a shaped instant."""
    length = t.length()
    zulu = substr(t, length, 1) == "Z"  # the form is certain: "Z" or "±HH:MM"
    fraction = ibis.ifelse(substr(t, 20, 1) == ".", substr(t, 21, length - 20 - ibis.ifelse(zulu, 1, 6)), "")
    # the casts read guarded text only (Spark in ANSI mode raises on "Z")
    hours = ibis.ifelse(zulu, "0", substr(t, length - 4, 2)).cast("int64")
    minutes = ibis.ifelse(zulu, "0", substr(t, length - 1, 2)).cast("int64")
    sign = ibis.ifelse(substr(t, length - 5, 1) == "-", -1, 1)
    return {
        "_fraction": substr(fraction.concat("000000"), 1, 6).cast("int64"),
        "_offset": sign * (hours * 3600 + minutes * 60),
        "_offset_ok": (hours <= _MAX_OFFSET_HOURS) & (minutes <= 59),
    }


def sqlite_instant_values(t: ir.StringValue, form: ir.IntegerValue) -> dict[str, ir.Value]:
    """``_ts_ok`` and ``_us`` of an instant of a known strict ``form`` by SQLite's own date
    functions: ``strftime('%s')`` of the date, clock and offset (exact whole seconds; NULL for an
    offset beyond ±14:00 or a minute or second of 60: then ``_us`` is NULL, and ``engine_plan``
    counts the instant as uncertain — strftime written once), the fraction's digits apart. ``_us``
    means something only where ``_ts_ok`` holds (``engine_plan`` blanks the rest)."""

    def by_form(values: list[object]) -> ir.Value:
        return ibis.cases(*((form == at, value) for at, value in enumerate(values)), else_=values[0])

    digits = by_form([digits for _, digits, _ in _SQLITE_FORMS])
    scale = by_form([10 ** (QUANTITY_SCALE - digits) for _, digits, _ in _SQLITE_FORMS])
    zone = ibis.ifelse(form >= len(_SQLITE_FORMS) // 2, substr(t, -6, 6), "")
    seconds = _strftime("%s", substr(t, 1, 19).concat(zone)).cast("int64")
    day = substr(t, 1, 10)
    # strftime takes an hour of 24 and rolls 30 February over to March: only a real date comes back
    # from date(julianday()) unchanged
    valid = (form.notnull() & (day >= "0001") & (substr(t, 12, 2) <= "23") & (_date(_julianday(day)) == day)).fill_null(
        False
    )
    fraction = substr(t, 21, digits).cast("int64") * scale
    return {"_ts_ok": valid, "_us": seconds * MICRO + fraction}


def instant_values(s: ir.Table) -> dict[str, ir.Value]:
    """``_ts_ok`` and ``_us`` from the columns of ``instant_fields``; ``_us`` means something only
    where ``_ts_ok`` holds (integer arithmetic on any field never fails)."""
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
    return {"_ts_ok": valid, "_us": seconds * MICRO + s._fraction}


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
