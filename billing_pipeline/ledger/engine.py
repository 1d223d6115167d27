"""The ledger's database connection: engine, schema migration, shared clock and cross-process locks.

SQLite by default (WAL, so readers never wait for the writer; FULL sync, so a committed intent
survives a power cut), any SQLAlchemy URL otherwise (PostgreSQL in production).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from billing_pipeline.ledger.clock import db_now
from billing_pipeline.ledger.migrations import Migration, MigrationReport, lock_key, migrate

SQLITE_BUSY_TIMEOUT_S = 30
DEFAULT_LOCK_DIR = Path(".state") / "locks"

# "<kind>:<value>", e.g. "period:2026-10": also a safe file name once ":" becomes "-"
_LOCK_NAME = re.compile(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+")


class LedgerEngine:
    """Opens (and migrates) the ledger at ``url``. ``engine`` is the SQLAlchemy engine to write through."""

    def __init__(
        self,
        url: str,
        *,
        lock_dir: Path | None = None,
        metadata: sa.MetaData,
        migrations: Mapping[int, Migration] | None = None,
    ) -> None:
        self.url = url
        parsed = sa.make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database
            on_disk = bool(database) and database != ":memory:" and not str(database).startswith("file:")
            if on_disk:
                Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
            connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S}
            self.lock_dir = lock_dir or (Path(str(database)).parent / "locks" if on_disk else DEFAULT_LOCK_DIR)
        else:
            self.lock_dir = lock_dir or DEFAULT_LOCK_DIR
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.schema: MigrationReport = migrate(self.engine, metadata, migrations)

    def __repr__(self) -> str:
        return f"LedgerEngine({redacted(self.url)!r})"

    def dispose(self) -> None:
        self.engine.dispose()

    def now(self) -> datetime:
        """The ledger database's current time (UTC): the one clock every writer shares."""
        with self.engine.connect() as connection:
            return db_now(connection)

    @contextmanager
    def lock(self, name: str, *, timeout_s: float = 600) -> Iterator[None]:
        """Hold the cross-process lock ``name`` (``"<kind>:<value>"``, e.g. ``"period:2026-10"``).

        It serializes writers across processes and machines whatever the orchestrator does. The file
        (SQLite) and advisory-lock key (PostgreSQL) are those ``Ledger.period_lock(value)`` used for
        ``"period:<value>"``, so processes of the previous release and of this one exclude each other.
        """
        if not _LOCK_NAME.fullmatch(name):
            raise ValueError(f"lock name {name!r} is not <kind>:<value> in letters, digits, '.', '_' and '-'")
        if self.is_sqlite:
            self.lock_dir.mkdir(parents=True, exist_ok=True)
            try:
                with FileLock(str(self.lock_path(name)), timeout=timeout_s):
                    yield
            except FileLockTimeout:
                raise TimeoutError(_held_too_long(name, timeout_s)) from None
            return
        key = lock_key(f"billing-{name}")
        deadline = time.monotonic() + timeout_s
        with self.engine.connect() as connection:
            # a session lock polled, not a blocking pg_advisory_lock: the wait stays bounded and a
            # killed holder's lock goes with its connection
            while not connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                if time.monotonic() > deadline:
                    raise TimeoutError(_held_too_long(name, timeout_s))
                time.sleep(0.2)
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    def lock_path(self, name: str) -> Path:
        """The lock file of ``name`` on SQLite: ``period:2026-10`` -> ``<lock_dir>/period-2026-10.lock``."""
        return self.lock_dir / f"{name.replace(':', '-', 1)}.lock"


def redacted(url: str) -> str:
    """The URL with its password hidden (for logs, reprs and errors)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _held_too_long(name: str, timeout_s: float) -> str:
    return f"lock {name} stayed held by another writer for {timeout_s:g} s"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
