"""Metric aggregations and subscription spans: files (CSV, Parquet) and SQLite give the same results.

Every test names its period and instants explicitly: nothing depends on today's date.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_pipeline.billing import usage_aggregate
from billing_pipeline.billing.coverage import DaySpan, UsageSpans
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.price_list import parse_price_list
from billing_pipeline.billing.sql_usage import SqlUsageSource
from billing_pipeline.billing.usage import UsageTotals, read_usage
from billing_pipeline_tests.billing.conftest import PRICE_LIST

D = Decimal
PARIS = ZoneInfo("Europe/Paris")
OCTOBER = BillingPeriod.parse("2026-10")
AGGREGATIONS = {
    "calls": "sum",
    "requests": "count",
    "users": "unique_count",
    "peak": "max",
    "plan_level": "latest",
    "seats": "weighted_sum",
}
FIELDS = ("event_id", "customer_id", "metric", "quantity", "timestamp", "unique_key")
Event = dict[str, Any]
SOURCES = ("csv", "parquet", "sqlite", "sqlite-streamed")


def ev(event_id: str, metric: str, quantity: object, timestamp: str, customer: str = "c1", key: str = "") -> Event:
    return dict(zip(FIELDS, (event_id, customer, metric, str(quantity), timestamp, key), strict=True))


def write_usage(folder: Path, kind: str, files: Sequence[Sequence[Event]]) -> Path | str:
    """The events as usage files of ``kind`` (one file per list) or one SQLite table; the source's location."""
    if kind.startswith("sqlite"):
        url = f"sqlite:///{folder / 'usage.sqlite'}"
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE usage_events ({', '.join(f'{n} TEXT' for n in FIELDS)})")
            rows = [event for events in files for event in events]
            if rows:
                connection.execute(sa.table("usage_events", *(sa.column(n) for n in FIELDS)).insert(), rows)
        engine.dispose()
        return url
    usage = folder / "usage"
    usage.mkdir(parents=True, exist_ok=True)
    for index, events in enumerate(files):
        if kind == "csv":
            with (usage / f"part{index}.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, FIELDS)
                writer.writeheader()
                writer.writerows(events)
        else:
            columns = {name: [event[name] for event in events] for name in FIELDS}
            columns["timestamp"] = [datetime.fromisoformat(text) for text in columns["timestamp"]]
            table = pa.table(
                {
                    **{n: pa.array(columns[n], pa.string()) for n in FIELDS if n != "timestamp"},
                    "timestamp": pa.array(columns["timestamp"], pa.timestamp("us", tz="UTC")),
                }
            )
            pq.write_table(table, usage / f"part{index}.parquet")
    return usage


def read_from(
    kind: str,
    location: Path | str,
    *,
    aggregations: Mapping[str, str] | None = AGGREGATIONS,
    spans: UsageSpans | None = None,
    period: BillingPeriod = OCTOBER,
) -> UsageTotals:
    if kind.startswith("sqlite"):
        source = SqlUsageSource(str(location), pushdown=kind == "sqlite")
        return source.read(period, PARIS, customers=None, metrics=None, aggregations=aggregations, spans=spans)
    return read_usage(Path(location), period, PARIS, aggregations=aggregations, spans=spans)


def usage_of(tmp_path: Path, kind: str, *files: Sequence[Event], **options: Any) -> UsageTotals:
    folder = tmp_path / kind
    folder.mkdir(parents=True, exist_ok=True)
    return read_from(kind, write_usage(folder, kind, files), **options)


def bare_value(value: str | None) -> str | None:
    """A problem's value without the event a table source locates it by ("-3 (event_id e7)")."""
    if value is None or value.startswith(("event_id ", "no event_id: ")):
        return None
    return re.sub(r" \((event_id |no event_id: ).*\)$", "", value) or None


def summary(usage: UsageTotals) -> tuple:
    # where the first copy of a repeated event is differs by source: only what is wrong is compared
    problems = [(p.field, bare_value(p.value), p.reason.split(" at ")[0]) for p in usage.problems]
    return usage.quantities, usage.span_quantities, usage.uncovered, usage.duplicate_events, problems


def same_everywhere(tmp_path: Path, *files: Sequence[Event], **options: Any) -> UsageTotals:
    """Read the events from every kind of source; all must agree; the CSV reading is returned."""
    results = {kind: usage_of(tmp_path, kind, *files, **options) for kind in SOURCES}
    expected = summary(results["csv"])
    for kind, usage in results.items():
        assert summary(usage) == expected, kind
    return results["csv"]


# -- each aggregation ------------------------------------------------------------------------------

MONTH = [
    ev("a1", "calls", 3, "2026-10-02T10:00:00Z"),
    ev("a2", "calls", "2.5", "2026-10-03T10:00:00Z"),
    ev("r1", "requests", 7, "2026-10-02T10:00:00Z"),
    ev("r2", "requests", 0, "2026-10-09T10:00:00Z"),
    ev("u1", "users", 1, "2026-10-02T10:00:00Z", key="alice"),
    ev("u2", "users", 1, "2026-10-05T10:00:00Z", key="bob"),
    ev("u3", "users", 1, "2026-10-06T10:00:00Z", key="alice"),
    ev("p1", "peak", 4, "2026-10-02T10:00:00Z"),
    ev("p2", "peak", "9.5", "2026-10-10T10:00:00Z"),
    ev("p3", "peak", 6, "2026-10-20T10:00:00Z"),
    ev("l1", "plan_level", 5, "2026-10-02T10:00:00Z"),
    ev("l2", "plan_level", 3, "2026-10-30T10:00:00Z"),
    ev("l0", "plan_level", 8, "2026-10-12T10:00:00Z"),
    ev("x1", "calls", 100, "2026-11-01T10:00:00Z"),  # November: another period
]


def test_each_aggregation_on_every_source(tmp_path: Path) -> None:
    usage = same_everywhere(tmp_path, MONTH)
    assert usage.quantities == {
        "c1": {"calls": D("5.5"), "requests": D(2), "users": D(2), "peak": D("9.5"), "plan_level": D(3)}
    }
    assert usage.rows_in_period == 13 and not usage.problems


def test_without_aggregations_everything_is_summed_as_before(tmp_path: Path) -> None:
    usage = same_everywhere(tmp_path, MONTH, aggregations=None)
    assert usage.quantities == {
        "c1": {"calls": D("5.5"), "requests": D(7), "users": D(3), "peak": D("19.5"), "plan_level": D(16)}
    }


def test_duplicates_count_once_for_every_aggregation(tmp_path: Path) -> None:
    again = [dict(event) for event in MONTH]
    usage = same_everywhere(tmp_path, MONTH, again)
    assert usage.duplicate_events == len(MONTH) - 1  # November's copy is not the period's
    assert usage.quantities == same_everywhere(tmp_path / "once", MONTH).quantities


def test_a_differing_copy_is_reported_whatever_the_aggregation(tmp_path: Path) -> None:
    """Such a reading is refused (every caller raises on a problem): the copy is reported by every
    source. Sums and counts still count the first copy; a ``max`` or ``latest`` of a refused reading
    may reflect the copy (those fold batch by batch and take out exact repeats only: usage_folded)."""
    once = same_everywhere(tmp_path / "once", MONTH).quantities["c1"]
    for metric, first, copy in (("peak", "9.5", "99"), ("calls", "2.5", "99"), ("requests", "0", "99")):
        event = next(event for event in MONTH if event["metric"] == metric and event["quantity"] == first)
        differing = [{**event, "quantity": copy}]
        for kind in SOURCES:
            usage = usage_of(tmp_path / metric / kind, kind, MONTH, differing)
            assert [(p.field, p.value) for p in usage.problems] == [("event_id", event["event_id"])], kind
            assert "quantity differ" in usage.problems[0].reason
            if metric != "peak":
                assert usage.quantities["c1"] == once, kind


def test_a_copy_naming_another_unique_key_is_dropped_and_its_key_never_counted(tmp_path: Path) -> None:
    """Copies are compared on the event (customer, metric, quantity, instant): one naming another
    unique key is dropped like any repeat. The file reader counts distinct values before it knows the
    duplicates (``usage_aggregate.start_aggregating``): the copy's value must be taken out again."""
    first = [
        ev("u1", "users", 1, "2026-10-02T10:00:00Z", key="alice"),
        ev("u2", "users", 1, "2026-10-03T10:00:00Z", key="alice"),
    ]
    copy = [ev("u1", "users", 1, "2026-10-02T10:00:00Z", key="bob")]
    usage = same_everywhere(tmp_path, first, copy)
    assert usage.quantities == {"c1": {"users": Decimal(1)}}
    assert usage.duplicate_events == 1 and not usage.problems


def test_distinct_values_too_many_to_number_are_counted_on_the_rows_left(tmp_path: Path) -> None:
    """When (group key, value) pairs could not be numbered in 64 bits, the file reader counts the
    distinct values at the end, on the rows left once the copies are dropped: the same counts."""
    copy = [ev("u3", "users", 1, "2026-10-06T10:00:00Z", key="carol")]  # another key: dropped
    spans = {"c1": [DaySpan(date(2026, 10, 1), date(2026, 10, 4)), DaySpan(date(2026, 10, 5), date(2026, 10, 31))]}
    numbered = usage_of(tmp_path / "numbered", "parquet", MONTH, copy, spans=spans)
    with mock.patch.object(usage_aggregate, "_INT64_LIMIT", 1):
        counted = usage_of(tmp_path / "counted", "parquet", MONTH, copy, spans=spans)
    assert summary(counted) == summary(numbered)
    assert [span["users"] for span in numbered.span_quantities["c1"]] == [1, 2]  # alice; bob and alice


def test_latest_ties_go_to_the_greatest_event_id(tmp_path: Path) -> None:
    same_time = "2026-10-31T22:59:59Z"  # the last second of October in Paris
    events = [
        ev("k-2", "plan_level", 2, same_time),
        ev("k-10", "plan_level", 10, same_time),  # "k-2" > "k-10": strings compare, not numbers
        ev("k-1", "plan_level", 1, same_time),
        ev("k-0", "plan_level", 7, "2026-10-30T10:00:00Z"),
    ]
    assert same_everywhere(tmp_path, events).quantities == {"c1": {"plan_level": D(2)}}


# -- weighted_sum ----------------------------------------------------------------------------------


def test_october_2026_in_paris_has_745_hours(tmp_path: Path) -> None:
    # 10 seats from the first instant of the period: exactly 10, over 745 real hours
    events = [ev("s1", "seats", 10, "2026-09-30T22:00:00Z"), ev("s2", "seats", 20, "2026-10-31T22:00:00Z")]
    usage = same_everywhere(tmp_path, events)
    # 10 for 744 h, 20 for the last hour (23:00 local on the 31st; the DST change added one)
    assert usage.quantities == {"c1": {"seats": ((D(10) * 744 + D(20)) / 745).quantize(D("0.000001"))}}
    assert usage.quantities["c1"]["seats"] == D("10.013423")


def test_the_level_is_carried_in_from_an_earlier_month_in_another_file(tmp_path: Path) -> None:
    september = [
        ev("old1", "seats", 99, "2026-08-20T10:00:00Z"),
        ev("old2", "seats", 4, "2026-09-15T10:00:00Z"),
        ev("bad", "seats", "oops", "2026-09-20T10:00:00Z"),  # another month's problem: skipped, not reported
    ]
    october = [ev("s1", "seats", 10, "2026-10-16T22:00:00Z")]  # 16 days (384 h) at 4, then 361 h at 10
    usage = same_everywhere(tmp_path, october, september)
    assert usage.quantities == {"c1": {"seats": (D(4 * 384 + 10 * 361) / 745).quantize(D("0.000001"))}}
    assert not usage.problems
    # a customer whose only seats were set before the period is billed for them all month
    only_before = same_everywhere(tmp_path / "before", september)
    assert only_before.quantities == {"c1": {"seats": D("4.000000")}}


def test_weighted_sum_is_rounded_half_up_to_six_decimals(tmp_path: Path) -> None:
    # 1 seat for 1 hour of 745: 0.00134228187… -> 0.001342
    events = [ev("s1", "seats", 1, "2026-10-10T10:00:00Z"), ev("s2", "seats", 0, "2026-10-10T11:00:00Z")]
    assert same_everywhere(tmp_path, events).quantities == {"c1": {"seats": D("0.001342")}}


def test_spans_split_the_level_timeline(tmp_path: Path) -> None:
    events = [
        ev("s0", "seats", 2, "2026-09-30T10:00:00Z"),
        ev("s1", "seats", 6, "2026-10-10T22:00:00Z"),  # 11 October, midnight in Paris
        ev("c1", "calls", 5, "2026-10-05T10:00:00Z"),
        ev("c2", "calls", 7, "2026-10-20T10:00:00Z"),
        ev("c3", "calls", 1, "2026-10-25T10:00:00Z"),  # a day no span covers
    ]
    spans = {"c1": [DaySpan(date(2026, 10, 1), date(2026, 10, 15)), DaySpan(date(2026, 10, 16), date(2026, 10, 24))]}
    usage = same_everywhere(tmp_path, events, spans=spans)
    hours_first = 10 * 24 * 2 + 5 * 24 * 6  # 1-10 at 2, 11-15 at 6
    hours_second = 9 * 24 * 6
    assert usage.quantities == {}
    assert usage.span_quantities == {
        "c1": [
            {"seats": (D(hours_first) / 745).quantize(D("0.000001")), "calls": D(5)},
            {"seats": (D(hours_second) / 745).quantize(D("0.000001")), "calls": D(7)},
        ]
    }
    assert [(u.customer_id, u.events, u.days) for u in usage.uncovered] == [("c1", 1, (date(2026, 10, 25),))]


def test_a_customer_with_spans_and_no_events_gets_empty_dicts(tmp_path: Path) -> None:
    spans = {"c9": [DaySpan(date(2026, 10, 1), date(2026, 10, 3)), DaySpan(date(2026, 10, 5), date(2026, 10, 31))]}
    usage = same_everywhere(tmp_path, MONTH, spans=spans)
    assert usage.span_quantities == {"c9": [{}, {}]}
    assert "c1" in usage.quantities and not usage.uncovered


def test_uncovered_days_are_counted_per_customer(tmp_path: Path) -> None:
    events = [
        ev("e1", "calls", 1, "2026-10-01T10:00:00Z", customer="c2"),
        ev("e2", "requests", 1, "2026-10-01T11:00:00Z", customer="c2"),
        ev("e3", "calls", 1, "2026-10-31T22:30:00Z", customer="c2"),  # 31 October 23:30 in Paris
        ev("e4", "calls", 1, "2026-10-15T10:00:00Z", customer="c2"),
    ]
    usage = same_everywhere(tmp_path, events, spans={"c2": [DaySpan(date(2026, 10, 10), date(2026, 10, 20))]})
    assert usage.span_quantities == {"c2": [{"calls": D(1)}]}
    assert [(u.events, u.days) for u in usage.uncovered] == [(3, (date(2026, 10, 1), date(2026, 10, 31)))]
    assert "3 usage events on 2026-10-01, 2026-10-31" in usage.uncovered[0].describe()


# -- unique_key ------------------------------------------------------------------------------------

NO_KEY = "metric users counts distinct unique_key values: this event has none"


@pytest.mark.parametrize("kind", SOURCES)
def test_an_event_without_unique_key_is_a_problem_with_its_row(tmp_path: Path, kind: str) -> None:
    events = [
        ev("u1", "users", 1, "2026-10-02T10:00:00Z", key="alice"),
        ev("u2", "users", 1, "2026-10-03T10:00:00Z"),
        ev("u3", "calls", 1, "2026-10-03T10:00:00Z"),  # not a unique_count metric: no key needed
        ev("u4", "users", 1, "2026-09-03T10:00:00Z"),  # September: not checked
    ]
    usage = usage_of(tmp_path, kind, events)
    (problem,) = usage.problems
    assert (problem.field, problem.reason) == ("unique_key", NO_KEY)
    if kind == "csv":
        assert (problem.file, problem.row) == ("usage/part0.csv", 3)
    elif kind == "parquet":
        assert (problem.file, problem.row) == ("usage/part0.parquet", 2)
    elif kind == "sqlite":  # through the engine: located by event_id
        assert (problem.row, problem.value) == (None, "event_id u2")
    else:
        assert problem.row is not None


def test_a_file_without_the_unique_key_column(tmp_path: Path) -> None:
    usage_dir = tmp_path / "usage"
    usage_dir.mkdir()
    (usage_dir / "old.csv").write_text(
        "event_id,customer_id,metric,quantity,timestamp\ne1,c1,users,1,2026-10-02T10:00:00Z\n"
        "e2,c1,calls,1,2026-10-02T10:00:00Z\n",
        encoding="utf-8",
    )
    usage = read_usage(usage_dir, OCTOBER, PARIS, aggregations=AGGREGATIONS)
    assert [(p.file, p.row, p.field, p.reason) for p in usage.problems] == [("usage/old.csv", 2, "unique_key", NO_KEY)]
    assert usage.quantities == {"c1": {"calls": D(1)}}
    # without unique_count metrics, such files read as before
    assert not read_usage(usage_dir, OCTOBER, PARIS).problems


def test_an_unknown_aggregation_is_reported_with_its_yaml_line(tmp_path: Path) -> None:
    path = tmp_path / "price_list.yaml"
    text = PRICE_LIST.replace(
        "    description: Stored gigabytes\n", "    description: Stored gigabytes\n    aggregation: median\n"
    )
    path.write_text(text, encoding="utf-8")
    reading = parse_price_list(path)
    assert reading.price_list is None
    (problem,) = reading.problems
    assert (problem.file, problem.row, problem.field, problem.value) == (
        "price_list.yaml",
        7,
        "metrics.storage_gb.aggregation",
        "median",
    )
    assert "weighted_sum" in problem.reason


# -- properties ------------------------------------------------------------------------------------

DAYS = 31
_instants = st.builds(
    lambda day, seconds: datetime(2026, 9, 30, 22, tzinfo=ZoneInfo("UTC")) + timedelta(days=day, seconds=seconds),
    st.integers(-3, DAYS - 1),
    st.integers(0, 86_399),
)
_events = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(["calls", "requests", "seats"]),
        st.integers(0, 1000) | st.decimals("0", "1000", places=2).map(str),
        _instants,
    ),
    max_size=30,
)
_cuts = st.lists(st.integers(2, DAYS), unique=True, max_size=5).map(sorted)


