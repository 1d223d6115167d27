"""One aggregation, every engine: DuckDB, SQLite and Spark (local) give the file reader's results.

The same events — every aggregation, subscription spans and an uncovered day, exact and differing
duplicates, a tie on the latest instant, a weighted_sum level carried in from an earlier month, a
bad row — are read from CSV with ``read_usage`` and through ``SqlUsageSource`` on each engine;
quantities, spans, uncovered days, repeats and problems must be equal to the last digit. PostgreSQL
runs the same comparison in ``postgres/test_usage_aggregations_on_postgres.py`` (``-m postgres``).
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from billing_pipeline.billing import engine_plan
from billing_pipeline.billing.coverage import DaySpan
from billing_pipeline.billing.sql_usage import SqlUsageSource
from billing_pipeline.billing.usage import UsageTotals
from billing_pipeline_tests.billing.test_usage_aggregations import (
    AGGREGATIONS,
    FIELDS,
    MONTH,
    OCTOBER,
    PARIS,
    ev,
    read_from,
    summary,
    write_usage,
)

D = Decimal
EVENTS = [
    *MONTH,
    *(dict(event) for event in MONTH[:5]),  # exact repeats
    ev("a1", "calls", 4, "2026-10-02T10:00:00Z", customer="c3"),  # same id, another event: reported
    ev("t1", "plan_level", 7, "2026-10-20T10:00:00Z", customer="c3"),
    ev("t2", "plan_level", 9, "2026-10-20T10:00:00Z", customer="c3"),  # tie: the greatest event_id wins
    ev("m1", "calls", "0.000001", "2026-10-31T22:59:59.999999Z", customer="c3"),  # last µs of October (Paris)
    ev("m2", "calls", 50, "2026-10-31T23:00:00Z", customer="c3"),  # November in Paris
    ev("s0", "seats", 3, "2026-08-15T10:00:00Z"),
    ev("s1", "seats", 5, "2026-09-30T21:30:00Z"),  # still September in Paris: the level carried in
    ev("s2", "seats", "8.5", "2026-10-10T22:00:00+02:00"),
    ev("s3", "seats", 2, "2026-10-20T10:00:00Z", customer="c2"),
    ev("c1", "calls", 4, "2026-10-12T10:00:00Z", customer="c2"),
    ev("c2", "calls", 6, "2026-10-25T10:00:00Z", customer="c2"),  # a day no span covers
    ev("n1", "users", 1, "2026-10-26T10:00:00Z", customer="c2"),  # no unique_key: a problem
]
SPANS = {"c2": [DaySpan(date(2026, 10, 1), date(2026, 10, 15)), DaySpan(date(2026, 10, 17), date(2026, 10, 24))]}


def expected(tmp_path: Path) -> tuple:
    return summary(read_from("csv", write_usage(tmp_path / "csv", "csv", [EVENTS]), spans=SPANS))


def read_source(source: SqlUsageSource) -> UsageTotals:
    return source.read(OCTOBER, PARIS, customers=None, metrics=None, aggregations=AGGREGATIONS, spans=SPANS)


def check_like_the_files(usage: UsageTotals, tmp_path: Path, label: str) -> None:
    assert summary(usage) == expected(tmp_path)
    # to the digit: the file reader's values, not only equal ones
    assert usage.quantities["c3"] == {"calls": D("0.000001"), "plan_level": D("9.000000")}
    assert usage.quantities["c1"]["seats"] == D("7.381879") and usage.duplicate_events == 5
    [repeated, unique_key] = sorted(usage.problems, key=lambda problem: str(problem.field))
    assert (repeated.file, repeated.row, repeated.field, repeated.value) == (label, None, "event_id", "a1")
    assert (unique_key.file, unique_key.row, unique_key.value) == (label, None, "event_id n1")


def arrow_events(typed: bool, events: list[dict] = EVENTS) -> pa.Table:
    columns: dict[str, Any] = {name: [event[name] for event in events] for name in FIELDS}
    if typed:
        columns["timestamp"] = pa.array(
            [datetime.fromisoformat(text) for text in columns["timestamp"]], pa.timestamp("us", tz="UTC")
        )
        columns["quantity"] = pa.array([D(text) for text in columns["quantity"]], pa.decimal128(18, 6))
    return pa.table(columns)


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "text"])
def test_duckdb_database_file(tmp_path: Path, typed: bool) -> None:
    path = tmp_path / "usage.duckdb"
    with duckdb.connect(str(path)) as con:
        events = arrow_events(typed)  # noqa: F841 - read by DuckDB's replacement scan
        con.execute("CREATE TABLE usage_events AS SELECT * FROM events")
    source = SqlUsageSource(f"duckdb:///{path}")
    check_like_the_files(read_source(source), tmp_path, f"duckdb:///{path}#usage_events")


def test_ids_sharing_a_hash_are_compared_by_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeated ids are grouped by a hash of the id: ids that share one (here every id of a length)
    go through the exact comparison by id, with the same results."""
    monkeypatch.setattr(engine_plan, "_id_key", lambda event_id, backend: event_id.length())
    test_duckdb_database_file(tmp_path, typed=True)


