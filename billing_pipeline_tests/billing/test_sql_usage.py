"""Usage from a SQL table (SQLite here; PostgreSQL in ../postgres): same periods, checks and messages as files."""

from __future__ import annotations

import csv
import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from billing_pipeline.billing import sql_usage
from billing_pipeline.billing.models import InvalidBillingInput, PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import plan_period, to_preview_json
from billing_pipeline.billing.sql_usage import NAIVE_TIMESTAMPS, SqlUsageSource
from billing_pipeline.billing.usage import COLUMNS, UsageReader, UsageTotals, read_usage
from billing_pipeline_tests.billing.conftest import SAMPLE_DIR
from billing_pipeline_tests.billing.test_usage_aggregations import bare_value

D = Decimal
CUSTOMERS = {"cus_1", "cus_2"}
METRICS = {"api_calls", "storage_gb"}
TEXT_COLUMNS = dict.fromkeys(COLUMNS, "TEXT")
NOT_ISO = "not an ISO 8601 timestamp with a UTC offset or Z (e.g. 2026-10-01T08:30:00+02:00)"
Event = dict[str, Any]
Problem = tuple[str, int | None, str | None, str | None, str]


# -- helpers shared with the PostgreSQL tests ------------------------------------------------------


def sample_events() -> list[Event]:
    """Every row of every usage file of the sample data, as written (duplicates and all months)."""
    events: list[Event] = []
    for path in sorted((SAMPLE_DIR / "usage").rglob("*")):
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                events.extend({name: row[name] for name in COLUMNS} for row in csv.DictReader(handle))
        elif path.suffix == ".parquet":
            for row in pq.read_table(path, columns=list(COLUMNS)).to_pylist():
                events.append({**row, "quantity": str(row["quantity"]), "timestamp": row["timestamp"].isoformat()})
    return events


def as_instants(events: Iterable[Event]) -> list[Event]:
    """The events with their ISO 8601 text turned into aware datetimes (for timestamptz columns)."""
    return [
        {**event, "timestamp": None if event["timestamp"] is None else datetime.fromisoformat(event["timestamp"])}
        for event in events
    ]


def create_usage_table(
    url: str,
    events: Iterable[Event],
    *,
    types: dict[str, str] | None = None,
    table: str = "usage_events",
    schema: str | None = None,
) -> None:
    """Create ``table`` with the contract's columns (SQL types in ``types``) and insert ``events``."""
    types = types or TEXT_COLUMNS
    engine = sa.create_engine(url)
    quote = engine.dialect.identifier_preparer.quote
    qualified = f"{quote(schema)}.{quote(table)}" if schema else quote(table)
    with engine.begin() as connection:
        if schema:
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        definition = ", ".join(f"{quote(name)} {kind}" for name, kind in types.items())
        connection.exec_driver_sql(f"CREATE TABLE {qualified} ({definition})")
        rows = list(events)
        if rows:
            target = sa.table(table, *(sa.column(name) for name in types), schema=schema)
            connection.execute(target.insert(), rows)
    engine.dispose()


def assert_same_plan(from_files: PeriodPlan, from_table: PeriodPlan) -> None:
    """Same invoices, lines, amounts and JSON; only where the events were read from differs."""
    assert from_table.invoices == from_files.invoices
    assert to_preview_json(from_table) == to_preview_json(from_files)
    assert [invoice.content_digest() for invoice in from_table.invoices] == [
        invoice.content_digest() for invoice in from_files.invoices
    ]
    same_stats = {"files", "rows_read"}  # a table is one source, and only the period's window is read
    assert from_table.model_dump(exclude={"usage_stats": same_stats}) == from_files.model_dump(
        exclude={"usage_stats": same_stats}
    )
    assert from_table.usage_stats.files == 1
    assert from_table.usage_stats.rows_read < from_files.usage_stats.rows_read


