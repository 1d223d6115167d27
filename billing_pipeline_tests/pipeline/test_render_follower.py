"""The render follower on virtual time: one look per invoice once the render delay is learnt, the
scout's extra looks bounded, nothing left running after ``finish``, one failure never stops others."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_pipeline.invoicing.documents.facturx_files import FacturxFileOutcome
from billing_pipeline.invoicing.documents.render_follower import SCOUT_GIVES_UP_S, SCOUT_GROWTH, RenderFollower
from billing_pipeline.invoicing.ledger import InvoiceState

PERIOD = "2026-10"
READ_S = 0.08


class VirtualClock:
    """asyncio on virtual time: ``sleep`` parks a task until the driver moves the clock to it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), future))
        await future

    async def run(self, main: Any) -> Any:
        task = asyncio.ensure_future(main)
        while not task.done():
            for _ in range(10):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            while self._sleepers and self._sleepers[0][2].cancelled():
                heapq.heappop(self._sleepers)
            if task.done() or not self._sleepers:
                continue
            when, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            future.set_result(None)
        return task.result()


@dataclass
class _Record:
    customer_id: str
    period: str
    state: InvoiceState = InvoiceState.FINALIZED
    invoice_id: str = "i"
    number: str | None = None


@dataclass
class FakeQonto:
    """Renders each invoice ``delay`` after it is finalized; a collection looks at it (one read)."""

    clock: VirtualClock
    delays: dict[str, float]
    fails: set[str] = field(default_factory=set)
    finalized_at: dict[str, float] = field(default_factory=dict)
    records: dict[str, _Record] = field(default_factory=dict)
    looks: dict[str, int] = field(default_factory=dict)

    def finalize(self, customer_id: str) -> None:
        self.finalized_at[customer_id] = self.clock.now
        self.records[customer_id] = _Record(customer_id, PERIOD)

    # the ledger side
    def invoice(self, customer_id: str, period: str) -> _Record | None:
        return self.records.get(customer_id)

    # the collector side
    @property
    def ledger(self) -> FakeQonto:
        return self

    async def collect_one(self, record: _Record) -> FacturxFileOutcome:
        self.looks[record.customer_id] = self.looks.get(record.customer_id, 0) + 1
        await self.clock.sleep(READ_S)  # the reads take time
        if record.customer_id in self.fails:
            raise RuntimeError("the download failed")
        ready = self.clock.now >= self.finalized_at[record.customer_id] + self.delays[record.customer_id]
        if ready:
            record.state = InvoiceState.STORED
        status = "stored" if ready else "pending"
        return FacturxFileOutcome(customer_id=record.customer_id, invoice_id="i", number=None, status=status)


def _follower(qonto: FakeQonto) -> RenderFollower:
    return RenderFollower(qonto, qonto, clock=qonto.clock, sleep=qonto.clock.sleep)  # type: ignore[arg-type]


async def _finalize_then_finish(
    qonto: FakeQonto, follower: RenderFollower, customers: list[str], every_s: float, follow_for_s: float
) -> dict[str, FacturxFileOutcome]:
    for customer in customers:
        qonto.finalize(customer)
        follower.follow(customer, PERIOD)
        await qonto.clock.sleep(every_s)
    return await follower.finish(follow_for_s=follow_for_s)


@settings(max_examples=15, deadline=None)
@given(
    count=st.integers(min_value=2, max_value=30),
    delay=st.floats(min_value=0.2, max_value=40),
    every_s=st.floats(min_value=0.005, max_value=0.5),
)
def test_once_the_delay_is_learnt_each_invoice_costs_one_look(count: int, delay: float, every_s: float) -> None:
    clock = VirtualClock()
    customers = [f"c{n:03d}" for n in range(count)]
    qonto = FakeQonto(clock, {c: delay for c in customers})
    follower = _follower(qonto)
    outcomes = asyncio.run(clock.run(_finalize_then_finish(qonto, follower, customers, every_s, follow_for_s=300)))

    assert {o.status for o in outcomes.values()} == {"stored"} and len(outcomes) == count
    scout, *others = customers
    assert all(qonto.looks[c] == 1 for c in others), qonto.looks
    # the scout looks at growing intervals: a bounded number of reads, its delay learnt at most 25 % late
    assert qonto.looks[scout] <= 20
    assert follower.render_delay_s is not None
    # (the read that finds the file ready started up to READ_S before the render was due)
    assert delay - READ_S <= follower.render_delay_s <= delay * SCOUT_GROWTH + 1.0


