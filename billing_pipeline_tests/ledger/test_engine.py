"""``LedgerEngine``: SQLite set-up, migration on open, the shared clock and cross-process locks."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from billing_pipeline.ledger import LedgerEngine, redacted
from billing_pipeline.ledger.migrations import SCHEMA_LOCK_KEY, VERSION_TABLE, _take_schema_lock, lock_key
from billing_pipeline_tests.ledger.conftest import toy_metadata
from billing_pipeline_tests.ledger.workers import hold_lock


def test_sqlite_ledger_is_created_with_its_directory_pragmas_and_schema(tmp_path: Path) -> None:
    ledger = LedgerEngine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'ledger.sqlite'}", metadata=toy_metadata)
    with ledger.engine.connect() as connection:
        pragmas = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in
                   ("journal_mode", "busy_timeout", "synchronous")]  # fmt: skip
        tables = set(sa.inspect(connection).get_table_names())
    assert pragmas == ["wal", 30000, 2]  # 2 = FULL
    assert tables == {"toys", VERSION_TABLE}
    assert ledger.schema.version == 1 and ledger.lock_dir == tmp_path / "deep" / "er" / "locks"
    ledger.dispose()


def test_now_is_the_databases_time_in_utc(tmp_path: Path) -> None:
    ledger = LedgerEngine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", metadata=toy_metadata)
    first, second = ledger.now(), ledger.now()
    assert first.tzinfo is UTC and timedelta(0) <= second - first < timedelta(seconds=5)
    ledger.dispose()


def test_repr_and_redacted_hide_the_password(tmp_path: Path) -> None:
    assert (
        redacted("postgresql+psycopg://billing:s3cret@db:5432/ledger")
        == "postgresql+psycopg://billing:***@db:5432/ledger"
    )
    ledger = LedgerEngine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", metadata=toy_metadata)
    assert repr(ledger) == f"LedgerEngine('sqlite:///{tmp_path / 'ledger.sqlite'}')"
    ledger.dispose()


def test_the_lock_file_and_key_are_the_previous_releases(tmp_path: Path) -> None:
    """Ledger.period_lock(p) of release a86cc62 locked ``period-<p>.lock`` and the PostgreSQL key of
    ``billing-period:<p>``; its schema creation the key of ``billing-ledger-schema``. Same here, so a
    process of each release exclude each other during an upgrade."""
    ledger = LedgerEngine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", metadata=toy_metadata)
    assert ledger.lock_path("period:2026-10") == tmp_path / "locks" / "period-2026-10.lock"
    assert ledger.lock_path("period:clients") == tmp_path / "locks" / "period-clients.lock"
    # values computed with a86cc62's billing_pipeline.invoicing.ledger._lock_key
    assert lock_key("billing-period:2026-10") == -2567819665592560607
    assert lock_key("billing-period:clients") == -1934950867304208193
    assert SCHEMA_LOCK_KEY == 8544093322846190499
    ledger.dispose()


@pytest.mark.parametrize("name", ["2026-10", "period:../../etc/passwd", "period:a b", "period:", ":x"])
def test_lock_names_are_kind_colon_value(tmp_path: Path, name: str) -> None:
    ledger = LedgerEngine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", metadata=toy_metadata)
    with pytest.raises(ValueError, match="is not <kind>:<value>"), ledger.lock(name):
        pass
    ledger.dispose()


def test_the_lock_excludes_other_processes_and_times_out_by_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = LedgerEngine(url, metadata=toy_metadata)
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=hold_lock, args=(url, "period:2026-10", held, release))
    holder.start()
    try:
        assert held.wait(60)
        begin = time.monotonic()
        with pytest.raises(TimeoutError, match=r"lock period:2026-10 stayed held by another writer for 0\.5 s"):
            with ledger.lock("period:2026-10", timeout_s=0.5):
                pass
        assert time.monotonic() - begin >= 0.5
        with ledger.lock("period:2026-09", timeout_s=5):  # another name is not blocked
            pass
    finally:
        release.set()
        holder.join(60)
    with ledger.lock("period:2026-10", timeout_s=30):  # released with its holder
        pass
    ledger.dispose()


def test_schema_lock_is_only_known_for_sqlite_and_postgresql() -> None:
    with pytest.raises(NotImplementedError, match="not mysql"):
        _take_schema_lock(SimpleNamespace(dialect=SimpleNamespace(name="mysql")))  # type: ignore[arg-type]
