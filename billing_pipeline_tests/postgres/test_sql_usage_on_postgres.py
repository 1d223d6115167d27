"""Usage from a PostgreSQL table (psycopg 3): the sample months price exactly like the files, typed and
text columns follow the file rules, rows are streamed through a server-side cursor, and the password
stays out of every problem and log line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
import sqlalchemy as sa

from billing_pipeline.billing import sql_usage
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.billing.sql_usage import NAIVE_TIMESTAMPS, SqlUsageSource
from billing_pipeline.billing.usage import UsageReader, UsageTotals
from billing_pipeline_tests.billing.conftest import SAMPLE_DIR
from billing_pipeline_tests.billing.test_sql_usage import (
    NOT_ISO,
    Event,
    as_instants,
    assert_same_plan,
    comparable,
    create_usage_table,
    problems_of,
    sample_events,
)
from billing_pipeline_tests.postgres.server import PostgresDatabase, PostgresServer

pytestmark = pytest.mark.postgres

D = Decimal
TYPED = {
    "event_id": "text",
    "customer_id": "text",
    "metric": "text",
    "quantity": "numeric",
    "timestamp": "timestamp with time zone",
}
CUSTOMERS = {"cus_1", "cus_2"}
METRICS = {"api_calls", "storage_gb"}
# the same boundary cases as the SQLite test: Paris midnight, offsets of -12:00 and +14:00, the DST change
BOUNDARY_EVENTS = [
    ("e1", "1", "2026-09-30T21:59:59Z"),
    ("e2", "10", "2026-09-30T22:30:00Z"),
    ("e3", "100", "2026-09-30T10:30:00-12:00"),
    ("e4", "1000", "2026-10-25T00:30:00Z"),
    ("e5", "10000", "2026-10-25T01:30:00Z"),
    ("e6", "100000", "2026-11-01T12:59:59+14:00"),
    ("e7", "1000000", "2026-11-01T13:00:00+14:00"),
    ("e8", "7", "2026-08-31T23:00:00Z"),
]


def event(event_id: object, quantity: object, timestamp: object, **other: object) -> Event:
    return {
        "event_id": event_id,
        "customer_id": other.get("customer_id", "cus_1"),
        "metric": other.get("metric", "api_calls"),
        "quantity": quantity,
        "timestamp": timestamp,
    }


def read(source: SqlUsageSource, period: str = "2026-10", tz: str = "Europe/Paris") -> UsageTotals:
    return source.read(BillingPeriod.parse(period), ZoneInfo(tz), customers=CUSTOMERS, metrics=METRICS)


@pytest.fixture(scope="module")
def sample_db(postgres_server: PostgresServer) -> PostgresDatabase:
    """The sample's events in a timestamptz table with an index on the timestamp, as in production."""
    database = postgres_server.create_database("usage_sample")
    create_usage_table(database.url, as_instants(sample_events()), types=TYPED)
    engine = sa.create_engine(database.url)
    with engine.begin() as connection:
        connection.exec_driver_sql('CREATE INDEX usage_events_timestamp ON usage_events ("timestamp")')
    engine.dispose()
    return database


@pytest.fixture
def usage_table(new_database: Callable[[str], PostgresDatabase]) -> Callable[..., SqlUsageSource]:
    def load(events: Iterable[Event], types: dict[str, str] = TYPED, **source: Any) -> SqlUsageSource:
        database = new_database("usage")
        create_usage_table(database.url, events, types=types, schema=source.get("schema"))
        # streamed by default, so that a problem names the row's position; the engine is compared with it
        return SqlUsageSource(database.url, **{"pushdown": False, **source})

    return load


@pytest.mark.parametrize("period", ["2026-08", "2026-09", "2026-10"])
def test_sample_month_from_postgres_is_priced_like_from_files(sample_db: PostgresDatabase, period: str) -> None:
    from_files = plan_period(period, SAMPLE_DIR)
    from_table = plan_period(period, SAMPLE_DIR, usage_source=SqlUsageSource(sample_db.url))
    assert len(from_files.invoices) >= 28
    assert_same_plan(from_files, from_table)