def test_finish_stops_the_invoices_still_rendering_and_leaves_them_to_the_collection_run() -> None:
    clock = VirtualClock()
    customers = [f"c{n}" for n in range(10)]
    qonto = FakeQonto(clock, {c: 5.0 for c in customers[:4]} | {c: 500.0 for c in customers[4:]})
    follower = _follower(qonto)

    async def scenario() -> dict[str, FacturxFileOutcome]:
        for customer in customers[:4]:
            qonto.finalize(customer)
            follower.follow(customer, PERIOD)
        await clock.sleep(20)  # the first four are rendered and collected meanwhile
        for customer in customers[4:]:
            qonto.finalize(customer)
            follower.follow(customer, PERIOD)
        await clock.sleep(5)
        return await follower.finish()

    outcomes = asyncio.run(clock.run(scenario()))
    assert {c for c, o in outcomes.items() if o.status == "stored"} == set(customers[:4])
    assert [qonto.records[c].state for c in customers[4:]] == [InvoiceState.FINALIZED] * 6
    assert follower.waiting == 0  # nothing keeps running (or looking) after finish
    looks_at_finish = dict(qonto.looks)

    async def later() -> None:
        await clock.sleep(1000)

    asyncio.run(clock.run(later()))
    assert qonto.looks == looks_at_finish


def test_a_stuck_scout_stops_holding_the_others_back() -> None:
    clock = VirtualClock()
    customers = ["scout", "a", "b"]
    qonto = FakeQonto(clock, {"scout": 10_000.0, "a": 2.0, "b": 2.0})
    follower = _follower(qonto)
    outcomes = asyncio.run(clock.run(_finalize_then_finish(qonto, follower, customers, 0.1, follow_for_s=200)))
    assert outcomes["a"].status == outcomes["b"].status == "stored"
    assert outcomes["scout"].status == "pending"
    assert follower.render_delay_s is not None and follower.render_delay_s >= SCOUT_GIVES_UP_S


def test_one_failing_invoice_never_stops_the_others() -> None:
    clock = VirtualClock()
    customers = [f"c{n}" for n in range(5)]
    qonto = FakeQonto(clock, dict.fromkeys(customers, 1.0), fails={"c0", "c3"})
    follower = _follower(qonto)
    outcomes = asyncio.run(clock.run(_finalize_then_finish(qonto, follower, customers, 0.05, follow_for_s=60)))
    assert {c: o.status for c, o in outcomes.items()} == {
        "c0": "failed", "c1": "stored", "c2": "stored", "c3": "failed", "c4": "stored"
    }  # fmt: skip
    assert "the download failed" in outcomes["c0"].problems[0]


def test_an_invoice_collected_elsewhere_is_not_looked_at_again() -> None:
    clock = VirtualClock()
    qonto = FakeQonto(clock, {"c0": 1.0, "c1": 1.0})
    follower = _follower(qonto)

    async def scenario() -> dict[str, FacturxFileOutcome]:
        for customer in ("c0", "c1"):
            qonto.finalize(customer)
            follower.follow(customer, PERIOD)
        qonto.records["c1"].state = InvoiceState.STORED  # a collection run of the sensor got it first
        return await follower.finish(follow_for_s=60)

    outcomes = asyncio.run(clock.run(scenario()))
    assert "c1" not in qonto.looks and outcomes["c0"].status == "stored"
