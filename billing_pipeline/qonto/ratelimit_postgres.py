"""The request budget in PostgreSQL: one budget for every process of every machine using the ledger.

Qonto counts requests per egress IP. Machines behind one IP that each kept their own budget (in
memory, or in a SQLite file of their own) would together send up to N times the limit. When the
ledger is on PostgreSQL, every worker already reaches that server, so the budget lives there, in
pyrate-limiter's own ``PostgresBucket`` (table ``ratelimit___qonto_api_requests``): its
check-and-insert runs under a table lock, so no two processes take the same last permit.

The URL is the ledger's SQLAlchemy URL. Its password never leaves this module as text: psycopg gets
the connection parameters as keyword arguments (not a conninfo string an error could echo), and
``describe_url`` names the server without its credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyrate_limiter import PostgresBucket, Rate
from sqlalchemy.engine import URL, make_url

from billing_pipeline.qonto.redaction import register_secret

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

TABLE = "qonto_api_requests"
# one connection for the limiter's put (serialized by its lock), one for its clock and leak thread
_POOL_MAX = 2
# an unreachable server fails the budget's creation in this time, with a clear error, not a hang
_CONNECT_TIMEOUT_S = 10.0
# PostgresBucket stores naive TIMESTAMPs converted with the *session* time zone: two machines whose
# sessions differ (PGTZ, a role's or the database's default) would read each other's permits hours
# off and overrun the limit. Every budget session is set to UTC once connected (a SET, which takes
# precedence over any time zone given at connection time).
_UTC_SESSION = "SET TIME ZONE 'UTC'"


def is_postgres_url(url: str | None) -> bool:
    """True for a PostgreSQL SQLAlchemy URL (any driver), the ledgers whose budget is shared there."""
    if not url:
        return False
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except Exception:  # an unparsable URL is the ledger's error to report, not the budget's
        return False


def describe_url(url: str) -> str:
    """``host:port/database`` for messages: never the user's password."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def connection_kwargs(url: str) -> dict[str, Any]:
    """psycopg's connection parameters for the SQLAlchemy URL (whatever its driver)."""
    parsed: URL = make_url(url)
    register_secret(parsed.password)  # any later log line or error masks it
    kwargs: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    # libpq parameters given as query arguments (sslmode, application_name, ...) are kept
    for key, value in parsed.query.items():
        kwargs[key] = value[-1] if isinstance(value, tuple) else value
    return {key: value for key, value in kwargs.items() if value is not None}


def _utc_session(connection: Connection[Any]) -> None:
    connection.execute(_UTC_SESSION)
    connection.commit()  # the pool lends connections idle, outside any transaction


def postgres_bucket(url: str, rates: list[Rate]) -> PostgresBucket:
    """pyrate-limiter's PostgreSQL bucket on the ledger's server; its table is created if missing."""
    from psycopg_pool import ConnectionPool, PoolTimeout

    pool: ConnectionPool = ConnectionPool(
        "",
        kwargs=connection_kwargs(url),
        min_size=1,
        max_size=_POOL_MAX,
        name="qonto-request-budget",
        timeout=_CONNECT_TIMEOUT_S,
        # a server restart leaves broken connections in the pool: check each one before lending it
        check=ConnectionPool.check_connection,
        configure=_utc_session,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=_CONNECT_TIMEOUT_S)
        return PostgresBucket(pool, TABLE, rates)
    except PoolTimeout as error:
        pool.close()
        raise RuntimeError(
            f"the Qonto request budget cannot reach PostgreSQL at {describe_url(url)} (the ledger's server)"
        ) from error
    except BaseException:
        pool.close()
        raise