def test_rows_come_through_a_server_side_cursor(sample_db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the source is between two chunks, its session's last statement is a FETCH of a cursor."""
    psycopg = pytest.importorskip("psycopg")
    sizes: list[int] = []
    statements: list[str] = []
    direct_url = sample_db.url.replace("postgresql+psycopg://", "postgresql://")

    class WatchingReader(UsageReader):
        def read_batches(self, origin: Any, batches: Iterable[pa.RecordBatch]) -> None:
            def watched() -> Iterator[pa.RecordBatch]:
                for batch in batches:
                    sizes.append(batch.num_rows)
                    if len(sizes) == 2:
                        with psycopg.connect(direct_url) as other:
                            statements.extend(
                                row[0]
                                for row in other.execute(
                                    "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                                )
                            )
                    yield batch

            super().read_batches(origin, watched())

    monkeypatch.setattr(sql_usage, "UsageReader", WatchingReader)
    whole = plan_period("2026-10", SAMPLE_DIR)
    chunked = plan_period(
        "2026-10", SAMPLE_DIR, usage_source=SqlUsageSource(sample_db.url, fetch_rows=100, pushdown=False)
    )
    assert chunked.invoices == whole.invoices
    assert len(sizes) > 3 and max(sizes) == 100 and sum(sizes) == chunked.usage_stats.rows_read
    assert len(statements) == 1 and statements[0].upper().startswith("FETCH FORWARD 100 FROM")


@pytest.mark.parametrize("timestamp_type", ["timestamp with time zone", "varchar(40)"])
def test_events_belong_to_the_month_of_their_paris_time(
    usage_table: Callable[..., SqlUsageSource], timestamp_type: str
) -> None:
    """Instants and ISO 8601 text (compared byte-wise, whatever the collation) give the same periods."""
    instants = timestamp_type.startswith("timestamp")
    events = [event(*values) for values in BOUNDARY_EVENTS]
    source = usage_table(as_instants(events) if instants else events, {**TYPED, "timestamp": timestamp_type})
    october = read(source)
    assert october.problems == []
    assert october.quantities == {"cus_1": {"api_calls": D(111110)}}
    assert (october.rows_read, october.rows_in_period) == (7, 5)
    assert read(source, "2026-09").quantities == {"cus_1": {"api_calls": D(8)}}
    assert read(source, "2026-11").quantities == {"cus_1": {"api_calls": D(1000000)}}
    assert read(source, "2026-10", "UTC").quantities == {"cus_1": {"api_calls": D(1111000)}}
    assert read(source, "2026-10", "Pacific/Kiritimati").quantities == {"cus_1": {"api_calls": D(11111)}}


def test_integer_ids_and_floating_quantities(usage_table: Callable[..., SqlUsageSource]) -> None:
    source = usage_table(
        as_instants(
            [
                event(1, 5, "2026-10-02T10:00:00Z"),
                event(2, 1.25, "2026-10-03T10:00:00Z", customer_id="cus_2", metric="storage_gb"),
                event(2, 1.25, "2026-10-03T10:00:00Z", customer_id="cus_2", metric="storage_gb"),
            ]
        ),
        {**TYPED, "event_id": "bigint", "quantity": "double precision"},
    )
    usage = read(source)
    assert (usage.problems, usage.duplicate_events) == ([], 1)
    assert usage.quantities == {"cus_1": {"api_calls": D(5)}, "cus_2": {"storage_gb": D("1.25")}}


def test_bad_rows_are_reported_like_the_files(usage_table: Callable[..., SqlUsageSource]) -> None:
    source = usage_table(
        as_instants(
            [
                event("e1", "NaN", "2026-10-02T10:00:00Z"),
                event("e2", "Infinity", "2026-10-03T10:00:00Z"),
                event("e3", "-2.5", "2026-10-04T10:00:00Z"),
                event("e4", None, "2026-10-05T10:00:00Z"),
                event("e5", "0.0000001", "2026-10-06T10:00:00Z"),
                event("e6", "1", "2026-10-07T10:00:00Z", customer_id="cus_9"),
                event("e7", "1", "2026-10-08T10:00:00Z", metric="sms"),
                event(None, "1", "2026-10-09T10:00:00Z"),
                event("e9", "1", None),
            ]
        )
    )
    assert sorted(problems_of(read(source)), key=lambda problem: problem[1]) == [
        (source.label, 1, "quantity", "NaN", "quantity is NaN"),
        (source.label, 2, "quantity", "Infinity", "quantity is infinite"),
        (source.label, 3, "quantity", "-2.5", "negative quantity"),
        (source.label, 4, "quantity", None, "missing quantity"),
        (source.label, 5, "quantity", "0.0000001", "more than 6 decimals"),
        (source.label, 6, "customer_id", "cus_9", "unknown customer_id not in customers.csv"),
        (source.label, 7, "metric", "sms", "unknown metric not declared in the price list"),
        (source.label, 8, "event_id", None, "missing event_id"),
        (source.label, 9, "timestamp", None, "missing timestamp"),  # NULLs sort last on PostgreSQL
    ]
    # the query docs/billing.md gives to list row N finds the reported rows
    engine = sa.create_engine(source.url)
    with engine.connect() as connection:
        listed = [
            connection.exec_driver_sql(
                "SELECT event_id FROM usage_events WHERE (\"timestamp\" >= '2026-09-29T22:00:00Z' "
                'AND "timestamp" < \'2026-11-01T23:00:00Z\') OR "timestamp" IS NULL '
                f'ORDER BY "timestamp", event_id, customer_id, metric, quantity OFFSET {row - 1} LIMIT 1'
            ).scalar_one()
            for row in (3, 6, 9)
        ]
    engine.dispose()
    assert listed == ["e3", "e6", "e9"]


def test_text_timestamps_follow_the_file_rules(usage_table: Callable[..., SqlUsageSource]) -> None:
    source = usage_table(
        [
            event("e1", "1", "2026-10-02T10:00:00+02:00"),
            event("e2", "1", "2026-10-02 10:00:00"),
            event("e3", "1", "yesterday"),  # not shaped like a date: always fetched and reported
            event("e4", "1", "2026-07-02 10:00:00"),  # another month's row: its own month's problem
        ],
        {**TYPED, "timestamp": "text"},
    )
    usage = read(source)
    assert usage.quantities == {"cus_1": {"api_calls": D(1)}}
    assert problems_of(usage) == [
        (source.label, 1, "timestamp", "2026-10-02 10:00:00", NOT_ISO),
        (source.label, 3, "timestamp", "yesterday", NOT_ISO),
    ]


def test_column_types_that_cannot_hold_the_contract(usage_table: Callable[..., SqlUsageSource]) -> None:
    source = usage_table(
        [event("e1", True, "2026-10-02 10:00:00")],
        {"event_id": "text", "customer_id": "text", "metric": "text", "quantity": "boolean", "timestamp": "timestamp"},
    )
    assert problems_of(read(source)) == [
        (source.label, None, "quantity", None, "column of type BOOLEAN; expected numbers or decimal strings"),
        (source.label, None, "timestamp", None, NAIVE_TIMESTAMPS),
    ]


def test_schema_missing_table_and_missing_column(usage_table: Callable[..., SqlUsageSource]) -> None:
    in_schema = usage_table(as_instants([event("e1", "3", "2026-10-02T10:00:00Z")]), schema="analytics")
    assert in_schema.label.endswith("#analytics.usage_events")
    assert read(in_schema).quantities == {"cus_1": {"api_calls": D(3)}}
    default_schema = SqlUsageSource(in_schema.url)
    assert problems_of(read(default_schema)) == [(default_schema.label, None, None, None, "table not found")]
    without_metric = usage_table([], {name: kind for name, kind in TYPED.items() if name != "metric"})
    assert problems_of(read(without_metric)) == [(without_metric.label, None, "metric", None, "missing column")]


@pytest.mark.parametrize("timestamp_type", ["timestamp with time zone", "text"])
def test_pushdown_adds_up_in_postgres_and_keeps_every_message(
    usage_table: Callable[..., SqlUsageSource], monkeypatch: pytest.MonkeyPatch, timestamp_type: str
) -> None:
    """5,000 plain events aggregated by PostgreSQL through the engine; the groups of the repeats and
    bad rows come through the file reader's checks, each problem located by its event."""
    good = [
        event(
            f"g{i}",
            f"{i % 9}.{i % 100:02d}" if i % 2 else str(i % 13),
            f"2026-10-{1 + i % 30:02d}T{i % 24:02d}:{i % 60:02d}:07+02:00",
            customer_id=f"cus_{1 + i % 2}",
            metric=("api_calls", "storage_gb")[i % 5 == 0],
        )
        for i in range(5_000)
    ]
    odd = [
        event("d1", "5", "2026-10-02T11:00:00Z"),
        event("d1", "5", "2026-10-02T11:00:00Z"),
        event("e1", "-2.5", "2026-10-04T10:00:00Z"),
        event("e2", "NaN", "2026-10-05T10:00:00Z"),
        event("e3", "1", "2026-10-06T10:00:00Z", customer_id="cus_9"),
        event("e4", "1", "2026-10-07T10:00:00Z", metric="sms"),
        event(None, "1", "2026-10-08T10:00:00Z"),
        event("e5", "1", None),
    ]
    rows = [*good[:2_500], *odd, *good[2_500:]]
    instants = timestamp_type.startswith("timestamp")
    source = usage_table(as_instants(rows) if instants else rows, {**TYPED, "timestamp": timestamp_type}, pushdown=True)
    fetched: list[int] = []

    class CountingReader(UsageReader):
        def read_batches(self, origin: Any, batches: Iterable[pa.RecordBatch]) -> None:
            def counted() -> Iterator[pa.RecordBatch]:
                for batch in batches:
                    fetched.append(batch.num_rows)
                    yield batch

            super().read_batches(origin, counted())

    monkeypatch.setattr(sql_usage, "UsageReader", CountingReader)
    pushed = read(source)
    pushed_rows = sum(fetched)
    fetched.clear()
    streamed = read(SqlUsageSource(source.url, pushdown=False))
    # the bad rows taint cus_1's api_calls (2,000 events) and the groups of cus_9 and sms: only those
    # are fetched; cus_2 and storage_gb are settled by the engine
    assert sum(fetched) == len(rows) and pushed_rows == 2_000 + len(odd)
    assert comparable(pushed) == comparable(streamed) and len(pushed.problems) == 6
    assert all(problem.row is None for problem in pushed.problems) and pushed.duplicate_events == 1


def test_the_password_stays_out_of_problems_and_logs(
    sample_db: PostgresDatabase, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = SqlUsageSource(sample_db.url)
    assert read(good, "2026-10", "Europe/Paris").rows_in_period > 0
    wrong_password = "not-the-pw-4711"
    bad = SqlUsageSource(sample_db.url.replace(postgres_server.password, wrong_password))
    [problem] = read(bad).problems
    assert problem.file == f"postgresql://billing:***@127.0.0.1:{postgres_server.port}/{sample_db.name}#usage_events"
    assert problem.reason.startswith("cannot connect to the usage database: ")
    assert "password authentication failed" in problem.reason
    shown = "\n".join([problem.model_dump_json(), repr(good), repr(bad), caplog.text])
    assert good.label in caplog.text
    assert postgres_server.password not in shown and wrong_password not in shown

