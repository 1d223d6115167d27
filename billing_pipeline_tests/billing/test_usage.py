"""Usage loading: period assignment, deduplication, totals, and every bad-row case."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_pipeline.billing import usage_reader
from billing_pipeline.billing.models import InvalidBillingInput
from billing_pipeline.billing.usage import load_usage, read_usage

CUSTOMERS = {"cus_1", "cus_2"}
METRICS = {"api_calls", "storage_gb"}
D = Decimal
Problem = tuple[str, int | None, str | None, str | None, str]


def read(data_dir: Path, period: str = "2026-10", tz: str = "Europe/Paris"):
    return read_usage(data_dir / "usage", period, tz, customers=CUSTOMERS, metrics=METRICS)


def problems(data_dir: Path, period: str = "2026-10") -> list[Problem]:
    return [(p.file, p.row, p.field, p.value, p.reason) for p in read(data_dir, period).problems]


def test_events_belong_to_the_month_of_their_paris_time(data_dir: Path, write_usage: Callable) -> None:
    write_usage(
        "api-2026-09.csv",
        "e1,cus_1,api_calls,1,2026-09-30T21:59:59Z\n"  # 23:59:59 on 30 September in Paris
        "e2,cus_1,api_calls,10,2026-09-30T22:30:00Z\n"  # 00:30 on 1 October in Paris
        "e3,cus_1,api_calls,100,2026-10-01T00:15:00+02:00\n"
        "e4,cus_1,api_calls,1000,2026-10-25T00:30:00Z\n"  # 02:30 CEST, before the DST change
        "e5,cus_1,api_calls,10000,2026-10-25T01:30:00Z\n"  # 02:30 CET, after it
        "e6,cus_1,api_calls,100000,2026-10-31T22:59:59Z\n"  # 23:59:59 on 31 October (CET)
        "e7,cus_1,api_calls,1000000,2026-10-31T23:00:00Z\n",  # midnight, 1 November
    )
    october = read(data_dir)
    assert october.problems == []
    assert october.quantities == {"cus_1": {"api_calls": D(111110)}}
    assert (october.files, october.rows_read, october.rows_in_period) == (1, 7, 5)
    assert read(data_dir, "2026-09").quantities == {"cus_1": {"api_calls": D(1)}}
    assert read(data_dir, "2026-11").quantities == {"cus_1": {"api_calls": D(1000000)}}
    # the same events in UTC fall differently
    assert read(data_dir, "2026-09", "UTC").quantities == {"cus_1": {"api_calls": D(111)}}


def test_duplicates_across_csv_and_parquet_count_once(data_dir: Path, write_usage: Callable) -> None:
    write_usage("a.csv", "e1,cus_1,api_calls,5,2026-10-02T10:00:00Z\ne2,cus_2,storage_gb,1.25,2026-10-02T11:00:00Z\n")
    write_usage("b.csv", "e1,cus_1,api_calls,5,2026-10-02T10:00:00Z\ne3,cus_2,storage_gb,0.5,2026-10-03T11:00:00Z\n")
    table = pa.table(
        {
            "event_id": ["e2", "e4"],
            "customer_id": ["cus_2", "cus_1"],
            "metric": ["storage_gb", "api_calls"],
            "quantity": pa.array([D("1.25"), D("7")], pa.decimal128(10, 2)),
            "timestamp": pa.array(
                np.array(["2026-10-02T11:00:00", "2026-10-04T00:00:00"], dtype="datetime64[us]").astype(np.int64),
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    pq.write_table(table, data_dir / "usage" / "c.parquet")
    usage = load_usage(data_dir / "usage", "2026-10", customers=CUSTOMERS, metrics=METRICS)
    assert usage.quantities == {"cus_1": {"api_calls": D(12)}, "cus_2": {"storage_gb": D("1.75")}}
    assert (usage.files, usage.rows_read, usage.rows_in_period, usage.duplicate_events) == (3, 6, 6, 2)


def test_same_event_id_with_different_content_is_an_error(data_dir: Path, write_usage: Callable) -> None:
    write_usage("a.csv", "e1,cus_1,api_calls,5,2026-10-02T10:00:00Z\n")
    write_usage("b.csv", "\ne1,cus_1,api_calls,6,2026-10-02T10:00:00Z\n")
    assert problems(data_dir) == [
        (
            "usage/b.csv",
            3,
            "event_id",
            "e1",
            "event_id already used by a different event at usage/a.csv line 2 (quantity differ)",
        )
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "e1,cus_9,api_calls,5,2026-10-02T10:00:00Z",
            ("customer_id", "cus_9", "unknown customer_id not in customers.csv"),
        ),
        ("e1,,api_calls,5,2026-10-02T10:00:00Z", ("customer_id", "", "missing customer_id")),
        ("e1,cus_1,sms,5,2026-10-02T10:00:00Z", ("metric", "sms", "unknown metric not declared in the price list")),
        ("e1,cus_1,api_calls,-5,2026-10-02T10:00:00Z", ("quantity", "-5", "negative quantity")),
        ("e1,cus_1,api_calls,NaN,2026-10-02T10:00:00Z", ("quantity", "NaN", "quantity is NaN")),
        ("e1,cus_1,api_calls,inf,2026-10-02T10:00:00Z", ("quantity", "inf", "quantity is infinite")),
        ("e1,cus_1,api_calls,five,2026-10-02T10:00:00Z", ("quantity", "five", "not a number")),
        ("e1,cus_1,api_calls,,2026-10-02T10:00:00Z", ("quantity", "", "missing quantity")),
        ("e1,cus_1,api_calls,0.0000001,2026-10-02T10:00:00Z", ("quantity", "0.0000001", "more than 6 decimals")),
        (  # 25 digits and 7 decimals: past the default decimal context, still a row's problem
            "e1,cus_1,api_calls,1234567890123456789012345.0000001,2026-10-02T10:00:00Z",
            ("quantity", "1234567890123456789012345.0000001", "more than 6 decimals"),
        ),
        (
            "e1,cus_1,api_calls,123456789012345678901234567890123,2026-10-02T10:00:00Z",
            ("quantity", "123456789012345678901234567890123", "quantity too large"),
        ),
        (",cus_1,api_calls,5,2026-10-02T10:00:00Z", ("event_id", "", "missing event_id")),
        (
            "e1,cus_1,api_calls,5,2026-10-02 10:00:00",
            (
                "timestamp",
                "2026-10-02 10:00:00",
                "not an ISO 8601 timestamp with a UTC offset or Z (e.g. 2026-10-01T08:30:00+02:00)",
            ),
        ),
        (
            "e1,cus_1,api_calls,5,2026-02-30T10:00:00Z",
            ("timestamp", "2026-02-30T10:00:00Z", "not a real date and time: day is out of range for month"),
        ),
        ("e1,cus_1,api_calls,5,", ("timestamp", "", "missing timestamp")),
    ],
)
def test_bad_usage_row(data_dir: Path, write_usage: Callable, row: str, expected: tuple[str, str, str]) -> None:
    write_usage("events.csv", f"e0,cus_1,api_calls,1,2026-10-01T10:00:00Z\n{row}\n")
    assert problems(data_dir) == [("usage/events.csv", 3, *expected)]


def test_malformed_rows_and_line_numbers_after_blank_lines(data_dir: Path, write_usage: Callable) -> None:
    write_usage(
        "events.csv",
        "e1,cus_1,api_calls,1,2026-10-01T10:00:00Z\n"
        "\n"
        "e2,cus_1\n"
        '"e3\nsplit",cus_1,api_calls,1,2026-10-01T10:00:00Z\n'
        "e4,cus_1,api_calls,-1,2026-10-01T10:00:00Z\n",
    )
    assert problems(data_dir) == [
        ("usage/events.csv", 4, None, None, "expected 5 cells, found 2"),
        ("usage/events.csv", 7, "quantity", "-1", "negative quantity"),
    ]


def test_rows_of_other_months_are_not_checked(data_dir: Path, write_usage: Callable) -> None:
    write_usage("events.csv", "e1,cus_9,api_calls,-1,2026-09-10T10:00:00Z\ne2,cus_1,api_calls,1,not-a-date\n")
    assert problems(data_dir) == [
        (
            "usage/events.csv",
            3,
            "timestamp",
            "not-a-date",
            "not an ISO 8601 timestamp with a UTC offset or Z (e.g. 2026-10-01T08:30:00+02:00)",
        )
    ]


def test_parquet_problems_use_record_numbers(data_dir: Path) -> None:
    table = pa.table(
        {
            "event_id": ["e1", "e2", "e3"],
            "customer_id": ["cus_1", "cus_1", "cus_1"],
            "metric": ["api_calls", "api_calls", "api_calls"],
            "quantity": [1.5, float("nan"), -2.0],
            "timestamp": pa.array([1_791_000_000_000_000] * 3, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, data_dir / "usage" / "events.parquet")
    assert problems(data_dir) == [
        ("usage/events.parquet", 2, "quantity", "nan", "quantity is NaN"),
        ("usage/events.parquet", 3, "quantity", "-2.0", "negative quantity"),
    ]


def test_parquet_schema_problems(data_dir: Path) -> None:
    table = pa.table(
        {
            "event_id": ["e1"],
            "customer_id": ["cus_1"],
            "quantity": [1],
            "timestamp": pa.array([1_791_000_000_000_000], pa.timestamp("us")),
        }
    )
    pq.write_table(table, data_dir / "usage" / "events.parquet")
    assert problems(data_dir) == [
        ("usage/events.parquet", None, "metric", None, "missing column"),
        (
            "usage/events.parquet",
            None,
            "timestamp",
            None,
            "timestamps without a time zone are ambiguous: store UTC instants (timestamp with tz)",
        ),
    ]


def test_missing_csv_column_and_missing_folder(data_dir: Path) -> None:
    (data_dir / "usage" / "events.csv").write_text("event_id,customer_id,metric,qty,timestamp\n", encoding="utf-8")
    assert problems(data_dir) == [("usage/events.csv", 1, "quantity", None, "missing column")]
    with pytest.raises(InvalidBillingInput, match="nowhere: usage directory not found"):
        load_usage(data_dir / "nowhere", "2026-10")


def test_many_bad_rows_are_summarized(data_dir: Path, write_usage: Callable) -> None:
    write_usage("events.csv", "".join(f"e{i},cus_1,api_calls,-1,2026-10-01T10:00:00Z\n" for i in range(60)))
    found = read(data_dir).problems
    assert len(found) == 51
    assert found[0].row == 2 and found[49].row == 51
    assert (found[50].row, found[50].reason) == (None, "10 more rows with this problem: negative quantity")


def test_a_hash_collision_never_merges_different_events(
    data_dir: Path, write_usage: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage_reader, "string_hashes", lambda column: np.zeros(len(column), dtype=np.uint64))
    write_usage("a.csv", "e1,cus_1,api_calls,5,2026-10-02T10:00:00Z\ne2,cus_1,api_calls,7,2026-10-02T10:00:00Z\n")
    write_usage("b.csv", "e1,cus_1,api_calls,5,2026-10-02T10:00:00Z\n")
    usage = read(data_dir)
    assert (usage.quantities, usage.duplicate_events, usage.problems) == ({"cus_1": {"api_calls": D(12)}}, 1, [])


events = st.lists(
    st.tuples(
        st.sampled_from(sorted(CUSTOMERS)),
        st.sampled_from(sorted(METRICS)),
        st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
        st.integers(min_value=0, max_value=31 * 86400 - 1),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events, repeats=st.lists(st.integers(min_value=0, max_value=39), max_size=20))
def test_totals_ignore_repeated_events(data_dir: Path, events: list, repeats: list[int]) -> None:
    start = np.datetime64("2026-09-30T22:00:00", "s")
    rows = [
        f"ev-{index},{customer},{metric},{quantity},{start + np.timedelta64(offset, 's')}Z"
        for index, (customer, metric, quantity, offset) in enumerate(events)
    ]
    again = [rows[index % len(rows)] for index in repeats]
    header = "event_id,customer_id,metric,quantity,timestamp\n"
    (data_dir / "usage" / "first.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    (data_dir / "usage" / "second.csv").write_text(header + "\n".join(again) + "\n", encoding="utf-8")
    expected: dict[str, dict[str, Decimal]] = {}
    for customer, metric, quantity, _ in events:
        per_metric = expected.setdefault(customer, {})
        per_metric[metric] = per_metric.get(metric, D(0)) + quantity
    usage = read(data_dir)
    assert usage.problems == []
    assert usage.quantities == expected
    assert usage.duplicate_events == len(again)