def test_duckdb_reads_parquet_files_in_place(tmp_path: Path) -> None:
    folder = tmp_path / "usage"
    folder.mkdir()
    table = arrow_events(typed=True)
    pq.write_table(table.slice(0, 20), folder / "part0.parquet")
    pq.write_table(table.slice(20), folder / "part1.parquet")
    source = SqlUsageSource("duckdb://", table=f"{folder}/*.parquet")
    check_like_the_files(read_source(source), tmp_path, f"duckdb://#{folder}/*.parquet")


def test_duckdb_settings_in_the_url_bound_its_memory(tmp_path: Path) -> None:
    """``duckdb://?memory_limit=…&temp_directory=…``: DuckDB's own settings, so that a month larger
    than the memory given spills to disk; a setting DuckDB does not take here is refused by name."""
    import sqlalchemy as sa

    from billing_pipeline.billing.engine_connect import connect

    spill = tmp_path / "spill"
    url = f"duckdb://?memory_limit=64MB&threads=1&temp_directory={spill}"
    con = connect(sa.make_url(url))
    settings = dict(
        con.raw_sql(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('memory_limit', 'threads', 'temp_directory', 'preserve_insertion_order')"
        ).fetchall()
    )
    limit = settings.pop("memory_limit")  # shown in MiB: "61.0 MiB"
    assert float(limit.split()[0]) * 2**20 == pytest.approx(64e6, rel=0.01) and limit.endswith("MiB")
    assert settings == {
        "threads": "1",
        "temp_directory": str(spill),
        "preserve_insertion_order": "false",
    }
    assert spill.is_dir()
    folder = tmp_path / "usage"
    folder.mkdir()
    pq.write_table(arrow_events(typed=True), folder / "part0.parquet")
    usage = read_source(SqlUsageSource(url, table=f"{folder}/*.parquet"))
    check_like_the_files(usage, tmp_path, f"duckdb://#{folder}/*.parquet")
    [refused] = read_source(SqlUsageSource("duckdb://?memory_limt=1GB", table=f"{folder}/*.parquet")).problems
    assert refused.reason.startswith(
        "cannot connect to the usage database: unknown DuckDB setting in the URL: memory_limt (known: "
    )


