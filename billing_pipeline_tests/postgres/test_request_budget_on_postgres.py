"""The Qonto request budget kept in the ledger's PostgreSQL: one budget for every machine.

Two ``RequestBudget`` objects on one server stand for two machines (each process keeps its own
limiter object; only the server is shared)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from billing_pipeline.invoicing.connection import QontoConnection
from billing_pipeline.qonto import ratelimit_postgres
from billing_pipeline.qonto.config import ApiKeyAuth, QontoConfig
from billing_pipeline.qonto.ratelimit import RequestBudget
from billing_pipeline.qonto.ratelimit_postgres import connection_kwargs, describe_url
from billing_pipeline.settings import QontoMode
from billing_pipeline_tests.postgres.server import PostgresDatabase

pytestmark = pytest.mark.postgres

LIMIT = 5
WINDOW_MS = 10_000


@pytest.fixture
def budget_url(new_database: Callable[[str], PostgresDatabase]) -> str:
    return new_database("budget").url


@pytest.fixture
def budgets() -> Iterator[list[RequestBudget]]:
    opened: list[RequestBudget] = []
    yield opened
    for budget in opened:
        budget.close()


async def _admitted_within(budget: RequestBudget, seconds: float = 1.0) -> bool:
    try:
        await asyncio.wait_for(budget.acquire(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def test_two_machines_draw_from_one_budget(budget_url: str, budgets: list[RequestBudget]) -> None:
    first = RequestBudget([(LIMIT, WINDOW_MS)], postgres_url=budget_url)
    second = RequestBudget([(LIMIT, WINDOW_MS)], postgres_url=budget_url)
    budgets += [first, second]
    for _ in range(LIMIT - 2):
        await first.acquire()
    await second.acquire()
    await second.acquire()
    # the window is full: neither machine may send, whichever took the permits
    assert not await _admitted_within(first)
    assert not await _admitted_within(second)
    assert second.store.startswith("postgresql 127.0.0.1:")


async def test_sessions_in_other_time_zones_still_share_the_budget(
    budget_url: str, budgets: list[RequestBudget], monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgresBucket stores naive timestamps in the session's time zone: a machine whose sessions run
    # 14 hours ahead (PGTZ, a role's setting) would not see the other's permits without UTC sessions
    first = RequestBudget([(LIMIT, WINDOW_MS)], postgres_url=budget_url)
    budgets.append(first)
    for _ in range(LIMIT):
        await first.acquire()
    monkeypatch.setenv("PGTZ", "Pacific/Kiritimati")
    ahead = RequestBudget([(LIMIT, WINDOW_MS)], postgres_url=budget_url)
    budgets.append(ahead)
    assert not await _admitted_within(ahead)


def test_the_password_never_shows(
    budget_url: str, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit_postgres, "_CONNECT_TIMEOUT_S", 1.0)
    password = budget_url.split(":")[2].split("@")[0]
    assert describe_url(budget_url).startswith("127.0.0.1:") and password not in describe_url(budget_url)
    config = QontoConfig(base_url="http://127.0.0.1:9", auth=ApiKeyAuth.parse("l:s"), rate_limit_url=budget_url)
    connection = QontoConnection(
        mode=QontoMode.CUSTOM, state_dir=tmp_path, base_url="http://127.0.0.1:9", api_key=SecretStr("l:s"),
        ledger_url=SecretStr(budget_url),
    )  # fmt: skip
    assert password not in repr(config) and password not in repr(connection)
    assert password not in str(connection.client_config())
    # a wrong password: the error names the server, never the URL's credentials
    wrong = budget_url.replace(password, "Wr0ng-pass")
    with caplog.at_level(logging.DEBUG), pytest.raises(RuntimeError) as refused:
        RequestBudget([(LIMIT, WINDOW_MS)], postgres_url=wrong)
    assert "cannot reach PostgreSQL at 127.0.0.1" in str(refused.value)
    shown = str(refused.value) + repr(refused.value.__cause__) + caplog.text
    assert "Wr0ng-pass" not in shown and password not in shown


def test_the_connection_keeps_the_budget_with_a_postgres_ledger_only(tmp_path: Path, budget_url: str) -> None:
    common = {"mode": QontoMode.CUSTOM, "state_dir": tmp_path, "base_url": "http://127.0.0.1:9", "api_key": "l:s"}
    on_postgres = QontoConnection.model_validate({**common, "ledger_url": budget_url}).client_config()
    assert on_postgres.rate_limit_url is not None and on_postgres.rate_limit_db is None
    sqlite_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    on_sqlite = QontoConnection.model_validate({**common, "ledger_url": sqlite_url}).client_config()
    assert on_sqlite.rate_limit_url is None and on_sqlite.rate_limit_db == tmp_path / "qonto-rate-limit.sqlite"
    assert connection_kwargs(f"{budget_url}?sslmode=disable")["sslmode"] == "disable"  # libpq options kept
