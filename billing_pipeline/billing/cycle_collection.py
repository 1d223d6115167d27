"""Results that are kept whole are built with CPython's cycle collector paused.

Pricing a period makes a dozen small objects per invoice line (the validated line, its fields, the
lines' lists, the invoices) and keeps all of them until the plan is returned; the aggregations'
results make a dict and a Decimal per customer and metric, kept until pricing. No cycle among them,
nothing for the collector to find. Yet the collector runs a full collection each time the objects
kept since the last one reach a quarter of all the objects alive, and a full collection traverses
every one of them (the customers, the usage totals, the lines so far). On 10^7 events and 10^4
customers (``benchmarks/pricing.py --aggregations``) that was 0.2 s of a 4.6 s sum-only period and
0.45 s of a 5.6 s one with subscriptions, aggregations and coupons (more lines, so more and larger
collections); the lines themselves cost nothing more. The pause is counted, so pauses nest and
overlap across threads: the collector runs again when the last one ends, if it ran before the first
one began. Only such building steps are paused, never a reading: a cycle made there could hold a
batch's buffers.

When the last pause ends, what was made meanwhile joins the oldest generation at once
(``gc.freeze()`` then ``gc.unfreeze()``: two list splices, no traversal). Left young, all of it
was traversed by the first collection after the pause — one collection, but over every line of the
period: 0.07 s after a sum-only period of 10^4 customers, 0.15 s after one with subscriptions and
aggregations. The cost: a cycle made meanwhile (none here; another thread's) waits for the next
full collection instead of the next young one. Objects someone else froze stay frozen: nothing is
moved then (``gc.get_freeze_count()``).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """No automatic cycle collection inside the block (objects are still freed by reference count)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                _made_old()
                gc.enable()


def _made_old() -> None:
    """Everything the collector tracks moved to its oldest generation, untraversed (unless objects
    are frozen by someone else: unfreezing would move theirs out of the permanent generation)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


__all__ = ["cycle_collection_paused"]
