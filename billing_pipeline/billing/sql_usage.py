"""Usage events from a table, read where they live: DuckDB, SQLite, PostgreSQL or Spark.

The table has the columns of the file contract, ``event_id, customer_id, metric, quantity,
timestamp`` (and an optional ``unique_key``; other columns are ignored).

By default (``pushdown=True``) the engine holding the table does the work through one portable
ibis expression (``engine_plan.py``, connections in ``engine_connect.py``): it filters the period,
finds repeated ``event_id``s and computes every aggregation per customer, metric and subscription
span; only those results, and the rows of the few (customer, metric) groups it cannot settle with
certainty, cross the wire — those rows go through ``UsageReader``, the file reader's own checks
and messages, and a problem about one names its ``event_id`` (``engine_usage.EventOrigin``).

``pushdown=False`` (SQLite and PostgreSQL only) streams every row of the window through SQLAlchemy
Core instead, each chunk becoming one Arrow batch for ``UsageReader``; a problem then names the
row's 1-based position in the query's order (timestamp, event_id, customer_id, metric, quantity).

Problems name the source ``<url without password or query>#<table>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from billing_pipeline.billing.coverage import UsageSpans
from billing_pipeline.billing.engine_errors import CannotConnect, EngineUnavailable
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.price_plans import Aggregation
from billing_pipeline.billing.problems import ProblemLog
from billing_pipeline.billing.usage_detail import WEIGHTED
from billing_pipeline.billing.usage_reader import COLUMNS, UNIQUE_KEY, UsageOrigin, UsageReader, UsageTotals

logger = logging.getLogger(__name__)

DEFAULT_TABLE = "usage_events"
FETCH_ROWS = 100_000
CONNECT_TIMEOUT_S = 10
# Any UTC offset is less than a day, so a day on each side of the period holds every event of it,
# whether the column holds instants or ISO 8601 text written in any offset.
WINDOW_MARGIN = timedelta(days=1)
NAIVE_TIMESTAMPS = (
    "a timestamp column without a time zone is ambiguous (which zone were the times written in?): "
    "use `timestamp with time zone` (timestamptz) or ISO 8601 text with an offset or Z"
)
_ID_COLUMNS = ("event_id", "customer_id", "metric")
_ORDER = ("timestamp", "event_id", "customer_id", "metric", "quantity")
_SECRET_QUERY_KEYS = ("password", "passfile", "sslpassword", "sslkey")


class _TableOrigin(UsageOrigin):
    @property
    def noun(self) -> str:
        return "row"


@dataclass(frozen=True)
class _Query:
    statement: sa.Select
    timestamps_are_instants: bool
    # the rows before the window of the weighted_sum metrics: only for the level entering the period
    carry_in: sa.Select | None = None


@dataclass(frozen=True)
class SqlUsageSource:
    """Usage events of a table reached by a URL (``duckdb:///…``, ``sqlite:///…``,
    ``postgresql+psycopg://…``, ``spark://local``; see ``engine_connect``).

    ``fetch_rows`` is the chunk size: the most rows held as Python objects at once. ``pushdown``:
    let the engine filter, de-duplicate and aggregate (see the module docstring); without it
    (SQLite and PostgreSQL only) every row of the window is streamed.
    """

    url: str = field(repr=False)
    table: str = DEFAULT_TABLE
    schema: str | None = None
    fetch_rows: int = FETCH_ROWS
    pushdown: bool = True
    # Parquet files read in place by the engine (DuckDB, Spark) instead of ``table``, which then
    # only names them in problems: how files too many for the file reader's memory are read
    parquet_files: tuple[str, ...] = ()
    # DuckDB: find repeated ids in this many buckets (``engine_repeats``; 1 = one GROUP BY)
    id_buckets: int = 1

    def __post_init__(self) -> None:
        try:
            sa.make_url(self.url)
        except sa.exc.ArgumentError:
            # the URL is not echoed: it may hold a password
            raise ValueError(
                "the usage database URL is not a SQLAlchemy URL (dialect+driver://user:password@host:port/database)"
            ) from None
        if not self.table.strip():
            raise ValueError("the usage table name is empty")
        if self.schema is not None and not self.schema.strip():
            raise ValueError("the usage table's schema name is empty (leave it unset for the default schema)")
        if self.fetch_rows < 1:
            raise ValueError("fetch_rows must be at least 1")

    def __repr__(self) -> str:
        return f"SqlUsageSource({self.label!r})"

    @property
    def label(self) -> str:
        """``backend://user@host:port/database#[schema.]table``: no password, no driver, no query."""
        url = sa.make_url(self.url)
        where = url.set(drivername=url.get_backend_name(), query={}).render_as_string(hide_password=True)
        table = f"{self.schema}.{self.table}" if self.schema else self.table
        return f"{where}#{table}"

    def read(
        self,
        period: BillingPeriod,
        zone: ZoneInfo,
        *,
        customers: Collection[str] | None,
        metrics: Collection[str] | None,
        aggregations: Mapping[str, Aggregation] | None = None,
        spans: UsageSpans | None = None,
    ) -> UsageTotals:
        reader = UsageReader(period, zone, customers, metrics, aggregations, spans)
        label = self.label
        logger.info("reading the usage of %s from %s", period.key, label)
        streamed = not self.pushdown and sa.make_url(self.url).get_backend_name() in ("sqlite", "postgresql")
        engine = self._engine(reader.log) if streamed else None
        if not streamed:
            self._read_through_engine(reader)
        elif engine is not None:
            try:
                self._read(engine, period, zone, reader)
            finally:
                engine.dispose()
        usage = reader.finish(1)
        logger.info(
            "%s: %d rows read, %d in %s, %d problem(s)",
            label,
            usage.rows_read,
            usage.rows_in_period,
            period.key,
            len(usage.problems),
        )
        return usage

    # -- connecting ----------------------------------------------------------------------------

    def _engine(self, log: ProblemLog) -> sa.Engine | None:
        url = sa.make_url(self.url)
        backend = url.get_backend_name()
        if backend == "sqlite" and url.database not in (None, "", ":memory:") and not url.database.startswith("file:"):
            # sqlite3 would create an empty database file at a mistyped path; a source never writes
            if not Path(url.database).is_file():
                log.add(self.label, "cannot connect to the usage database: SQLite database file not found")
                return None
        connect_args: dict[str, Any] = {}
        if backend == "postgresql" and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        try:
            return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
            log.add(self.label, f"cannot use the usage database URL: {self._scrub(str(error))}")
            return None

    def _read_through_engine(self, reader: UsageReader) -> None:
        # imported here: ibis and its backends take a second to import, which only a table read needs
        from billing_pipeline.billing.engine_connect import connect, open_table
        from billing_pipeline.billing.engine_usage import read_through_engine

        url = sa.make_url(self.url)
        try:
            con = connect(url)
        except EngineUnavailable as unavailable:
            reader.log.add(self.label, f"cannot use the usage database URL: {self._scrub(str(unavailable))}")
            return
        except Exception as error:  # each engine's driver has its own errors
            reader.log.add(self.label, f"cannot connect to the usage database: {self._message(error)}")
            return
        try:
            found = open_table(con, url, list(self.parquet_files) or self.table, self.schema)
            if isinstance(found, list):
                for name, reason in found:
                    reader.log.add(self.label, reason, field=name)
                return
            read_through_engine(found, reader, self.label, self.fetch_rows, self.id_buckets)
        except Exception as error:  # permissions, a table changing under us, overflow…
            reader.log.add(self.label, f"cannot read the table: {self._message(error)}")
        finally:
            if url.get_backend_name() != "spark":  # the Spark session serves the next read
                con.disconnect()

    def _read(self, engine: sa.Engine, period: BillingPeriod, zone: ZoneInfo, reader: UsageReader) -> None:
        try:
            connection = engine.connect()
        except sa.exc.SQLAlchemyError as error:
            reader.log.add(self.label, f"cannot connect to the usage database: {self._message(error)}")
            return
        with connection:
            try:
                query = self._query(connection, period, zone, reader)
                if query is not None:
                    reader.read_batches(_TableOrigin(self.label), self._batches(connection, query))
                if query is not None and query.carry_in is not None:
                    reader.carry_in_batches(self._batches(connection, query, query.carry_in))
            except (sa.exc.SQLAlchemyError, pa.ArrowException) as error:
                reader.log.add(self.label, f"cannot read the table: {self._message(error)}")

    # -- the query -----------------------------------------------------------------------------

    def _query(
        self, connection: sa.Connection, period: BillingPeriod, zone: ZoneInfo, reader: UsageReader
    ) -> _Query | None:
        """The SELECT of the period's rows, or None after reporting why the table cannot be read."""
        log = reader.log
        inspector = sa.inspect(connection)
        if not inspector.has_table(self.table, schema=self.schema):
            log.add(self.label, "table not found")
            return None
        types = {column["name"]: column["type"] for column in inspector.get_columns(self.table, schema=self.schema)}
        dialect = connection.dialect
        problems: list[tuple[str, str]] = []
        for name in COLUMNS:
            if name not in types:
                problems.append((name, "missing column"))
            elif (reason := _type_problem(name, types[name], dialect)) is not None:
                problems.append((name, reason))
        if UNIQUE_KEY in types and (reason := _type_problem("event_id", types[UNIQUE_KEY], dialect)) is not None:
            problems.append((UNIQUE_KEY, reason))
        for name, reason in problems:
            log.add(self.label, reason, field=name)
        if problems:
            return None

        names = [*COLUMNS, *([UNIQUE_KEY] if UNIQUE_KEY in types else [])]
        table = sa.table(self.table, *(sa.column(name) for name in names), schema=self.schema)
        selected = [
            table.c[name] if _read_as_is(name, types[name], dialect) else sa.cast(table.c[name], sa.Text).label(name)
            for name in names
        ]
        instants = _holds_instants(types["timestamp"], dialect)
        moment = table.c.timestamp
        start, end = period.start(zone), period.end(zone)
        if instants:
            kept = sa.or_(
                sa.and_(moment >= start - WINDOW_MARGIN, moment < end + WINDOW_MARGIN),
                moment.is_(None),
            )
        else:
            kept = _text_window(moment, start, end, dialect)
        order = [table.c[name] for name in _ORDER]
        statement = sa.select(*selected).where(kept).order_by(*order)
        kinds = reader.classifier.aggregations
        weighted = sorted(metric for metric, kind in kinds.items() if kind == WEIGHTED)
        carry_in = None
        if weighted:
            if instants:
                earlier = moment < start
            else:
                upper = (start.astimezone(ZoneInfo("UTC")) + 2 * WINDOW_MARGIN).date().isoformat()
                earlier = (sa.collate(moment, "C") if dialect.name == "postgresql" else moment) < upper
            metric = sa.cast(table.c.metric, sa.Text)
            carry_in = sa.select(*selected[: len(COLUMNS)]).where(earlier, metric.in_(weighted))
        return _Query(statement, instants, carry_in)

    def _batches(
        self, connection: sa.Connection, query: _Query, statement: sa.Select | None = None
    ) -> Iterator[pa.RecordBatch]:
        statement = query.statement if statement is None else statement
        streamed = connection.execution_options(yield_per=self.fetch_rows).execute(statement)
        moment_type = pa.timestamp("us", tz="UTC") if query.timestamps_are_instants else pa.string()
        for rows in streamed.partitions():
            columns = list(zip(*rows, strict=True))
            arrays = [pa.array(values, pa.string()) for values in columns[:4]]
            arrays.append(pa.array(columns[4], moment_type))
            arrays.extend(pa.array(values, pa.string()) for values in columns[5:])
            yield pa.record_batch(arrays, names=[*COLUMNS, UNIQUE_KEY][: len(arrays)])

    # -- keeping the password out of every message ---------------------------------------------

    def _secrets(self) -> list[str]:
        url = sa.make_url(self.url)
        values = [url.password] if url.password else []
        for key in _SECRET_QUERY_KEYS:
            value = url.query.get(key)
            values.extend([value] if isinstance(value, str) else list(value or ()))
        found = [str(value) for value in values if value]
        return [variant for value in found for variant in {value, quote(value, safe=""), quote_plus(value)}]

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _message(self, error: Exception) -> str:
        """The driver's own words (no SQL, no parameters, no link), on one line, without secrets."""
        origin = error.orig if isinstance(error, sa.exc.DBAPIError) and error.orig is not None else error
        text = str(origin).strip().split("\n")[0] if isinstance(origin, CannotConnect) else str(origin)
        text = re.sub(r"\s+", " ", text).strip() or type(origin).__name__
        return self._scrub(text)


def _type_name(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    try:
        return str(kind.compile(dialect=dialect))
    except sa.exc.SQLAlchemyError:
        return type(kind).__name__


def _type_problem(name: str, kind: sa.types.TypeEngine, dialect: sa.Dialect) -> str | None:
    """Why a column's declared type cannot hold what the contract says, or None if it can."""
    if dialect.name == "sqlite":
        return None  # declared types bind nothing in SQLite: every value is read as text and checked
    if name in _ID_COLUMNS:
        if isinstance(kind, sa.String | sa.Integer | sa.Uuid):
            return None
        return f"column of type {_type_name(kind, dialect)}; expected text (integers and UUIDs are read as text)"
    if name == "quantity":
        if isinstance(kind, sa.String | sa.Integer | sa.Numeric | sa.Float):
            return None
        return f"column of type {_type_name(kind, dialect)}; expected numbers or decimal strings"
    if isinstance(kind, sa.DateTime):
        return None if kind.timezone else NAIVE_TIMESTAMPS
    if isinstance(kind, sa.String):
        return None
    return f"column of type {_type_name(kind, dialect)}; expected timestamp with time zone or ISO 8601 text"


def _holds_instants(kind: sa.types.TypeEngine, dialect: sa.Dialect) -> bool:
    return dialect.name != "sqlite" and isinstance(kind, sa.DateTime)


def _read_as_is(name: str, kind: sa.types.TypeEngine, dialect: sa.Dialect) -> bool:
    """Whether the driver's value is used directly; every other column is cast to text in SQL.

    Quantities always travel as text: it is exact for NUMERIC (NaN and infinities included), the
    shortest exact form for floating point, and the file reader's checks apply to it unchanged.
    """
    if name == "timestamp":
        return _holds_instants(kind, dialect) or (dialect.name != "sqlite" and isinstance(kind, sa.String))
    return name != "quantity" and dialect.name != "sqlite" and isinstance(kind, sa.String)


def _text_window(moment: sa.ColumnClause, start: datetime, end: datetime, dialect: sa.Dialect) -> sa.ColumnElement:
    """Rows whose ISO 8601 text may fall in [start, end), and rows whose text is not even date-shaped.

    ISO 8601 text sorts like the local date it starts with, and that date is within a day of the
    UTC date, so comparing strings to the dates a day around the period (byte order on PostgreSQL,
    whatever the column's collation) keeps every event of the period. A text that does not start
    like ``YYYY-`` may be anything: it is always fetched so that it is reported, as files do.
    """
    lower = (start.astimezone(ZoneInfo("UTC")) - WINDOW_MARGIN).date().isoformat()
    upper = (end.astimezone(ZoneInfo("UTC")) + 2 * WINDOW_MARGIN).date().isoformat()
    ordered = sa.collate(moment, "C") if dialect.name == "postgresql" else moment
    date_shaped = sa.and_(sa.func.substr(moment, 5, 1) == "-", sa.func.substr(moment, 1, 4).between("0000", "9999"))
    return sa.or_(sa.and_(ordered >= lower, ordered < upper), moment.is_(None), sa.not_(date_shaped))
