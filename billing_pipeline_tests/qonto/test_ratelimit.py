"""The request budget: both windows enforced, shared in-process and through a SQLite file.

Only lower bounds on elapsed time are asserted (a slow machine can make them larger, never
smaller); the server-side proof that no window overflows is in the emulator contract tests.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from billing_pipeline.qonto.ratelimit import RequestBudget, binding_rates, shared_budget


async def timed_acquires(budgets: list[RequestBudget], count_each: int) -> float:
    started = time.monotonic()
    await asyncio.gather(*(b.acquire() for b in budgets for _ in range(count_each)))
    return time.monotonic() - started


async def test_short_window_paces_requests() -> None:
    budget = RequestBudget([(5, 300), (50, 10_000)])
    elapsed = await timed_acquires([budget], 11)
    # 11 permits at 5 per 300 ms need at least two full windows
    assert elapsed >= 0.6


async def test_long_window_paces_requests() -> None:
    budget = RequestBudget([(100, 100), (6, 500)])
    elapsed = await timed_acquires([budget], 7)
    assert elapsed >= 0.5


async def test_sqlite_bucket_is_one_budget_for_two_limiters(tmp_path: Path) -> None:
    db = tmp_path / "rate.sqlite"
    first = RequestBudget([(5, 400)], db_path=db)
    second = RequestBudget([(5, 400)], db_path=db)
    elapsed = await timed_acquires([first, second], 6)
    # separately each would pass 6 in one window (~0.4 s); together 12 need two more windows
    assert elapsed >= 0.8
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM qonto_api_requests").fetchone()[0] == 12
    first.close()
    second.close()


def test_shared_budget_is_per_process_and_per_file(tmp_path: Path) -> None:
    assert shared_budget(900, 9000, None) is shared_budget(900, 9000, None)
    assert shared_budget(900, 9000, None) is not shared_budget(800, 9000, None)
    on_file = shared_budget(900, 9000, tmp_path / "a.sqlite")
    assert on_file is shared_budget(900, 9000, tmp_path / "a.sqlite")
    assert on_file is not shared_budget(900, 9000, None)
    assert (tmp_path / "a.sqlite").exists()


def test_window_margin_widens_both_windows() -> None:
    budget = shared_budget(700, 7000, None, window_margin_s=0.5)
    assert [(rate.limit, rate.interval) for rate in budget.rates] == [(700, 10_500), (7000, 600_500)]
    assert budget is not shared_budget(700, 7000, None)


def test_redundant_rates_are_dropped() -> None:
    ten_s, ten_min = 10_000, 600_000
    assert binding_rates([(950, ten_s), (9500, ten_min)]) == [(950, ten_s), (9500, ten_min)]
    # a 10-min limit not above the 10-s one makes the 10-s window moot
    assert binding_rates([(50, ten_s), (10, ten_min)]) == [(10, ten_min)]
    assert binding_rates([(20, ten_s), (20, ten_min)]) == [(20, ten_min)]
    # a 10-min limit above 60x the 10-s one can never bind
    assert binding_rates([(10, ten_s), (601, ten_min)]) == [(10, ten_s)]
    assert binding_rates([(10, ten_s), (600, ten_min)]) == [(10, ten_s), (600, ten_min)]
    with pytest.raises(ValueError, match="at least one rate"):
        binding_rates([])
    with pytest.raises(ValueError, match="invalid rate 0 per 10000 ms"):
        binding_rates([(0, ten_s)])
