"""Creates that may still be executing at Qonto after their caller died or timed out.

Qonto has no idempotency key: until a grace period after the intent was recorded, a create missing
from a listing may simply not have landed yet. Re-creating then would bill twice, so we wait it out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

# Twice the client's 30 s timeout: after that an unanswered create is not going to land any more.
IN_FLIGHT_GRACE_S = 60.0


async def wait_out_creates_in_flight(intents: Iterable[datetime], grace_s: float, what: str) -> bool:
    """Sleep until ``grace_s`` after the latest unresolved intent; True if we had to wait."""
    latest = max(intents, default=None)
    if latest is None:
        return False
    wait_s = (latest + timedelta(seconds=grace_s) - datetime.now(UTC)).total_seconds()
    if wait_s <= 0:
        return False
    log.info("%s create(s) may still be in flight at Qonto; waiting %.0f s", what, wait_s)
    await asyncio.sleep(wait_s)
    return True
