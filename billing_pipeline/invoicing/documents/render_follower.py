"""Follow each finalized invoice until Qonto has rendered its Factur-X, then collect it at once.

Qonto renders the Factur-X of an invoice asynchronously, some seconds after finalization, and does
not say when. Billing a period in phases (finalize everything, wait, collect everything) leaves the
request budget idle during the wait and the CPU (verification) idle during finalization. Instead,
each invoice is followed from the moment it is finalized, while later ones are still being
finalized, and collected (download, verify, store: ``FacturxCollector.collect_one``) as soon as its
file is ready.

Looking too early costs a request for nothing, so the render delay is learnt, not guessed: until
one render has been seen, only the earliest invoice (the *scout*) is looked at, at growing intervals;
the delay it took becomes everyone's first look (``finalized + delay``), one request per invoice
when the estimate holds. Qonto renders in finalization order, so the estimate holds for the
period's later invoices. An invoice still not ready at its look is looked at again at growing
intervals. Reads only: nothing is written to Qonto here, and the ledger moves FINALIZED → STORED /
REJECTED exactly as in a collection run, so following and a collection run can never disagree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.invoicing.documents.facturx_files import (
    FacturxCollector,
    FacturxFileOutcome,
    FacturxReport,
    failed_outcome,
)
from billing_pipeline.invoicing.ledger import InvoiceRecord, InvoiceState, Ledger

FIRST_SCOUT_LOOK_S = 1.0  # Qonto's renders take seconds: a first look sooner would be wasted
SCOUT_GROWTH = 1.25  # the scout looks often: its delay becomes everyone's (learnt at most 25 % late)
LOOK_GROWTH = 1.5  # each further look at a late render waits this much longer than the previous one
MAX_LOOK_INTERVAL_S = 15.0
# a scout still pending after this long stops holding the others back (its render may be stuck)
SCOUT_GIVES_UP_S = 60.0


@dataclass
class _Followed:
    customer_id: str
    period: str
    finalized_at: float  # on the follower's monotonic clock
    busy: bool = False  # collecting right now (download / verify / store): never cancelled midway


async def collect_and_follow(
    collector: FacturxCollector, period: BillingPeriod, window_s: float, now: datetime | None = None
) -> FacturxReport:
    """A collection run: one pass over the period, then the invoices finalized less than ``window_s``
    ago and still rendering are followed until their file is ready (for up to ``window_s``).

    Both under the period lock: the collection writes the period's files and ledger rows, like every
    other writer of the period (drafts, finalization, corrections, delivery)."""
    with collector.ledger.period_lock(period.key):
        report = await collector.collect(period)
        follower = RenderFollower(collector, collector.ledger)
        records = collector.ledger.invoices(period.key, {InvoiceState.FINALIZED})
        follow_young_renders(follower, report, records, now or datetime.now(UTC), window_s)
        collected = await follower.finish(follow_for_s=window_s)
    if not collected:
        return report
    return report.model_copy(update={"outcomes": [collected.get(o.customer_id, o) for o in report.outcomes]})


def follow_young_renders(
    follower: RenderFollower, report: FacturxReport, records: list[InvoiceRecord], now: datetime, window_s: float
) -> None:
    """Follow the invoices of a collection still pending and finalized less than ``window_s`` ago,
    oldest first (older ones wait for a reason of their own: the attachment sensor re-reads them)."""
    pending = {o.customer_id for o in report.by_status("pending")}
    young = [
        (record, (now - record.finalized_at).total_seconds())
        for record in records
        if record.customer_id in pending and record.finalized_at is not None
    ]
    for record, age in sorted(young, key=lambda pair: -pair[1]):
        if age < window_s:
            follower.follow(record.customer_id, record.period, finalized_ago_s=age)


@dataclass
class RenderFollower:
    """Start with ``follow()`` for each invoice as it is finalized; end with ``finish()``."""

    collector: FacturxCollector
    ledger: Ledger
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    render_delay_s: float | None = None  # learnt from the scout, unless known
    outcomes: dict[str, FacturxFileOutcome] = field(default_factory=dict)
    looks: int = 0  # collection attempts (each costs one or two Qonto reads)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _followed: dict[str, _Followed] = field(default_factory=dict)
    _scout: str | None = None
    _learnt: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False

    def follow(self, customer_id: str, period: str, *, finalized_ago_s: float = 0.0) -> None:
        """Follow this invoice, finalized ``finalized_ago_s`` ago (idempotent). Follow a period's
        invoices in the order they were finalized: the first one scouts the render delay."""
        if customer_id in self._tasks:
            return
        followed = _Followed(customer_id, period, self.clock() - max(0.0, finalized_ago_s))
        self._followed[customer_id] = followed
        if self._scout is None and self.render_delay_s is None:
            self._scout = customer_id
        self._tasks[customer_id] = asyncio.create_task(self._follow(followed), name=f"follow {customer_id}")

    async def finish(self, *, follow_for_s: float = 0.0) -> dict[str, FacturxFileOutcome]:
        """Keep following for up to ``follow_for_s``; then stop every invoice still waiting for its render
        (the collection run or the attachment sensor takes it from the ledger) and let the collections
        under way end. Returns the outcome of every invoice collected meanwhile, by customer."""
        tasks = list(self._tasks.values())
        if tasks and follow_for_s > 0:
            # timed on the follower's own clock (tests run it on virtual time)
            deadline = asyncio.ensure_future(self.sleep(follow_for_s))
            waiting = {task for task in tasks if not task.done()}
            while waiting and not deadline.done():
                await asyncio.wait(waiting | {deadline}, return_when=asyncio.FIRST_COMPLETED)
                waiting = {task for task in waiting if not task.done()}
            deadline.cancel()
        self._stopping = True  # a collection under way ends with its look: no further look
        for customer_id, task in self._tasks.items():
            if not task.done() and not self._followed[customer_id].busy:
                task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        return self.outcomes

    @property
    def waiting(self) -> int:
        return sum(1 for task in self._tasks.values() if not task.done())

    async def _follow(self, followed: _Followed) -> None:
        interval = FIRST_SCOUT_LOOK_S
        next_look = followed.finalized_at + interval
        if followed.customer_id != self._scout:
            next_look = await self._first_look(followed)
            interval = max(FIRST_SCOUT_LOOK_S, (self.render_delay_s or 0) / 2)
        while True:
            await self._sleep_until(next_look)
            record = self.ledger.invoice(followed.customer_id, followed.period)
            if record is None or record.state != InvoiceState.FINALIZED:
                # collected by someone else, or no longer to collect (canceled, corrected)
                self._learn(followed, self.clock() - followed.finalized_at)
                return
            looked_after = self.clock() - followed.finalized_at
            followed.busy = True
            try:
                self.looks += 1
                outcome = await self.collector.collect_one(record)
            except Exception as error:  # one invoice never stops the others (the ledger keeps it)
                outcome = failed_outcome(record, error)
            finally:
                followed.busy = False
            self.outcomes[followed.customer_id] = outcome
            if outcome.status != "pending":
                self._learn(followed, looked_after)
                return
            if self._stopping:
                return
            if followed.customer_id == self._scout and looked_after >= SCOUT_GIVES_UP_S:
                self._learn(followed, looked_after)
            growth = SCOUT_GROWTH if followed.customer_id == self._scout else LOOK_GROWTH
            interval = min(interval * growth, MAX_LOOK_INTERVAL_S)
            next_look = self.clock() + interval

    async def _first_look(self, followed: _Followed) -> float:
        if self.render_delay_s is None:
            await self._learnt.wait()
        assert self.render_delay_s is not None
        return followed.finalized_at + self.render_delay_s

    def _learn(self, followed: _Followed, waited: float) -> None:
        if followed.customer_id == self._scout and self.render_delay_s is None:
            self.render_delay_s = waited
            self._learnt.set()

    async def _sleep_until(self, instant: float) -> None:
        delay = instant - self.clock()
        if delay > 0:
            await self.sleep(delay)
