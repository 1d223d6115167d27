"""Billing periods: one calendar month in the billing time zone, keyed ``YYYY-MM``."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

_KEY = re.compile(r"(\d{4})-(\d{2})")
# English month names for invoice texts, whatever the process's locale (``calendar.month_name``
# follows LC_TIME, and formats a date for each lookup)
MONTH_NAMES = (
    "", "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: 29 in a leap year


class InvalidPeriod(ValueError):
    """A period key that is not a real ``YYYY-MM`` month."""


def time_zone(name: str | ZoneInfo) -> ZoneInfo:
    """The IANA time zone ``name``, with an error that says what was expected."""
    if isinstance(name, ZoneInfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}: expected an IANA name such as Europe/Paris") from error


@dataclass(frozen=True, order=True)
class BillingPeriod:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise InvalidPeriod(f"month must be between 1 and 12, got {self.month}")
        if not 1 <= self.year <= 9998:
            raise InvalidPeriod(f"year must be between 1 and 9998, got {self.year}")

    @classmethod
    def parse(cls, key: str) -> BillingPeriod:
        match = _KEY.fullmatch(key.strip()) if isinstance(key, str) else None
        if match is None:
            raise InvalidPeriod(f"billing period must be written YYYY-MM (e.g. 2026-10), got {key!r}")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise InvalidPeriod(f"billing period {key!r} is not a month: month must be 01 to 12")
        if not 2000 <= year <= 2099:
            # Factur-X (BR-FR-03) only accepts dates in the years 2000 to 2099.
            raise InvalidPeriod(f"billing period {key!r} is out of range: the year must be 2000 to 2099")
        return cls(year, month)

    @classmethod
    def of(cls, period: str | BillingPeriod) -> BillingPeriod:
        return period if isinstance(period, BillingPeriod) else cls.parse(period)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{MONTH_NAMES[self.month]} {self.year}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def days(self) -> int:
        """How many days the month has."""
        return _DAYS[self.month] + (self.month == 2 and calendar.isleap(self.year))

    def start(self, tz: str | ZoneInfo) -> datetime:
        """First instant of the period: local midnight of the first day."""
        return datetime.combine(self.first_day, time(0), tzinfo=time_zone(tz))

    def end(self, tz: str | ZoneInfo) -> datetime:
        """First instant after the period (exclusive bound): local midnight of the next month."""
        following = self.next()
        return datetime.combine(following.first_day, time(0), tzinfo=time_zone(tz))

    def contains(self, instant: datetime, tz: str | ZoneInfo) -> bool:
        if instant.tzinfo is None:
            raise ValueError("a naive datetime has no place in time; give it an offset")
        return self.start(tz) <= instant < self.end(tz)

    def previous(self) -> BillingPeriod:
        return BillingPeriod(self.year - 1, 12) if self.month == 1 else BillingPeriod(self.year, self.month - 1)

    def next(self) -> BillingPeriod:
        return BillingPeriod(self.year + 1, 1) if self.month == 12 else BillingPeriod(self.year, self.month + 1)

    def __str__(self) -> str:
        return self.key

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """In pydantic models: built from ``"YYYY-MM"`` (or a BillingPeriod), dumped as ``"YYYY-MM"``."""
        return core_schema.no_info_plain_validator_function(
            cls.of, serialization=core_schema.plain_serializer_function_ser_schema(lambda p: p.key)
        )