def _as_events(drawn: list) -> list[Event]:
    return [
        ev(f"e{index:03d}", metric, quantity, instant.isoformat(), customer=customer)
        for index, (customer, metric, quantity, instant) in enumerate(drawn)
    ]


def _partition(cuts: list[int]) -> list[DaySpan]:
    starts = [1, *cuts]
    ends = [cut - 1 for cut in cuts] + [DAYS]
    return [DaySpan(date(2026, 10, first), date(2026, 10, last)) for first, last in zip(starts, ends, strict=True)]


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="aggregations-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _fresh(scratch: Path) -> Path:
    """A new folder per hypothesis example (pytest's tmp_path is one per test)."""
    return Path(tempfile.mkdtemp(dir=scratch))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_events, cuts=_cuts)
def test_spans_partitioning_the_month_add_up_to_the_whole(scratch: Path, drawn: list, cuts: list[int]) -> None:
    events = _as_events(drawn)
    location = write_usage(_fresh(scratch), "csv", [events])
    whole = read_from("csv", location)
    spans = _partition(cuts)
    split = read_from("csv", location, spans={"c1": spans})
    assert len(split.span_quantities["c1"]) == len(spans) and not split.uncovered
    whole_c1 = whole.quantities.get("c1", {})
    for metric in ("calls", "requests"):  # sums and counts: no event counted twice or dropped
        parts = sum((part.get(metric, D(0)) for part in split.span_quantities["c1"]), D(0))
        assert parts == whole_c1.get(metric, D(0))
    parts = sum((part.get("seats", D(0)) for part in split.span_quantities["c1"]), D(0))
    assert abs(parts - whole_c1.get("seats", D(0))) <= D("0.000001") * len(spans)
    assert split.quantities.get("c2") == whole.quantities.get("c2")  # others unchanged


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_events, cuts=_cuts, copies=st.lists(st.integers(0, 29), max_size=4))
def test_files_and_sqlite_agree(scratch: Path, drawn: list, cuts: list[int], copies: list[int]) -> None:
    events = _as_events(drawn)
    events += [dict(events[index]) for index in copies if index < len(events)]  # exact repeats
    spans = {"c2": _partition(cuts)[1:]}  # c2's first days uncovered
    results = []
    for kind in ("csv", "sqlite"):
        location = write_usage(_fresh(scratch), kind, [events])
        results.append(summary(read_from(kind, location, spans=spans)))
    assert results[0] == results[1]


