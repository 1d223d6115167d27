"""The billing period's local days as instants, in microseconds since the epoch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from billing_pipeline.billing.periods import BillingPeriod

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware instant (real elapsed time, whatever its zone)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class PeriodDays:
    """The period's local days as instants: ``starts[i]`` is the midnight opening day ``i``, plus the end."""

    first: date
    starts: np.ndarray  # int64 microseconds, one more than the days

    @classmethod
    def of(cls, period: BillingPeriod, zone: ZoneInfo) -> PeriodDays:
        first, last = period.first_day, period.last_day
        days = [first + timedelta(days=offset) for offset in range((last - first).days + 2)]
        starts = [micros(datetime.combine(day, time(0), tzinfo=zone)) for day in days]
        return cls(first, np.array(starts, dtype=np.int64))

    @property
    def start(self) -> int:
        return int(self.starts[0])

    @property
    def end(self) -> int:
        return int(self.starts[-1])

    def day_index(self, instants: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, instants, side="right") - 1
