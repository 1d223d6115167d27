"""A step's per-customer work on one event loop, a bounded number of customers at a time.

Each customer's unit of work (its client, its draft, its delivery, …) does synchronous work between
its requests: ledger reads and commits, payloads, files. Started all at once (``asyncio.gather`` of
every customer), the units run that work back to back, every one of them, before the event loop
turns again: about 2 ms each, seconds for a few thousand customers. Meanwhile a request to which the
connection pool has already handed an idle keep-alive connection (checked alive and young *then*)
waits to be written. When the wait outlasts the server's idle timeout (uvicorn closes after 5 s,
load balancers after about 60 s), the server has closed that connection and answers the request
with a reset: for a read, a retry; for a create, an outcome unknown, and the run stops on it. Found
by the end-to-end benchmark at 2,000 invoices: the first ``POST /v2/client_invoices`` of the drafts
step was written 4.3 s after its connection was checked, ``POST /v2/clients`` 3.5 s, an invoice email
``POST …/send`` 2.9 s, and at 5 s a create failed with ``ReadError``.

With at most ``limit`` units under way, the loop turns after at most ``limit`` of those slices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from billing_pipeline.qonto.client import QontoClient

T = TypeVar("T")

# units under way per request the client may have in flight: while some do their ledger work between
# two requests, the others keep every request slot busy
UNITS_PER_REQUEST_SLOT = 2


def fan_out_limit(qonto: QontoClient) -> int:
    """How many customers a step works on at once with this client."""
    return UNITS_PER_REQUEST_SLOT * qonto.config.max_concurrency


async def gather_customers(qonto: QontoClient, units: Iterable[Coroutine[Any, Any, T]]) -> list[T | BaseException]:
    """Every customer's unit of a step, ``fan_out_limit(qonto)`` at a time (``gather_bounded``)."""
    pending = list(units)
    if not pending:  # nothing to do: the client is not even looked at
        return []
    return await gather_bounded(pending, fan_out_limit(qonto))


async def gather_bounded(units: Iterable[Coroutine[Any, Any, T]], limit: int) -> list[T | BaseException]:
    """``asyncio.gather(*units, return_exceptions=True)``, with at most ``limit`` units started and not
    finished at any time (results in the order of ``units``). A unit is not started before it may run."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    gate = asyncio.Semaphore(limit)

    async def gated(unit: Coroutine[Any, Any, T]) -> T:
        try:
            async with gate:
                return await unit
        finally:
            unit.close()  # a unit cancelled before it started is closed, not left never awaited

    return await asyncio.gather(*(gated(unit) for unit in units), return_exceptions=True)
