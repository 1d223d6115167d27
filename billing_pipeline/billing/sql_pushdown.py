"""The SQL usage source's pushdown: the database filters the period, drops duplicates and adds up.

Only aggregates and the rows that need a look cross the wire. Every row of the period's window (the
period widened by a day, as the streaming query reads it) is classified *in SQL*, conservatively:

- ``a`` (aggregated): certainly in the period, its ``event_id`` present and used by no other row of
  the window, customer and metric present, and a quantity in a plain form the database can add
  exactly (``123`` or ``123.456789``: digits, at most 6 decimals). These rows are summed per
  (customer, metric) in the database: exact integer sums on SQLite (whole part and micro-units
  apart), ``numeric`` sums on PostgreSQL;
- ``s`` (skipped): a readable timestamp certainly outside the period — the file reader does not
  check those rows either;
- ``r`` (raw): everything else (a timestamp near a period boundary or not in the strict form,
  a repeated ``event_id``, an odd or bad quantity, a missing value…). These rows are fetched
  with their position in the streaming query's order and go through ``UsageReader``, the very
  checks and messages of the file reader — so an error is reported exactly as before, with the
  same row number.

The aggregated groups are then checked in Python like single rows (customer in customers.csv,
metric in the price list, not blank); the rows of a group that fails are fetched raw as well, so
that each gets its message. A row is never both summed and fetched: the classification only
decides *who* checks a row, never *whether* it counts, so the totals equal the streaming reader's.

Duplicates: every copy of a repeated ``event_id`` is a raw row, so the file reader's rule (the first
copy counts, an identical later copy is a repeat, a different one is reported) applies unchanged.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import sqlalchemy as sa

from billing_pipeline.billing.usage_columns import QUANTITY_SCALE
from billing_pipeline.billing.usage_reader import COLUMNS, UNIQUE_KEY, UsageOrigin

# a text timestamp this close to a period boundary is checked in Python (rounding of fractions)
BOUNDARY_MARGIN = timedelta(seconds=2)
# more distinct bad customers or metrics than this: read every row of the window instead
MAX_BAD_KEYS = 500

# SQLite GLOB patterns of the strict ISO 8601 forms pushed down (anything else is checked in Python)
_DATE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_TIME = "T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
_FRACTIONS = ("", ".[0-9][0-9][0-9]", ".[0-9][0-9][0-9][0-9][0-9][0-9]")
_ZONES = ("Z", "[+-][0-1][0-9]:[0-5][0-9]")
_SQLITE_PATTERNS = tuple(f"{_DATE}{_TIME}{fraction}{zone}" for fraction in _FRACTIONS for zone in _ZONES)
# PostgreSQL: the same strict forms, field ranges included (the day of the month is checked apart)
_PG_TIMESTAMP = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])$"
)
_PG_QUANTITY = r"^[0-9]{1,30}(\.[0-9]{1,6})?$"


class PushdownUnavailable(Exception):
    """The database cannot run the pushdown (too old, overflow…): the caller streams every row."""


class PositionedOrigin(UsageOrigin):
    """Raw rows fetched out of a longer query: a problem names the row's position in that query."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.positions: list[int] = []

    @property
    def noun(self) -> str:
        return "row"

    def row_number(self, record: int, log: object) -> int:
        return self.positions[record]


@dataclass
class Aggregates:
    """What the database added up, and how many rows of the window it classified each way."""

    sums: dict[tuple[str | None, str | None], tuple[int, Decimal]] = field(default_factory=dict)
    skipped: int = 0
    raw: int = 0

    @property
    def rows(self) -> int:
        return self.skipped + self.raw + sum(count for count, _ in self.sums.values())

    def add(
        self, kind: str, customer: str | None, metric: str | None, count: int, whole: object, micros: object
    ) -> None:
        if kind == "s":
            self.skipped += count
        elif kind == "r":
            self.raw += count
        else:
            # exponent -6, like the streaming reader's sums of quantities read as text: adding
            # micro-units (0E-6 at least) gives the sum that exponent (no rounding: at most 6 decimals)
            total = Decimal(whole or 0) + Decimal(micros or 0).scaleb(-QUANTITY_SCALE)
            self.sums[(customer, metric)] = (count, total)


_RAW_COLUMNS = ("position", *COLUMNS, UNIQUE_KEY)


