"""Creates against a server that closes idle keep-alive connections, over real loopback HTTP.

A server closes a keep-alive connection once it has been idle for its timeout (uvicorn: 5 s). The
client's pool hands a request a connection it checked young and alive; the request is written on it
at the event loop's next turns. A loop held for longer than the server's timeout in between (a step
starting thousands of customers at once, each with its ledger commits) gets the request written on a
connection the server has closed: a reset, and for a create an outcome unknown that stops the run
(the end-to-end benchmark at 2,000 invoices). Here the server closes after 1 s, the client's pool
expires connections after 0.4 s (the same ratio as 5 s and 2 s), and each ledger commit of an intent
takes 20 ms (a busy disk, a database across the network): a hundred customers started at once would
hold the loop 2 s.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from billing_pipeline.billing.demo import write_demo_data
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.invoicing.clients.service import ensure_clients
from billing_pipeline.invoicing.drafts.service import DraftSynchronizer
from billing_pipeline.invoicing.fan_out import gather_bounded
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.qonto import ApiKeyAuth, QontoClient, QontoConfig, RetryPolicy
from billing_pipeline.qonto.client import KEEPALIVE_EXPIRY_S

SERVER_KEEP_ALIVE_S = 1.0
CLIENT_KEEP_ALIVE_S = SERVER_KEEP_ALIVE_S * KEEPALIVE_EXPIRY_S / 5.0  # uvicorn's 5 s to our 2 s
COMMIT_S = 0.02
CUSTOMERS = 100
MAX_CONCURRENCY = 4
# a closed period, whatever today's date (invoices are listed from the period's start on)
PERIOD = "2024-03"
ISSUE_DATE = date(2024, 4, 1)
TIMEZONE = "Europe/Paris"
FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)


class SlowCommitLedger(Ledger):
    """Each intent's commit holds the thread (and so the event loop) ``COMMIT_S``, like a slow database."""

    def record_invoice_intent(self, *args: Any, **kwargs: Any) -> None:
        time.sleep(COMMIT_S)
        super().record_invoice_intent(*args, **kwargs)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(keep_alive_s=SERVER_KEEP_ALIVE_S, render_delay_s=0) as running:
        yield running


@pytest.fixture(autouse=True)
def quick_pool_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("billing_pipeline.qonto.client.KEEPALIVE_EXPIRY_S", CLIENT_KEEP_ALIVE_S)


def client_for(emulator: RunningEmulator) -> QontoClient:
    config = QontoConfig(
        base_url=emulator.base_url, auth=ApiKeyAuth.parse(emulator.api_key), max_concurrency=MAX_CONCURRENCY
    )
    return QontoClient(config, retry_policy=FAST)


def created_per_reference(emulator: RunningEmulator) -> Counter[str]:
    return Counter(invoice["header"] for invoice in emulator.state()["client_invoices"])


async def test_a_create_after_the_servers_idle_timeout_is_sent_once_and_answered(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    write_demo_data(tmp_path / "data", customers=1, events=5, period=PERIOD)
    plan = plan_period(PERIOD, tmp_path / "data", timezone=TIMEZONE)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        async with client_for(emulator) as qonto:
            clients = await ensure_clients(qonto, ledger, [i.customer for i in plan.invoices])
            await asyncio.sleep(SERVER_KEEP_ALIVE_S * 1.5)  # every connection of the pool is closed by now
            iban = (await qonto.get_organization()).main_account().iban
            await asyncio.sleep(SERVER_KEEP_ALIVE_S * 1.5)
            synchronizer = DraftSynchronizer(qonto, ledger, iban=iban, issue_date=ISSUE_DATE, timezone=TIMEZONE)
            report = await synchronizer.sync(plan, {c.customer_id: c.client_id for c in clients})
    finally:
        ledger.dispose()
    assert [o.action for o in report.outcomes] == ["created"]
    assert list(created_per_reference(emulator).values()) == [1]


async def test_a_period_started_at_once_never_holds_the_loop_past_the_servers_idle_timeout(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """Every draft created, each once, no create left with an unknown outcome."""
    write_demo_data(tmp_path / "data", customers=CUSTOMERS, events=CUSTOMERS, period=PERIOD)
    plan = plan_period(PERIOD, tmp_path / "data", timezone=TIMEZONE, bill_customers_without_usage=True)
    assert len(plan.invoices) == CUSTOMERS
    ledger = SlowCommitLedger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        async with client_for(emulator) as qonto:
            clients = await ensure_clients(qonto, ledger, [i.customer for i in plan.invoices])
            iban = (await qonto.get_organization()).main_account().iban
            synchronizer = DraftSynchronizer(qonto, ledger, iban=iban, issue_date=ISSUE_DATE, timezone=TIMEZONE)
            report = await synchronizer.sync(plan, {c.customer_id: c.client_id for c in clients})
    finally:
        ledger.dispose()
    assert Counter(o.action for o in report.outcomes) == {"created": CUSTOMERS}
    created = created_per_reference(emulator)
    assert len(created) == CUSTOMERS
    assert set(created.values()) == {1}
    assert emulator.stats()["requests"]["POST /v2/client_invoices"] == CUSTOMERS


# --- gather_bounded -----------------------------------------------------------------------------


async def test_gather_bounded_keeps_order_and_failures_and_never_runs_more_than_the_limit() -> None:
    running = 0
    most = 0

    async def unit(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (n % 3))
        running -= 1
        if n == 7:
            raise ValueError("seven")
        return n

    results = await gather_bounded((unit(n) for n in range(20)), 3)
    assert most == 3
    assert results[:7] == list(range(7)) and results[8:] == list(range(8, 20))
    assert isinstance(results[7], ValueError)


async def test_gather_bounded_closes_the_units_it_never_started_when_cancelled() -> None:
    started: list[int] = []
    blocked = asyncio.Event()

    async def unit(n: int) -> None:
        started.append(n)
        await blocked.wait()

    units = [unit(n) for n in range(5)]
    task = asyncio.create_task(gather_bounded(iter(units), 2))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started == [0, 1]
    assert all(u.cr_frame is None for u in units)  # closed: no "never awaited" warning
