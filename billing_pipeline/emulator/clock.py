"""Time as the emulator reports it.

Instants are integer epoch milliseconds everywhere inside the emulator. Qonto prints invoice
timestamps with the Paris offset (``2022-03-04T17:58:30+02:00``) but other objects in UTC with a
``Z`` (``2021-03-23T14:21:51.000Z``); the emulator does the same, so a client that compares the
strings instead of the instants is caught.

The business clock (render delay, URL expiry, OAuth expiry) can be moved forward through the admin
API; the offset lives in the state file so every process sharing it agrees.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def format_paris(ms: int) -> str:
    """``2026-02-01T10:00:00.123+01:00``."""
    return to_datetime(ms).astimezone(PARIS).isoformat(timespec="milliseconds")


def format_utc(ms: int) -> str:
    """``2026-02-01T09:00:00.123Z``."""
    return to_datetime(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def paris_date(ms: int) -> date:
    return to_datetime(ms).astimezone(PARIS).date()


def parse_instant(text: str) -> int:
    """ISO 8601 date-time with an offset (or ``Z``) to epoch ms; ValueError otherwise."""
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        raise ValueError("a time zone offset is required (e.g. 2026-01-01T00:00:00Z)")
    return int(parsed.timestamp() * 1000)