@dataclass(frozen=True)
class Pushdown:
    """The statements of a pushdown read, built over the streaming query's window.

    ``combined_statement`` is ONE statement — the aggregates first, then the rows to fetch in the
    streaming query's order — so that both come from one snapshot of the table even while events
    keep arriving (two statements could see an event unique in the first and repeated in the
    second, and count it twice). Only when a group must be re-read row by row (an unknown customer
    or metric: the period fails anyway) is a second statement run (``raw_statement``).
    """

    classified: sa.CTE
    dialect: str
    whole: sa.ColumnElement  # over classified.quantity: the whole part of a plain quantity
    micros: sa.ColumnElement  # and its millionths (0 on PostgreSQL, where the whole part is exact)

    def combined_statement(self) -> sa.CompoundSelect:
        w = self.classified.c
        customer = sa.case((w.kind == "a", w.customer_id))
        metric = sa.case((w.kind == "a", w.metric))
        nothing = sa.null()
        aggregates = sa.select(
            sa.literal(0).label("part"),
            nothing.label("position"),
            w.kind.label("kind"),
            customer.label("customer_id"),
            metric.label("metric"),
            sa.func.count().label("rows"),
            sa.func.sum(sa.case((w.kind == "a", self.whole))).label("whole"),
            sa.func.sum(sa.case((w.kind == "a", self.micros))).label("micros"),
            nothing.label("event_id"),
            nothing.label("quantity"),
            nothing.label("timestamp"),
            nothing.label(UNIQUE_KEY),
        ).group_by(w.kind, customer, metric)
        raw = sa.select(
            sa.literal(1).label("part"),
            w.position,
            w.kind,
            w.customer_id,
            w.metric,
            nothing.label("rows"),
            nothing.label("whole"),
            nothing.label("micros"),
            w.event_id,
            w.quantity,
            w.timestamp,
            w.unique_key,
        ).where(w.kind == "r")
        union = sa.union_all(aggregates, raw).subquery("pushdown")
        return sa.select(*(union.c[name] for name in _UNION_COLUMNS)).order_by(union.c.part, union.c.position)

    def raw_statement(self, bad_customers: Collection[str | None], bad_metrics: Collection[str | None]) -> sa.Select:
        w = self.classified.c
        wanted: list[sa.ColumnElement] = [w.kind == "r"]
        for column, bad in ((w.customer_id, bad_customers), (w.metric, bad_metrics)):
            values = [value for value in bad if value is not None]
            if values:
                wanted.append(sa.and_(w.kind == "a", column.in_(values)))
        return sa.select(*(w[name] for name in _RAW_COLUMNS)).where(sa.or_(*wanted)).order_by(w.position)

    def read(self, connection: sa.Connection, fetch_rows: int) -> tuple[Aggregates, sa.CursorResult, Iterator[list]]:
        """The aggregates, and the still open result whose remaining chunks are the rows to fetch
        (each row: position, event_id, customer_id, metric, quantity, timestamp)."""
        aggregates = Aggregates()
        try:
            result = connection.execution_options(yield_per=fetch_rows).execute(self.combined_statement())
            chunks = result.partitions()
            leftover: list = []
            for chunk in chunks:
                split = next((index for index, row in enumerate(chunk) if row[0] == 1), len(chunk))
                for row in chunk[:split]:
                    aggregates.add(row[2], row[3], row[4], row[5], row[6], row[7])
                if split < len(chunk):
                    leftover = chunk[split:]
                    break
        except sa.exc.SQLAlchemyError as error:  # no window functions, integer overflow…
            raise PushdownUnavailable(str(error)) from error

        def raw_chunks() -> Iterator[list]:
            if leftover:
                yield [tuple(row[index] for index in _RAW_INDEXES) for row in leftover]
            for chunk in chunks:
                yield [tuple(row[index] for index in _RAW_INDEXES) for row in chunk]

        return aggregates, result, raw_chunks()


_UNION_COLUMNS = (
    "part", "position", "kind", "customer_id", "metric", "rows", "whole", "micros", "event_id", "quantity", "timestamp",
    UNIQUE_KEY,
)  # fmt: skip
_RAW_INDEXES = tuple(_UNION_COLUMNS.index(name) for name in _RAW_COLUMNS)