def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows per batch that the SQL source hands to the usage checks."""
    sizes: list[int] = []

    class CountingReader(UsageReader):
        def read_batches(self, origin: Any, batches: Iterable[pa.RecordBatch]) -> None:
            def counted() -> Iterator[pa.RecordBatch]:
                for batch in batches:
                    sizes.append(batch.num_rows)
                    yield batch

            super().read_batches(origin, counted())

    monkeypatch.setattr(sql_usage, "UsageReader", CountingReader)
    return sizes


def problems_of(usage: UsageTotals) -> list[Problem]:
    return [(p.file, p.row, p.field, p.value, p.reason) for p in usage.problems]


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_table(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database holding the sample's events, timestamps as the ISO 8601 text of the files."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sample') / 'usage.sqlite'}"
    create_usage_table(url, sample_events(), types={**TEXT_COLUMNS, "quantity": "NUMERIC"})
    return url


@pytest.fixture
def usage_db(tmp_path: Path) -> Callable[..., SqlUsageSource]:
    """A fresh SQLite table loaded with the given events; returns the source reading it — streamed by
    default, so that a problem names the row's position (the engine's reads are compared with it)."""

    def load(events: Iterable[Event], *, types: dict[str, str] | None = None, **source: Any) -> SqlUsageSource:
        url = f"sqlite:///{tmp_path / 'usage.sqlite'}"
        create_usage_table(url, events, types=types)
        return SqlUsageSource(url, **{"pushdown": False, **source})

    return load


def event(event_id: object, quantity: object = "1", timestamp: object = "2026-10-02T10:00:00Z", **other: str) -> Event:
    return {
        "event_id": event_id,
        "customer_id": other.get("customer_id", "cus_1"),
        "metric": other.get("metric", "api_calls"),
        "quantity": quantity,
        "timestamp": timestamp,
    }


def read(source: SqlUsageSource, period: str = "2026-10", tz: str = "Europe/Paris") -> UsageTotals:
    return source.read(BillingPeriod.parse(period), ZoneInfo(tz), customers=CUSTOMERS, metrics=METRICS)


# -- the sample month, priced from files and from a table -------------------------------------------


@pytest.mark.parametrize("period", ["2026-08", "2026-09", "2026-10"])
def test_sample_month_from_a_table_is_priced_like_from_files(sample_table: str, period: str) -> None:
    from_files = plan_period(period, SAMPLE_DIR)
    from_table = plan_period(period, SAMPLE_DIR, usage_source=SqlUsageSource(sample_table))
    assert len(from_files.invoices) >= 28 and from_files.usage_stats.duplicate_events > 0
    assert_same_plan(from_files, from_table)


def test_rows_are_streamed_in_chunks(sample_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the pushdown (and when a database cannot run it) every row of the window is streamed."""
    sizes = batch_sizes(monkeypatch)
    whole = plan_period("2026-10", SAMPLE_DIR, usage_source=SqlUsageSource(sample_table, pushdown=False))
    assert sizes == [whole.usage_stats.rows_read]  # one default-sized chunk holds the sample month
    sizes.clear()
    chunked = plan_period(
        "2026-10", SAMPLE_DIR, usage_source=SqlUsageSource(sample_table, fetch_rows=64, pushdown=False)
    )
    assert len(sizes) > 5 and max(sizes) == 64 and sum(sizes) == whole.usage_stats.rows_read
    # duplicates that fall in different chunks still count once
    assert chunked == whole


# -- the pushdown: the database filters, de-duplicates and adds up -----------------------------------