def test_whole_quantities_in_parquet_integers(tmp_path: Path) -> None:
    """Integer columns take the NumPy paths (bincount sums, maxima, whole-unit weighted sums)."""
    events = [event for event in MONTH if "." not in event["quantity"]] + [
        ev("s1", "seats", 3, "2026-09-20T10:00:00Z"),
        ev("s2", "seats", 6, "2026-10-16T22:00:00Z"),
    ]
    expected = same_everywhere(tmp_path / "text", events).quantities
    usage_dir = tmp_path / "ints" / "usage"
    usage_dir.mkdir(parents=True)
    table = pa.table(
        {
            **{name: [event[name] for event in events] for name in ("event_id", "customer_id", "metric")},
            "quantity": pa.array([int(event["quantity"]) for event in events], pa.int64()),
            "timestamp": pa.array(
                [datetime.fromisoformat(event["timestamp"]) for event in events], pa.timestamp("us", tz="UTC")
            ),
            "unique_key": [event["unique_key"] for event in events],
        }
    )
    pq.write_table(table, usage_dir / "events.parquet")
    usage = read_usage(usage_dir, OCTOBER, PARIS, aggregations=AGGREGATIONS)
    assert usage.quantities == expected and not usage.problems
    assert expected["c1"]["seats"] == (D(3 * 384 + 6 * 361) / 745).quantize(D("0.000001"))
    assert expected["c1"]["peak"] == D(6) and expected["c1"]["calls"] == D(3)