def raw_rows_batches(
    chunks: Iterator[list], origin: PositionedOrigin, moment_type: pa.DataType
) -> Iterator[pa.RecordBatch]:
    """Arrow batches of fetched rows (position first), recording each row's position on ``origin``."""
    for rows in chunks:
        if not rows:
            continue
        columns = list(zip(*rows, strict=True))
        origin.positions.extend(int(position) for position in columns[0])
        arrays = [pa.array(values, pa.string()) for values in columns[1:5]]
        arrays.append(pa.array(columns[5], moment_type))
        arrays.append(pa.array(columns[6], pa.string()))  # null when the table has no unique_key
        yield pa.record_batch(arrays, names=[*COLUMNS, UNIQUE_KEY])


def build_pushdown(
    table: sa.TableClause,
    selected: Sequence[sa.ColumnElement],
    window: sa.ColumnElement,
    order: Sequence[sa.ColumnElement],
    *,
    instants: bool,
    start: datetime,
    end: datetime,
    dialect: str,
    kept_apart: tuple[Collection[str], Collection[str]] = ((), ()),
) -> Pushdown | None:
    """The classified window, or None when this database/column layout is not pushed down.

    ``kept_apart``: (metrics, customers) whose rows are never added up in the database (metrics
    aggregated otherwise than by a sum, customers with subscription spans): always raw.
    """
    if dialect not in ("sqlite", "postgresql"):
        return None
    by_name = dict(zip(COLUMNS, selected[: len(COLUMNS)], strict=True))
    unique_key = selected[len(COLUMNS)] if len(selected) > len(COLUMNS) else sa.cast(sa.null(), sa.Text)
    event_id = _unlabeled(by_name["event_id"])
    # ids used by more than one row of the window: one GROUP BY (cheaper than a window function
    # partitioned by id), joined to the rows (a hash join; an IN (subquery) can become a subplan
    # re-scanned for every row on PostgreSQL)
    repeated_ids = (
        sa.select(event_id.label("repeated_id")).where(window).group_by(event_id).having(sa.func.count() > 1)
    ).subquery("repeated_ids")
    extra = [_sqlite_julian_day(_unlabeled(by_name["timestamp"])).label("julian_day")] if dialect == "sqlite" else []
    inner = (
        sa.select(
            sa.func.row_number().over(order_by=list(order)).label("position"),
            *(expression.label(name) for name, expression in by_name.items()),
            _unlabeled(unique_key).label(UNIQUE_KEY),
            repeated_ids.c.repeated_id.is_not(None).label("repeated"),
            *extra,
        )
        .select_from(table.outerjoin(repeated_ids, repeated_ids.c.repeated_id == event_id))
        .where(window)
    )
    w = inner.subquery("window_rows")
    if dialect == "sqlite":
        quantity_ok = _sqlite_quantity(w.c.quantity)[2]
        sure_in, sure_out = _sqlite_moments(w.c.julian_day, start, end)
    else:
        quantity_ok = _postgres_quantity(w.c.quantity)[2]
        if instants:
            moment = w.c.timestamp
            in_period = sa.and_(moment >= start, moment < end)
            sure_in, sure_out = in_period, sa.and_(moment.is_not(None), sa.not_(in_period))
        else:
            sure_in, sure_out = _postgres_text_moments(w.c.timestamp, start, end)
    summable = sa.and_(
        sure_in,
        sa.func.coalesce(w.c.repeated, True) == sa.false(),
        w.c.event_id.is_not(None),
        w.c.event_id != "",
        w.c.customer_id.is_not(None),
        w.c.metric.is_not(None),
        quantity_ok,
        *(
            sa.not_(
                column.in_(sa.bindparam(f"kept_apart_{name}", sorted(values), expanding=True, literal_execute=True))
            )
            for name, column, values in (
                ("metrics", w.c.metric, kept_apart[0]),
                ("customers", w.c.customer_id, kept_apart[1]),
            )
            if values
        ),
    )
    kind = sa.case((summable, "a"), (sure_out, "s"), else_="r")
    # every expression evaluated once per row, then materialized once for both parts of the read
    classified = (
        sa.select(w.c.position, *(w.c[name] for name in COLUMNS), w.c.unique_key, kind.label("kind"))
        .cte("classified")
        .prefix_with("MATERIALIZED")
    )
    if dialect == "sqlite":
        whole, micros, _ = _sqlite_quantity(classified.c.quantity)
    else:
        whole, micros, _ = _postgres_quantity(classified.c.quantity)
    return Pushdown(classified, dialect, whole, micros)


def _unlabeled(expression: sa.ColumnElement) -> sa.ColumnElement:
    return expression.element if isinstance(expression, sa.sql.elements.Label) else expression