def test_the_database_adds_up_and_only_aggregates_cross_the_wire(
    usage_db: Callable[..., SqlUsageSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 plain events: no row is handed to Python, the totals are the streaming reader's to
    the digit (the same exponent, too)."""
    events = [
        event(
            f"e{i}",
            f"{i % 7}.{i % 1000:03d}" if i % 3 else str(i % 11),
            f"2026-10-{1 + i % 30:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            customer_id=f"cus_{1 + i % 2}",
            metric=("api_calls", "storage_gb")[i % 4 == 0],
        )
        for i in range(10_000)
    ]
    source = usage_db(events, pushdown=True)
    sizes = batch_sizes(monkeypatch)
    pushed = read(source)
    assert sizes == []  # every group settled by the engine: no row crosses the wire
    streamed = read(SqlUsageSource(source.url, pushdown=False))
    assert sum(sizes) == 10_000
    assert pushed == streamed and pushed.problems == []
    assert (pushed.rows_read, pushed.rows_in_period) == (10_000, 10_000)
    assert {metric: str(value) for metric, value in pushed.quantities["cus_1"].items()} == {
        metric: str(value) for metric, value in streamed.quantities["cus_1"].items()
    }


def test_pushdown_dedups_like_the_files_and_fetches_only_the_repeats(
    usage_db: Callable[..., SqlUsageSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [event(f"u{i}", "2", f"2026-10-{1 + i % 28:02d}T10:00:00Z") for i in range(200)]
    rows += [event("d1", "5", "2026-10-02T11:00:00Z"), event("d1", "5", "2026-10-02T11:00:00Z")]
    rows += [event("d2", "1", "2026-10-04T10:00:00Z"), event("d2", "4", "2026-10-04T10:00:00Z")]
    rows += [event(1, "3", "2026-10-05T10:00:00Z"), event("1", "3", "2026-10-05T10:00:00Z")]  # same id as text
    rows += [event("o1", "7", "2026-10-05T10:00:00Z", metric="storage_gb")]
    source = usage_db(rows, types={**TEXT_COLUMNS, "event_id": "BLOB"}, pushdown=True)
    sizes = batch_sizes(monkeypatch)
    usage = read(source)
    # the copies that differ taint their (customer, metric) group: its rows go through the file
    # reader; the other group is settled by the engine
    assert sum(sizes) == 206
    assert usage.duplicate_events == 2
    assert usage.quantities == {"cus_1": {"api_calls": D(400 + 5 + 1 + 3), "storage_gb": D(7)}}
    [problem] = problems_of(usage)
    assert problem[1:4] == (None, "event_id", "d2")
    assert problem[4] == (
        f"event_id already used by a different event at {source.label} "
        "(event_id d2, timestamp 2026-10-04T10:00:00Z) (quantity differ)"
    )
    assert comparable(usage) == comparable(read(SqlUsageSource(source.url, pushdown=False)))


def comparable(usage: UsageTotals) -> tuple:
    """What a pushed-down read and a streamed one share: everything but how a row is located."""
    problems = [(p.file, p.field, bare_value(p.value), p.reason.split(" at ")[0]) for p in usage.problems]
    rest = (usage.rows_read, usage.rows_in_period, usage.duplicate_events, usage.span_quantities, usage.uncovered)
    return usage.quantities, sorted(problems, key=str), rest


@pytest.mark.parametrize(
    "bad",
    [
        event("e1", customer_id="cus_9"),
        event("e1", customer_id=" "),
        event("e1", metric="sms"),
        event("e1", "-5"),
        event("e1", "five"),
        event("e1", "NaN"),
        event("e1", "1e400"),
        event("e1", "0.0000001"),
        event("e1", None),
        event(""),
        event("e1", timestamp="2026-10-02 10:00:00"),
        event("e1", timestamp="2026-10-02T10:00:00"),  # naive: no offset
        event("e1", timestamp="2026-09-31T23:30:00Z"),  # SQLite would roll it over to 1 October
        event("e1", timestamp=None),
    ],
)
def test_every_check_fires_with_its_message_through_the_pushdown(
    usage_db: Callable[..., SqlUsageSource], monkeypatch: pytest.MonkeyPatch, bad: Event
) -> None:
    """A bad row among many good ones: the same problems as streaming every row, located by event."""
    good = [event(f"g{i}", "1", f"2026-10-{1 + i % 28:02d}T09:00:{i % 60:02d}Z") for i in range(300)]
    source = usage_db([*good[:150], bad, *good[150:]], pushdown=True)
    sizes = batch_sizes(monkeypatch)
    pushed = read(source)
    assert sum(sizes) <= 301  # the bad row's group at most
    streamed = read(SqlUsageSource(source.url, pushdown=False))
    assert pushed.problems and comparable(pushed) == comparable(streamed)
    [problem] = pushed.problems
    assert problem.row is None
    assert problem.value is not None and ("event_id e1" in problem.value or problem.value.startswith("no event_id"))


# -- periods and time zones -----------------------------------------------------------------------


def test_events_belong_to_the_month_of_their_paris_time(usage_db: Callable[..., SqlUsageSource]) -> None:
    source = usage_db(
        [
            event("e1", "1", "2026-09-30T21:59:59Z"),  # 23:59:59 on 30 September in Paris
            event("e2", "10", "2026-09-30T22:30:00Z"),  # 00:30 on 1 October in Paris
            event("e3", "100", "2026-09-30T10:30:00-12:00"),  # 22:30Z: October too, written a day earlier
            event("e4", "1000", "2026-10-25T00:30:00Z"),  # 02:30 CEST, before the DST change
            event("e5", "10000", "2026-10-25T01:30:00Z"),  # 02:30 CET, after it
            event("e6", "100000", "2026-11-01T12:59:59+14:00"),  # 22:59:59Z on 31 October: 23:59:59 in Paris
            event("e7", "1000000", "2026-11-01T13:00:00+14:00"),  # midnight, 1 November in Paris
            event("e8", "7", "2026-08-31T23:00:00Z"),  # September: outside October's window
        ]
    )
    october = read(source)
    assert october.problems == []
    assert october.quantities == {"cus_1": {"api_calls": D(111110)}}
    # the window is the period widened by a day: e8 (a month away) is never fetched
    assert (october.files, october.rows_read, october.rows_in_period) == (1, 7, 5)
    assert read(source, "2026-09").quantities == {"cus_1": {"api_calls": D(8)}}
    assert read(source, "2026-11").quantities == {"cus_1": {"api_calls": D(1000000)}}
    # the same events in other billing time zones fall differently
    assert read(source, "2026-09", "UTC").quantities == {"cus_1": {"api_calls": D(111)}}
    assert read(source, "2026-10", "UTC").quantities == {"cus_1": {"api_calls": D(1111000)}}
    assert read(source, "2026-10", "Pacific/Kiritimati").quantities == {"cus_1": {"api_calls": D(11111)}}


# -- bad rows: same reasons as the file reader, row = position in the query's order ------------------


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (event("e1", customer_id="cus_9"), (2, "customer_id", "cus_9", "unknown customer_id not in customers.csv")),
        (event("e1", customer_id=""), (2, "customer_id", "", "missing customer_id")),
        (event("e1", metric="sms"), (2, "metric", "sms", "unknown metric not declared in the price list")),
        (event("e1", "-5"), (2, "quantity", "-5", "negative quantity")),
        (event("e1", "NaN"), (2, "quantity", "NaN", "quantity is NaN")),
        (event("e1", "inf"), (2, "quantity", "inf", "quantity is infinite")),
        (event("e1", "five"), (2, "quantity", "five", "not a number")),
        (event("e1", None), (2, "quantity", None, "missing quantity")),
        (event("e1", "0.0000001"), (2, "quantity", "0.0000001", "more than 6 decimals")),
        (event(None), (2, "event_id", None, "missing event_id")),
        (event(""), (2, "event_id", "", "missing event_id")),
        (event("e1", timestamp="2026-10-02 10:00:00"), (2, "timestamp", "2026-10-02 10:00:00", NOT_ISO)),
        (
            event("e1", timestamp="2026-10-32T10:00:00Z"),
            (2, "timestamp", "2026-10-32T10:00:00Z", "not a real date and time: day is out of range for month"),
        ),
        (event("e1", timestamp=None), (1, "timestamp", None, "missing timestamp")),
        (event("e1", timestamp=""), (1, "timestamp", "", "missing timestamp")),
        # not even shaped like a date: fetched and reported whatever the month, as files do
        (event("e1", timestamp="yesterday"), (2, "timestamp", "yesterday", NOT_ISO)),
        (event("e1", timestamp=1791000000), (1, "timestamp", "1791000000", NOT_ISO)),
    ],
)
def test_bad_row(usage_db: Callable[..., SqlUsageSource], bad: Event, expected: tuple) -> None:
    source = usage_db([event("e0", timestamp="2026-10-01T10:00:00Z"), bad])
    assert problems_of(read(source)) == [(source.label, *expected)]
    # through the engine: the same problem, located by the event instead of a row number
    [problem] = read(SqlUsageSource(source.url)).problems
    assert (problem.file, problem.row, problem.field, problem.reason) == (
        source.label,
        None,
        *expected[1:2],
        expected[3],
    )
    assert bare_value(problem.value) == (expected[2] or None)
    event_id = bad["event_id"]
    assert problem.value is not None
    assert f"event_id {event_id}" in problem.value if event_id else problem.value.startswith("no event_id: ")


def test_rows_of_other_months_are_not_checked(usage_db: Callable[..., SqlUsageSource]) -> None:
    source = usage_db(
        [
            event("e1", "-1", "2026-09-30T12:00:00Z", customer_id="cus_9"),  # in the window, not in the period
            event("e2", "-1", "2026-07-10T10:00:00Z"),
            event("e3", "1", "2026-10-10T10:00:00Z"),
        ]
    )
    usage = read(source)
    assert (usage.problems, usage.quantities, usage.rows_read) == ([], {"cus_1": {"api_calls": D(1)}}, 2)


def test_values_stored_as_numbers_are_read_like_text(usage_db: Callable[..., SqlUsageSource]) -> None:
    """SQLite keeps whatever was inserted: integers for ids, REAL/INTEGER quantities."""
    source = usage_db(
        [
            event(1, 5, customer_id="cus_1"),
            event(2, 1.25, "2026-10-03T10:00:00Z", customer_id="cus_2", metric="storage_gb"),
            event(3, 1e-7, "2026-10-04T10:00:00Z"),
            event(4, -2, "2026-10-05T10:00:00Z"),
        ],
        types={**TEXT_COLUMNS, "event_id": "INTEGER", "quantity": "REAL"},
    )
    usage = read(source)
    assert usage.quantities == {"cus_1": {"api_calls": D(5)}, "cus_2": {"storage_gb": D("1.25")}}
    # (problems of different reasons come in no particular order)
    assert sorted(problems_of(usage)) == [
        (source.label, 3, "quantity", "1.0e-07", "more than 6 decimals"),
        (source.label, 4, "quantity", "-2.0", "negative quantity"),
    ]


def test_duplicates_count_once_and_conflicts_are_reported(usage_db: Callable[..., SqlUsageSource]) -> None:
    source = usage_db(
        [
            event("e1", "5", "2026-10-02T10:00:00Z"),
            event("e1", "5", "2026-10-02T10:00:00Z"),
            event("e2", "2", "2026-10-03T10:00:00Z", customer_id="cus_2", metric="storage_gb"),
            event("e2", "2", "2026-10-03T10:00:00Z", customer_id="cus_2", metric="storage_gb"),
            event("e3", "1", "2026-10-04T10:00:00Z"),
            event("e3", "4", "2026-10-04T10:00:00Z"),
        ],
        fetch_rows=1,  # every copy in its own chunk
    )
    usage = read(source)
    assert usage.duplicate_events == 2
    assert problems_of(usage) == [
        (
            source.label,
            6,
            "event_id",
            "e3",
            f"event_id already used by a different event at {source.label} row 5 (quantity differ)",
        )
    ]


def test_event_ids_of_very_different_lengths(
    usage_db: Callable[..., SqlUsageSource], data_dir: Path, write_usage: Callable[[str, str], Path]
) -> None:
    """A short id after a much longer one in the same chunk (it once made the id hashing read past its data)."""
    long_id = "evt-2026-10-0000000000000001"
    rows = [(long_id, "3"), ("e2", "4"), (long_id, "3"), ("e", "5")]
    write_usage("events.csv", "".join(f"{event_id},cus_1,api_calls,{q},2026-10-02T10:00:00Z\n" for event_id, q in rows))
    from_files = read_usage(data_dir / "usage", "2026-10", customers=CUSTOMERS, metrics=METRICS)
    from_table = read(usage_db([event(event_id, q, "2026-10-02T10:00:00Z") for event_id, q in rows]))
    for usage in (from_files, from_table):
        assert (usage.quantities, usage.duplicate_events, usage.problems) == ({"cus_1": {"api_calls": D(12)}}, 1, [])


def test_many_bad_rows_are_summarized(usage_db: Callable[..., SqlUsageSource]) -> None:
    source = usage_db([event(f"e{i:02d}", "-1", f"2026-10-01T10:00:{i:02d}Z") for i in range(60)])
    found = read(source).problems
    assert len(found) == 51
    assert (found[0].row, found[0].value, found[49].row) == (1, "-1", 50)
    assert (found[50].row, found[50].reason) == (None, "10 more rows with this problem: negative quantity")


# -- the table itself -----------------------------------------------------------------------------


def test_missing_table_column_or_database(usage_db: Callable[..., SqlUsageSource], tmp_path: Path) -> None:
    source = usage_db([], types={"event_id": "TEXT", "customer_id": "TEXT", "qty": "TEXT", "timestamp": "TEXT"})
    assert problems_of(read(source)) == [
        (source.label, None, "metric", None, "missing column"),
        (source.label, None, "quantity", None, "missing column"),
    ]
    other = SqlUsageSource(source.url, table="events")
    assert problems_of(read(other)) == [(f"{source.url}#events", None, None, None, "table not found")]
    missing = tmp_path / "nowhere.sqlite"
    nowhere = SqlUsageSource(f"sqlite:///{missing}")
    assert problems_of(read(nowhere)) == [
        (nowhere.label, None, None, None, "cannot connect to the usage database: SQLite database file not found")
    ]
    assert not missing.exists()  # reading never creates a database


def test_an_empty_table_has_no_usage(usage_db: Callable[..., SqlUsageSource]) -> None:
    usage = read(usage_db([]))
    assert (usage.quantities, usage.problems, usage.rows_read, usage.files) == ({}, [], 0, 1)


def test_a_bad_row_stops_the_period(usage_db: Callable[..., SqlUsageSource], data_dir: Path) -> None:
    source = usage_db([event("e1", "2"), event("e2", "-3", "2026-10-03T10:00:00Z")])
    with pytest.raises(InvalidBillingInput) as raised:
        plan_period("2026-10", data_dir, usage_source=source)
    assert [(p.file, p.row, p.field, p.value, p.reason) for p in raised.value.problems] == [
        (source.label, 2, "quantity", "-3", "negative quantity")
    ]


def test_customers_and_prices_still_come_from_files(usage_db: Callable[..., SqlUsageSource], data_dir: Path) -> None:
    (data_dir / "usage" / "ignored.csv").write_text("not,a,usage,file\n", encoding="utf-8")
    source = usage_db([event("e1", "250"), event("e2", "35", customer_id="cus_2", metric="storage_gb")])
    plan = plan_period("2026-10", data_dir, usage_source=source)
    nets = {invoice.customer.customer_id: [line.net_amount for line in invoice.lines] for invoice in plan.invoices}
    # cus_1 (basic): 10.00 fee + 250 calls at 0.01; cus_2 (metered): 4 started packages of 10 GB at 1.50
    assert nets == {"cus_1": [D("10.00"), D("2.50")], "cus_2": [D("6.00")]}
    assert plan.usage_stats.files == 1


def test_sqlite_declared_timestamp_types_are_read_as_text(usage_db: Callable[..., SqlUsageSource]) -> None:
    """SQLite has no timestamp type: a DATETIME column holds text, checked like a file's."""
    source = usage_db(
        [event("e1", "1", "2026-10-02T10:00:00+02:00"), event("e2", "1", "2026-10-02 10:00:00")],
        types={**TEXT_COLUMNS, "timestamp": "DATETIME"},
    )
    assert problems_of(read(source)) == [(source.label, 1, "timestamp", "2026-10-02 10:00:00", NOT_ISO)]


# -- configuration and secrets --------------------------------------------------------------------


def test_a_malformed_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="not a SQLAlchemy URL") as raised:
        SqlUsageSource("user:hunter2@db/usage")
    assert "hunter2" not in str(raised.value)
    with pytest.raises(ValueError, match="table name is empty"):
        SqlUsageSource("sqlite://", table=" ")
    with pytest.raises(ValueError, match="fetch_rows must be at least 1"):
        SqlUsageSource("sqlite://", fetch_rows=0)


def test_an_unknown_database_kind_is_one_problem() -> None:
    source = SqlUsageSource("nosuchdb://reader:hunter2@db.example/usage")
    assert problems_of(read(source)) == [
        (
            "nosuchdb://reader:***@db.example/usage#usage_events",
            None,
            None,
            None,
            "cannot use the usage database URL: "
            "no engine for 'nosuchdb' URLs (supported: duckdb, sqlite, postgresql, spark)",
        )
    ]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_password_never_appears_in_problems_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    """A PostgreSQL URL to a port nobody listens on: the connection error is one problem, without secrets."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    password, query_password = "s3cr3t-pw/x@y", "other-secret"
    encoded = "s3cr3t-pw%2Fx%40y"
    port = _closed_port()
    url = f"postgresql+psycopg://billing:{encoded}@127.0.0.1:{port}/usage?password={query_password}&sslmode=disable"
    source = SqlUsageSource(url, schema="analytics")
    caplog.set_level(logging.DEBUG)
    usage = read(source)
    assert source.label == f"postgresql://billing:***@127.0.0.1:{port}/usage#analytics.usage_events"
    [problem] = usage.problems
    assert problem.file == source.label
    assert problem.reason.startswith("cannot connect to the usage database: ")
    assert "Connection refused" in problem.reason or "failed" in problem.reason
    shown = "\n".join([problem.model_dump_json(), problem.describe(), repr(source), str(source), caplog.text])
    assert source.label in caplog.text
    for secret in (password, encoded, query_password):
        assert secret not in shown


def test_column_types_are_checked_where_the_database_has_them() -> None:
    """Column types are checked on databases that have them (PostgreSQL); the message for naive times."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    assert sql_usage._type_problem("timestamp", postgresql.TIMESTAMP(timezone=False), dialect) == NAIVE_TIMESTAMPS
    assert sql_usage._type_problem("timestamp", postgresql.TIMESTAMP(timezone=True), dialect) is None
    assert sql_usage._type_problem("timestamp", sa.Text(), dialect) is None
    assert sql_usage._type_problem("timestamp", sa.Date(), dialect) == (
        "column of type DATE; expected timestamp with time zone or ISO 8601 text"
    )
    assert sql_usage._type_problem("quantity", sa.Boolean(), dialect) == (
        "column of type BOOLEAN; expected numbers or decimal strings"
    )
    assert sql_usage._type_problem("event_id", postgresql.UUID(), dialect) is None
    assert sql_usage._type_problem("customer_id", postgresql.JSONB(), dialect) == (
        "column of type JSONB; expected text (integers and UUIDs are read as text)"
    )
