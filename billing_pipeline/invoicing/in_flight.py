"""Creates that may still be executing at Qonto after their caller died or timed out.

Qonto has no idempotency key: until a grace period after the intent was recorded, a create missing
from a listing may simply not have landed yet. Re-creating then would bill twice, so we wait it out.

Intents are stamped with the ledger database's clock and compared with the same clock (``now``),
never with this machine's: a writer whose clock runs ahead would otherwise make us wait for hours
while holding the period lock, and one whose clock runs behind would make us skip the wait and
create a duplicate. The wait is also clamped to the grace period, whatever the stored stamp says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime

log = logging.getLogger(__name__)

# Twice the client's 30 s timeout: after that an unanswered create is not going to land any more.
IN_FLIGHT_GRACE_S = 60.0


def in_flight_wait_s(intents: Iterable[datetime], grace_s: float, now: datetime) -> float:
    """Seconds until ``grace_s`` after the latest intent, on the ledger's clock, within [0, grace_s]."""
    latest = max(intents, default=None)
    if latest is None:
        return 0.0
    remaining = grace_s - (now - latest).total_seconds()
    return min(max(remaining, 0.0), grace_s)


async def wait_out_creates_in_flight(intents: Iterable[datetime], grace_s: float, what: str, now: datetime) -> bool:
    """Sleep until ``grace_s`` after the latest unresolved intent; True if we had to wait."""
    wait_s = in_flight_wait_s(intents, grace_s, now)
    if wait_s <= 0:
        return False
    log.info("%s create(s) may still be in flight at Qonto; waiting %.0f s", what, wait_s)
    await asyncio.sleep(wait_s)
    return True