def _sqlite_quantity(quantity: sa.ColumnElement) -> tuple[sa.ColumnElement, sa.ColumnElement, sa.ColumnElement]:
    dot = sa.func.instr(quantity, ".")
    integral = sa.and_(
        quantity != "", sa.not_(quantity.op("GLOB", is_comparison=True)("*[^0-9]*")), sa.func.length(quantity) <= 15
    )
    fraction = sa.func.substr(quantity, dot + 1)
    decimal = sa.and_(
        dot.between(2, 16),
        sa.not_(sa.func.substr(quantity, 1, dot - 1).op("GLOB", is_comparison=True)("*[^0-9]*")),
        sa.not_(fraction.op("GLOB", is_comparison=True)("*[^0-9]*")),
        sa.func.length(fraction).between(1, 6),
    )
    whole = sa.case(
        (integral, sa.cast(quantity, sa.Integer)),
        (decimal, sa.cast(sa.func.substr(quantity, 1, dot - 1), sa.Integer)),
    )
    micros = sa.case((decimal, sa.cast(sa.func.substr(fraction.concat("000000"), 1, 6), sa.Integer)), else_=0)
    return whole, micros, sa.and_(quantity.is_not(None), sa.or_(integral, decimal))


def _sqlite_julian_day(moment: sa.ColumnElement) -> sa.ColumnElement:
    """The instant as a Julian day number when the text is in a strict ISO 8601 form, else NULL."""
    shaped = sa.or_(*(moment.op("GLOB", is_comparison=True)(pattern) for pattern in _SQLITE_PATTERNS))
    day = sa.func.substr(moment, 1, 10)
    readable = sa.and_(
        moment.is_not(None),
        shaped,
        # julianday() accepts 2026-02-30 (the 2nd of March): a real date round-trips unchanged
        sa.func.date(sa.func.julianday(day)) == day,
        sa.func.substr(moment, 12, 2) <= "23",
    )
    return sa.case((readable, sa.func.julianday(moment)))


def _julian_day(moment: datetime) -> float:
    return moment.timestamp() / 86_400 + 2_440_587.5


def _sqlite_moments(julian_day: sa.ColumnElement, start: datetime, end: datetime) -> tuple[sa.ColumnElement, ...]:
    # NULL (unreadable) is neither: such a row is fetched and checked in Python
    sure_in = sa.and_(
        julian_day >= _julian_day(start + BOUNDARY_MARGIN), julian_day < _julian_day(end - BOUNDARY_MARGIN)
    )
    sure_out = sa.or_(
        julian_day < _julian_day(start - BOUNDARY_MARGIN), julian_day >= _julian_day(end + BOUNDARY_MARGIN)
    )
    return sa.func.coalesce(sure_in, False), sa.func.coalesce(sure_out, False)


def _postgres_quantity(quantity: sa.ColumnElement) -> tuple[sa.ColumnElement, sa.ColumnElement, sa.ColumnElement]:
    plain = quantity.op("~", is_comparison=True)(_PG_QUANTITY)
    whole = sa.case((plain, sa.cast(quantity, sa.Numeric)))
    return whole, sa.literal(0), sa.and_(quantity.is_not(None), plain)


def _postgres_text_moments(moment: sa.ColumnElement, start: datetime, end: datetime) -> tuple[sa.ColumnElement, ...]:
    shaped = sa.and_(moment.is_not(None), moment.op("~", is_comparison=True)(_PG_TIMESTAMP))
    year = sa.cast(sa.func.substr(moment, 1, 4), sa.Integer)
    month = sa.cast(sa.func.substr(moment, 6, 2), sa.Integer)
    day = sa.cast(sa.func.substr(moment, 9, 2), sa.Integer)
    last_day = sa.extract(
        "day", sa.func.make_date(year, month, 1) + sa.text("interval '1 month'") - sa.text("interval '1 day'")
    )
    # CASE evaluates in order: make_date and the cast only ever see text of the strict form
    instant = sa.case((shaped, sa.case((day <= last_day, sa.cast(moment, sa.DateTime(timezone=True))))))
    sure_in = sa.and_(instant >= start + BOUNDARY_MARGIN, instant < end - BOUNDARY_MARGIN)
    sure_out = sa.or_(instant < start - BOUNDARY_MARGIN, instant >= end + BOUNDARY_MARGIN)
    return sa.func.coalesce(sure_in, False), sa.func.coalesce(sure_out, False)