# -- against the definitions, written naively ------------------------------------------------------

_PERIOD_START = datetime(2026, 9, 30, 22, tzinfo=ZoneInfo("UTC"))  # 1 Oct 2026 00:00 in Paris
_PERIOD_END = datetime(2026, 10, 31, 23, tzinfo=ZoneInfo("UTC"))  # 1 Nov 2026 00:00 in Paris (745 hours)
_naive_events = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(list(AGGREGATIONS)),
        st.integers(0, 50),
        # few distinct instants, some before the period: ties at one instant and a carried-in level
        st.sampled_from([-2, 0, 3, 30, 44]).map(lambda step: _PERIOD_START + timedelta(hours=17 * step)),
        st.sampled_from(["alice", "bob", "carol"]),
    ),
    min_size=8,
    max_size=40,
)


def _by_definition(events: list[Event]) -> dict[str, dict[str, Decimal]]:
    """Each aggregation as the README defines it, one event at a time (the first copy of an id counts)."""
    seen: set[str] = set()
    kept = []
    for event in events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            kept.append((event, datetime.fromisoformat(event["timestamp"]), D(event["quantity"])))
    result: dict[str, dict[str, Decimal]] = {}
    for customer in sorted({event["customer_id"] for event, _, _ in kept}):
        for metric, kind in AGGREGATIONS.items():
            mine = [
                (at, event["event_id"], q, event["unique_key"])
                for event, at, q in kept
                if event["customer_id"] == customer and event["metric"] == metric
            ]
            inside = sorted(item for item in mine if _PERIOD_START <= item[0] < _PERIOD_END)
            if kind == "weighted_sum":
                before = sorted(item for item in mine if item[0] < _PERIOD_START)
                level = before[-1][2] if before else D(0)
                if not inside and not level:
                    continue
                total, since = D(0), _PERIOD_START
                for at, _, quantity, _ in inside:
                    total += level * D((at - since) // timedelta(microseconds=1))
                    level, since = quantity, at
                total += level * D((_PERIOD_END - since) // timedelta(microseconds=1))
                span = D((_PERIOD_END - _PERIOD_START) // timedelta(microseconds=1))
                value = (total / span).quantize(D("0.000001"), rounding="ROUND_HALF_UP")
            elif not inside:
                continue
            elif kind == "sum":
                value = sum((item[2] for item in inside), D(0))
            elif kind == "count":
                value = D(len(inside))
            elif kind == "unique_count":
                value = D(len({item[3] for item in inside}))
            elif kind == "max":
                value = max(item[2] for item in inside)
            else:  # latest: the greatest (instant, event_id)
                value = inside[-1][2]
            result.setdefault(customer, {})[metric] = value
    return result


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_naive_events, copies=st.lists(st.integers(0, 39), max_size=5), kind=st.sampled_from(["csv", "parquet"]))
def test_every_aggregation_equals_its_definition(scratch: Path, drawn: list, copies: list[int], kind: str) -> None:
    events = [
        ev(f"e{index:02d}", metric, quantity, at.isoformat(), customer=customer, key=user)
        for index, (customer, metric, quantity, at, user) in enumerate(drawn)
    ]
    events += [dict(events[index]) for index in copies if index < len(events)]  # exact repeats, later
    usage = read_from(kind, write_usage(_fresh(scratch), kind, [events]))
    assert not usage.problems
    assert usage.quantities == _by_definition(events)
