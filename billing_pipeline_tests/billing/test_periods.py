from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_pipeline.billing.periods import BillingPeriod, InvalidPeriod, time_zone

PARIS = ZoneInfo("Europe/Paris")


def test_parse_and_properties() -> None:
    period = BillingPeriod.parse("2026-10")
    assert (period.year, period.month, period.key, str(period)) == (2026, 10, "2026-10", "2026-10")
    assert period.label == "October 2026"
    assert period.first_day == date(2026, 10, 1)
    assert period.last_day == date(2026, 10, 31)
    assert BillingPeriod.parse("2028-02").last_day == date(2028, 2, 29)
    assert period.previous() == BillingPeriod(2026, 9)
    assert period.next() == BillingPeriod(2026, 11)
    assert BillingPeriod(2026, 12).next() == BillingPeriod(2027, 1)
    assert BillingPeriod(2027, 1).previous() == BillingPeriod(2026, 12)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("2026-13", "month must be 01 to 12"),
        ("2026-00", "month must be 01 to 12"),
        ("26-10", "must be written YYYY-MM"),
        ("2026/10", "must be written YYYY-MM"),
        ("October", "must be written YYYY-MM"),
        ("1999-12", "the year must be 2000 to 2099"),
    ],
)
def test_parse_rejects_with_a_clear_message(key: str, message: str) -> None:
    with pytest.raises(InvalidPeriod, match=message):
        BillingPeriod.parse(key)


def test_bounds_follow_daylight_saving_time() -> None:
    # Paris is UTC+2 in summer and UTC+1 from 25 October 2026.
    october = BillingPeriod.parse("2026-10")
    assert october.start(PARIS).astimezone(UTC) == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert october.end(PARIS).astimezone(UTC) == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert october.end("Europe/Paris") == BillingPeriod(2026, 11).start("Europe/Paris")


def test_month_boundary_events() -> None:
    october, september = BillingPeriod(2026, 10), BillingPeriod(2026, 9)
    on_the_edge = datetime(2026, 9, 30, 22, 30, tzinfo=UTC)  # 00:30 on 1 October in Paris
    assert october.contains(on_the_edge, PARIS)
    assert not september.contains(on_the_edge, PARIS)
    assert september.contains(on_the_edge, "UTC")
    assert october.contains(datetime(2026, 10, 31, 22, 59, 59, tzinfo=UTC), PARIS)
    assert not october.contains(datetime(2026, 10, 31, 23, tzinfo=UTC), PARIS)
    with pytest.raises(ValueError, match="naive"):
        october.contains(datetime(2026, 10, 5), PARIS)


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        time_zone("Mars/Olympus")


@given(
    instant=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]),
)
def test_every_instant_is_in_exactly_the_month_of_its_local_time(instant: datetime, zone: str) -> None:
    local = instant.astimezone(ZoneInfo(zone))
    own = BillingPeriod(local.year, local.month)
    assert own.contains(instant, zone)
    assert not own.previous().contains(instant, zone)
    assert not own.next().contains(instant, zone)


@given(st.integers(min_value=2000, max_value=2098), st.integers(min_value=1, max_value=12))
def test_consecutive_periods_tile_time(year: int, month: int) -> None:
    period = BillingPeriod(year, month)
    assert period.end(PARIS) == period.next().start(PARIS)
    assert period.next().previous() == period
    assert timedelta(days=27) < period.end(PARIS) - period.start(PARIS) < timedelta(days=32)


def test_days_and_last_day_of_every_month_of_the_factur_x_years() -> None:
    for year in range(2000, 2100):
        for month in range(1, 13):
            period = BillingPeriod(year, month)
            assert period.days == calendar.monthrange(year, month)[1]
            assert period.last_day == date(year, month, period.days)
            assert period.label == f"{date(year, month, 1):%B} {year}"  # English whatever the locale