def test_duckdb_holds_no_step_of_the_month(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB materializes a sub-select read by several steps: the classified rows of the whole
    month (21 GB written to disk at 10^8 events). Every one is inlined, and the GROUP BY of every
    id of the month runs in one query only, before the others."""
    import re

    from billing_pipeline.billing import engine_usage

    sent: list[str] = []
    original = engine_usage.inline_ctes

    def spy(sql: str) -> str:
        sent.append(original(sql))
        return sent[-1]

    monkeypatch.setattr(engine_usage, "inline_ctes", spy)
    test_duckdb_reads_parquet_files_in_place(tmp_path)
    assert len(sent) >= 2
    assert not [sql for sql in sent if re.search(r'"t\d+" AS \(', sql)]  # no CTE left materialized
    assert sum("NOT MATERIALIZED" in sql for sql in sent) >= 2
    assert [at for at, sql in enumerate(sent) if 'COUNT(*) AS "_n"' in sql] == [0]


def test_repeated_ids_found_bucket_by_bucket_like_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A month beyond DuckDB's memory finds its repeated ids bucket by bucket (``engine_repeats``):
    the same repeats, problems and totals as one GROUP BY, and no hashes left on disk."""
    import tempfile

    from billing_pipeline.billing import engine_usage

    found: list[int] = []
    original_by_bucket = engine_usage.repeated_keys_by_bucket

    def spy(con: Any, keys_sql: str, buckets: int) -> pa.Table:
        keys = original_by_bucket(con, keys_sql, buckets)
        found.append(keys.num_rows)
        return keys

    monkeypatch.setattr(engine_usage, "repeated_keys_by_bucket", spy)

    folder = tmp_path / "usage"
    folder.mkdir()
    pq.write_table(arrow_events(typed=True), folder / "part0.parquet")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    original = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        source = SqlUsageSource("duckdb://", table=f"{folder}/*.parquet", id_buckets=3)
        check_like_the_files(read_source(source), tmp_path, f"duckdb://#{folder}/*.parquet")
    finally:
        tempfile.tempdir = original
    assert list(scratch.iterdir()) == []
    assert found == [5]  # the five ids used more than once (a1 thrice)


def test_sqlite_text_table(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    url = str(write_usage(tmp_path / "db", "sqlite", [EVENTS]))
    check_like_the_files(read_source(SqlUsageSource(url)), tmp_path, f"{url}#usage_events")


def test_duckdb_naive_timestamps_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "naive.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE usage_events "
            "(event_id TEXT, customer_id TEXT, metric TEXT, quantity BOOLEAN, timestamp TIMESTAMP)"
        )
    [quantity, moment] = read_source(SqlUsageSource(f"duckdb:///{path}")).problems
    assert (quantity.field, quantity.reason) == (
        "quantity",
        "column of type BOOLEAN; expected numbers or decimal strings",
    )
    assert moment.field == "timestamp" and "without a time zone" in moment.reason
    [missing] = read_source(SqlUsageSource(f"duckdb:///{tmp_path / 'nope.duckdb'}")).problems
    assert missing.reason == "cannot connect to the usage database: DuckDB database file not found"
    assert not (tmp_path / "nope.duckdb").exists()  # a source never creates a database
    [no_table] = read_source(SqlUsageSource(f"duckdb:///{path}", table="other")).problems
    assert no_table.reason == "table not found"


# -- text values: each event its own group, so that the engine settles the certain ones ------------

EDGE_INSTANTS = [
    "2026-10-15T12:00:00Z",
    "2026-10-15T12:00:00.5Z",
    "2026-10-15T12:00:00.123456Z",
    "2026-10-15T12:00:00.1234567Z",  # 7 digits: the file reader keeps 6
    "2026-10-15T12:00:00+14:00",
    "2026-10-15T12:00:00-09:30",
    "2026-10-15T12:00:00+19:00",
    "2026-10-15T24:00:00Z",
    "2026-10-15T12:60:00Z",
    "2026-09-31T23:30:00Z",  # no 31 September (SQLite would roll it over to 1 October)
    "2026-10-15t12:00:00z",
    "2026-10-15 12:00:00Z",
    "2026-10-15T12:00Z",
    "2026-10-15T12:00:00+0200",
    "2026-09-30T23:30:00-01:00",  # 1 October 02:30 in Paris
    "2026-10-31T23:59:59.999999+01:00",  # the last µs of October in Paris
    "2026-10-31T23:30:00-01:00",  # November in Paris
    "2026-10-15T12:00:00",  # no offset
    "2026-10-1xT12:00:00Z",
    "2026-1102T12:00:00Z",  # past "2026-11-02" byte by byte, yet unreadable: reported, not skipped
    "",
]
EDGE_QUANTITIES = ["1.5", "0.000001", "1.0000000", "001", "1.", ".5", "+1", "1e3", "999999999999", "1000000000000",
                   "1.1234567", "-1", "abc", "1,5", ""]  # fmt: skip


def edge_events() -> list[dict]:
    moments = [ev(f"t{at}", "calls", 1, moment, customer=f"t{at}") for at, moment in enumerate(EDGE_INSTANTS)]
    amounts = [
        ev(f"q{at}", "calls", amount, "2026-10-15T12:00:00Z", customer=f"q{at}")
        for at, amount in enumerate(EDGE_QUANTITIES)
    ]
    return moments + amounts


def check_edges_like_the_files(usage: UsageTotals, tmp_path: Path) -> None:
    expected = read_from("csv", write_usage(tmp_path / "edges-csv", "csv", [edge_events()]), spans=SPANS)
    found, wanted = summary(usage), summary(expected)
    assert found[:4] == wanted[:4]
    assert sorted(found[4], key=str) == sorted(wanted[4], key=str)
    assert len(usage.quantities) > 10  # the certain ones, settled by the engine


def test_text_values_on_duckdb_like_the_files(tmp_path: Path) -> None:
    path = tmp_path / "edges.duckdb"
    with duckdb.connect(str(path)) as con:
        events = arrow_events(typed=False, events=edge_events())  # noqa: F841 - read by DuckDB's replacement scan
        con.execute("CREATE TABLE usage_events AS SELECT * FROM events")
    check_edges_like_the_files(read_source(SqlUsageSource(f"duckdb:///{path}")), tmp_path)


@pytest.mark.parametrize(
    ("kind", "amounts"),
    [
        ("BIGINT", ["5", "0", "-3", "999999999999", "1000000000000", "1000000000000000"]),
        ("DECIMAL(18, 6)", ["1.5", "0.000001", "-0.5", "999999999999.999999", "0"]),
        ("DECIMAL(38, 10)", ["1.5", "1.0000000", "1.1234567", "-1", "123456789012345678.5"]),
        ("DOUBLE", ["1.5", "0.1", "1e-7", "-1", "1e20"]),
    ],
)
def test_numeric_quantities_on_duckdb_like_the_files(tmp_path: Path, kind: str, amounts: list[str]) -> None:
    """Typed quantities read without text where that is exact (integers, decimals of scale <= 6)."""
    events = [
        ev(f"q{at}", "calls", amount, "2026-10-15T12:00:00Z", customer=f"q{at}") for at, amount in enumerate(amounts)
    ]
    path = tmp_path / "numbers.duckdb"
    with duckdb.connect(str(path)) as con:
        text = arrow_events(typed=False, events=events)  # noqa: F841 - read by DuckDB's replacement scan
        con.execute(
            "CREATE TABLE usage_events AS SELECT * REPLACE "
            f"(CAST(quantity AS {kind}) AS quantity, CAST(timestamp AS TIMESTAMPTZ) AS timestamp) FROM text"
        )
    usage = read_source(SqlUsageSource(f"duckdb:///{path}"))
    expected = read_from("csv", write_usage(tmp_path / "numbers-csv", "csv", [events]), spans=SPANS)
    assert summary(usage)[:4] == summary(expected)[:4]
    # the values differ in form only (a decimal column shows -1 as -1.0000000000)
    assert sorted((p.field, p.reason) for p in usage.problems) == sorted((p.field, p.reason) for p in expected.problems)


def test_text_values_on_sqlite_like_the_files(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    url = str(write_usage(tmp_path / "db", "sqlite", [edge_events()]))
    check_edges_like_the_files(read_source(SqlUsageSource(url)), tmp_path)


# -- Spark in local mode (one session for the whole test run) --------------------------------------


@pytest.fixture(scope="session")
def spark_url() -> str:
    """``spark://local``, skipped with the reason when pyspark or a Java runtime is missing."""
    pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark: scripts/install_system_deps.sh installs openjdk-17-jre-headless")
    return "spark://local"


@pytest.mark.spark
@pytest.mark.parametrize("typed", [True, False], ids=["typed", "text"])
def test_spark_local_reads_parquet(spark_url: str, tmp_path: Path, typed: bool) -> None:
    folder = tmp_path / "usage"
    folder.mkdir()
    table = arrow_events(typed)
    pq.write_table(table.slice(0, 20), folder / "part0.parquet")
    pq.write_table(table.slice(20), folder / "part1.parquet")
    source = SqlUsageSource(spark_url, table=str(folder))
    check_like_the_files(read_source(source), tmp_path, f"spark://local#{folder}")


@pytest.mark.spark
def test_text_values_on_spark_like_the_files(spark_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "edges"
    folder.mkdir()
    pq.write_table(arrow_events(typed=False, events=edge_events()), folder / "part0.parquet")
    check_edges_like_the_files(read_source(SqlUsageSource(spark_url, table=str(folder))), tmp_path)


# -- files beyond the file reader's memory: the engine on an embedded DuckDB -----------------------


def test_parquet_files_beyond_the_reader_go_through_duckdb_out_of_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows than FILE_READER_ROWS in Parquet: the same totals, repeats and problems as the
    file reader, read by DuckDB capped in memory and spilling to a temporary folder that is gone
    afterwards; CSV files stay with the file reader whatever their size."""
    import tempfile

    from billing_pipeline.billing import usage_out_of_core
    from billing_pipeline.billing.demo import write_demo_data
    from billing_pipeline.billing.usage_files import FileUsageSource

    data = tmp_path / "data"
    write_demo_data(data, customers=30, events=4_000, period="2026-10", seed=5)
    # another file, of other column types (decimal quantities, a unique_key): matched by name
    (data / "usage" / "extra").mkdir()
    pq.write_table(arrow_events(typed=True), data / "usage" / "extra" / "more.parquet")
    source = FileUsageSource(data / "usage", label_root=data)
    files_read = source.read(OCTOBER, PARIS, customers=None, metrics=None, aggregations=AGGREGATIONS, spans=SPANS)
    engines: list[str] = []
    original = usage_out_of_core.read_out_of_core

    def spy(*args: Any, **kwargs: Any) -> UsageTotals:
        engines.append(kwargs["label"])
        return original(*args, **kwargs)

    monkeypatch.setattr(usage_out_of_core, "FILE_READER_ROWS", 4_000)
    monkeypatch.setattr("billing_pipeline.billing.engine_repeats.ROWS_PER_BUCKET", 1_000)  # 5 buckets
    monkeypatch.setattr("billing_pipeline.billing.usage_files.read_out_of_core", spy)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    out_of_core = source.read(OCTOBER, PARIS, customers=None, metrics=None, aggregations=AGGREGATIONS, spans=SPANS)
    assert engines == ["usage"]
    assert summary(out_of_core)[:4] == summary(files_read)[:4]
    assert (out_of_core.files, out_of_core.duplicate_events) == (2, files_read.duplicate_events) == (2, 9)
    assert {(problem.file, problem.value) for problem in out_of_core.problems} == {
        ("duckdb://#usage", "a1"),
        ("duckdb://#usage", "event_id n1"),
    }
    assert list((tmp_path / "tmp").iterdir()) == []  # the spill folder is removed
    (data / "usage" / "late.csv").write_text(",".join(FIELDS) + "\n", encoding="utf-8")
    engines.clear()
    source.read(OCTOBER, PARIS, customers=None, metrics=None, aggregations=AGGREGATIONS, spans=SPANS)
    assert engines == []  # a CSV among them: the file reader


def test_a_month_larger_than_duckdbs_memory_is_read_without_holding_it(tmp_path: Path) -> None:
    """DuckDB given far less memory than the month's rows and (almost) no disk to spill to: every
    step streams (no sub-plan of the month held whole, repeated ids found bucket by bucket), so the
    read succeeds and equals the file reader's."""
    from billing_pipeline.billing.demo import write_demo_data
    from billing_pipeline.billing.price_list import parse_price_list
    from billing_pipeline.billing.usage import read_usage

    data = tmp_path / "data"
    write_demo_data(data, customers=50, events=600_000, period="2026-10", seed=9)
    # as ``plan_period`` reads it: the sample price list declares every aggregation (a query
    # reading the counted rows once per kind made DuckDB 2 hold them whole: 20 GB at 10^8 events)
    prices = parse_price_list(data / "price_list.yaml").price_list
    assert prices is not None
    aggregations = {name: metric.aggregation for name, metric in prices.metrics.items()}
    assert {"latest", "weighted_sum", "unique_count"} <= set(aggregations.values())
    expected = read_usage(data / "usage", OCTOBER, PARIS, aggregations=aggregations)
    spill = tmp_path / "spill"
    url = f"duckdb://?memory_limit=48MB&threads=1&max_temp_directory_size=1MB&temp_directory={spill}"
    source = SqlUsageSource(url, table=f"{data / 'usage'}/*.parquet", id_buckets=16)
    usage = source.read(OCTOBER, PARIS, customers=None, metrics=None, aggregations=aggregations)
    assert usage.problems == []
    assert (usage.quantities, usage.duplicate_events) == (expected.quantities, expected.duplicate_events)
