"""Opening a usage table on its engine through ibis: DuckDB, SQLite, PostgreSQL, Spark.

URLs are SQLAlchemy-style, so that one setting (``BILLING_USAGE_URL``) names every source:

- ``duckdb:///path/usage.duckdb`` (opened read-only; never created), ``duckdb://`` (in memory,
  for a table that is a Parquet path);
- ``sqlite:///path/usage.sqlite``; ``postgresql+psycopg://user:password@host:port/database``;
- ``spark://local`` (Spark in local mode, in this process) or ``spark://host:7077`` (that
  cluster's master). An active Spark session, if any, is used as it is.

The table (``BILLING_USAGE_TABLE``) is a table or view name, or — for DuckDB and Spark — a path
to Parquet files (anything with a ``/`` or ending in ``.parquet``; globs and folders work).
Every session is put in UTC: a typed instant's distance to the epoch is taken between UTC wall
times on PostgreSQL (ibis casts both sides to ``timestamp``), and rows fetched come in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import sqlalchemy as sa

from billing_pipeline.billing.engine_errors import CannotConnect, EngineUnavailable
from billing_pipeline.billing.engine_usage import EngineTable
from billing_pipeline.billing.usage_reader import COLUMNS, UNIQUE_KEY

CONNECT_TIMEOUT_S = 10
NAIVE_TIMESTAMPS = (
    "a timestamp column without a time zone is ambiguous (which zone were the times written in?): "
    "use `timestamp with time zone` (timestamptz) or ISO 8601 text with an offset or Z"
)
ENGINES = ("duckdb", "sqlite", "postgresql", "spark")
# the DuckDB settings a URL may carry: how much memory and how many threads it uses, and where it spills
DUCKDB_SETTINGS = frozenset(
    {"memory_limit", "threads", "temp_directory", "max_temp_directory_size", "preserve_insertion_order"}
)
_ID_COLUMNS = ("event_id", "customer_id", "metric")
# Spark's session, shared by every read of the process (starting one takes 10-20 s)
_spark_sessions: dict[str, Any] = {}


def is_path(table: str) -> bool:
    return "/" in table or table.endswith(".parquet")


def connect(url: sa.URL) -> Any:
    """An ibis backend for ``url``; raises ``EngineUnavailable`` or ``CannotConnect``."""
    backend = url.get_backend_name()
    if backend not in ENGINES:
        raise EngineUnavailable(f"no engine for {backend!r} URLs (supported: {', '.join(ENGINES)})")
    try:
        return _CONNECTORS[backend](url)
    except (ImportError, ModuleNotFoundError) as missing:
        raise EngineUnavailable(f"the {backend} engine is not installed ({missing})") from None


def _duckdb(url: sa.URL) -> Any:
    database = url.database or ":memory:"
    if database != ":memory:" and not Path(database).is_file():
        # DuckDB would create an empty database file at a mistyped path; a source never writes
        raise CannotConnect("DuckDB database file not found")
    # the URL's query is DuckDB's own settings, e.g. ``duckdb://?memory_limit=3GB&threads=4``: a
    # month larger than the memory given spills to ``temp_directory`` (out of core) instead of failing
    settings = {key: value for key, value in url.query.items() if isinstance(value, str)}
    unknown = sorted(set(settings) - DUCKDB_SETTINGS)
    if unknown:
        raise CannotConnect(
            f"unknown DuckDB setting in the URL: {', '.join(unknown)} (known: {', '.join(sorted(DUCKDB_SETTINGS))})"
        )
    if "temp_directory" in settings:
        Path(settings["temp_directory"]).mkdir(parents=True, exist_ok=True)
    # rows need no order until the fetch of doubtful rows, which sorts them itself; keeping the
    # files' order would hold rows back in memory on large scans
    settings.setdefault("preserve_insertion_order", "false")
    con = ibis.duckdb.connect(database, read_only=database != ":memory:", **settings)
    con.raw_sql("SET TimeZone = 'UTC'")
    # DuckDB >= 1.4 finds sub-plans read twice and materializes them: here the month's classified
    # rows, held whole (8.5 GB spilled for 10^8 events, more than the disk at 10^9). Each reader
    # scanning the files again costs less than holding the month (see engine_usage.to_arrow).
    present = {name for (name,) in con.raw_sql("SELECT name FROM duckdb_optimizers()").fetchall()}
    if disabled := sorted(present & {"common_subplan", "materialized_cte"}):
        con.raw_sql(f"SET disabled_optimizers = '{','.join(disabled)}'")
    return con


def _sqlite(url: sa.URL) -> Any:
    database = url.database or ":memory:"
    if database != ":memory:" and not database.startswith("file:") and not Path(database).is_file():
        raise CannotConnect("SQLite database file not found")
    return ibis.sqlite.connect(database)


def _postgres(url: sa.URL) -> Any:
    options: dict[str, Any] = {key: value for key, value in url.query.items() if isinstance(value, str)}
    options.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    password = options.pop("password", url.password)  # a password in the query wins, as with libpq
    con = ibis.postgres.connect(
        user=url.username, password=password, host=url.host, port=url.port, database=url.database, **options
    )
    con.raw_sql("SET TIME ZONE 'UTC'")
    # JIT compiles every expression of a plan whose estimated cost passes a threshold: on the
    # usage plan (many small CASE expressions over a few hundred thousand rows) compiling cost
    # more than it saved (0.3 s of a 5 s read; seconds with larger expressions)
    con.raw_sql("SET jit = off")
    return con


def _spark(url: sa.URL) -> Any:
    from pyspark.sql import SparkSession

    master = "local[*]" if url.host in (None, "", "local") else f"spark://{url.host}:{url.port or 7077}"
    session = SparkSession.getActiveSession() or _spark_sessions.get(master)
    if session is None:
        session = (
            SparkSession.builder.master(master)
            .appName("billing_pipeline usage")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate()
        )
        _spark_sessions[master] = session
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return ibis.pyspark.connect(session)


_CONNECTORS: dict[str, Callable[[sa.URL], Any]] = {
    "duckdb": _duckdb,
    "sqlite": _sqlite,
    "postgresql": _postgres,
    "spark": _spark,
}


def open_table(
    con: Any, url: sa.URL, table: str | list[str], schema: str | None
) -> EngineTable | list[tuple[str | None, str]]:
    """The usage table (or the Parquet files listed), or the problems ``(field, reason)`` that
    stop it being read."""
    backend = url.get_backend_name()
    if (isinstance(table, list) or is_path(table)) and backend in ("duckdb", "spark"):
        try:
            # files written at different times may differ (a unique_key added, integer quantities in
            # one file, decimals in another): columns matched by name, each of a type holding all
            # (DuckDB: BIGINT and DECIMAL(18,6) read as DECIMAL(25,6), still exact)
            options = {"union_by_name": True} if backend == "duckdb" else {}
            found = con.read_parquet(table, **options)
        except Exception as error:  # every engine raises its own kind
            return [(None, f"cannot read the Parquet files: {_first_line(error)}")]
    else:
        try:
            found = con.table(table, database=schema)
        except Exception:  # "not found" is a different class on every backend
            return [(None, "table not found")]
    types = found.schema()
    problems: list[tuple[str | None, str]] = []
    for name in COLUMNS:
        if name not in types:
            problems.append((name, "missing column"))
        elif (reason := _type_problem(name, types[name], backend)) is not None:
            problems.append((name, reason))
    if UNIQUE_KEY in types and (reason := _type_problem("event_id", types[UNIQUE_KEY], backend)) is not None:
        problems.append((UNIQUE_KEY, reason))
    if problems:
        return problems
    typed = backend != "sqlite" and types["timestamp"].is_timestamp()
    if typed and backend == "spark" and _spark_naive(con, table, schema):
        return [("timestamp", NAIVE_TIMESTAMPS)]
    return EngineTable(found, typed, UNIQUE_KEY in types, backend=con.name)


def _spark_naive(con: Any, table: str | list[str], schema: str | None) -> bool:
    """Spark's ``TIMESTAMP`` is an instant, ``TIMESTAMP_NTZ`` is not; ibis shows both alike."""
    session = con._session  # the session ibis drives
    if isinstance(table, list):
        frame = session.read.parquet(*table)
    elif is_path(table):
        frame = session.read.parquet(table)
    else:
        frame = session.table(f"{schema}.{table}" if schema else table)
    return type(frame.schema["timestamp"].dataType).__name__ == "TimestampNTZType"


def _type_problem(name: str, kind: dt.DataType, backend: str) -> str | None:
    """Why a column's type cannot hold what the contract says, or None if it can."""
    if backend == "sqlite":
        return None  # declared types bind nothing in SQLite: every value is read as text and checked
    shown = str(kind).upper()
    if name in _ID_COLUMNS:
        if kind.is_string() or kind.is_integer() or kind.is_uuid():
            return None
        return f"column of type {shown}; expected text (integers and UUIDs are read as text)"
    if name == "quantity":
        if kind.is_string() or kind.is_integer() or kind.is_decimal() or kind.is_floating():
            return None
        return f"column of type {shown}; expected numbers or decimal strings"
    if kind.is_timestamp():
        return None if kind.timezone is not None or backend == "spark" else NAIVE_TIMESTAMPS
    if kind.is_string():
        return None
    return f"column of type {shown}; expected timestamp with time zone or ISO 8601 text"


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
