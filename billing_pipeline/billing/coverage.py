"""Which days of a billing period a customer's subscription rows cover, as the usage readers see them.

A customer with ``subscriptions.csv`` rows is billed by those rows only: each event belongs to the
row in force on its day (in the billing time zone) and is aggregated with that row's other events.
``DaySpan`` is one row's days inside the period; the usage sources take, per customer, the spans
of its rows (sorted, never overlapping) and return one set of quantities per span. An event on a
day no span covers is not billed: it is counted in ``UncoveredUsage`` and reported as a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, order=True)
class DaySpan:
    """Days ``first`` … ``last`` (both included) of one billing period, in the billing time zone."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"a span ends ({self.last}) before it starts ({self.first})")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware instants: midnight of ``first`` to midnight after ``last``."""
        start = datetime.combine(self.first, time(0), tzinfo=zone)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=zone)
        return start, end


# customer_id -> its subscription rows' spans in the period, sorted, non-overlapping
UsageSpans = Mapping[str, Sequence[DaySpan]]


@dataclass(frozen=True)
class UncoveredUsage:
    """Events of a customer with subscription rows that fell on days none of its rows covers."""

    customer_id: str
    events: int
    days: tuple[date, ...]  # the distinct days, sorted

    def describe(self) -> str:
        shown = ", ".join(day.isoformat() for day in self.days[:5])
        more = f" and {len(self.days) - 5} more days" if len(self.days) > 5 else ""
        return (
            f"customer {self.customer_id}: {self.events} usage event{'s' if self.events != 1 else ''} on "
            f"{shown}{more}, days no subscription row covers: not billed"
        )
