from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_pipeline.billing.cli import demo_data, preview
from billing_pipeline_tests.billing.conftest import SAMPLE_DIR

LINE_KEYS = {"title", "description", "quantity", "unit", "unit_price", "vat_rate", "net_amount"}


def run(command: object, args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(command, args, env=env)  # type: ignore[arg-type]


def test_preview_json_shape() -> None:
    result = run(preview, ["--period", "2026-10", "--data-dir", str(SAMPLE_DIR), "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"period", "currency", "invoices", "totals"}
    assert (body["period"], body["currency"]) == ("2026-10", "EUR")
    assert set(body["totals"]) == {"net", "vat", "total"}
    for invoice in body["invoices"]:
        # "segments" only for customers billed by subscriptions.csv rows
        assert set(invoice) - {"segments"} == {"customer_id", "lines", "net_total", "vat_total", "total"}
        for line in invoice["lines"]:
            assert set(line) == LINE_KEYS  # "discount" keys only on discounted lines: none in October
            assert all(isinstance(value, str) for value in line.values())
        for key in ("net_total", "vat_total", "total"):
            assert (
                isinstance(invoice[key], str) and invoice[key].count(".") == 1 and len(invoice[key].split(".")[1]) == 2
            )
    totals = sum(int(i["total"].replace(".", "")) for i in body["invoices"])
    assert totals == int(body["totals"]["total"].replace(".", ""))


def test_preview_table_uses_environment_defaults() -> None:
    result = run(preview, ["--period", "2026-09"], env={"BILLING_DATA_DIR": str(SAMPLE_DIR), "BILLING_TIMEZONE": "UTC"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Billing period 2026-09 (September 2026), time zone UTC. Dry run")
    assert "cus_fr_001  Boulangerie Numérique SAS (FR, plan starter)" in result.stdout
    assert "Usage: 10 files," in result.stdout


def test_invalid_input_exits_2_with_errors(data_dir: Path, write_usage: Callable) -> None:
    write_usage("events.csv", "e1,cus_1,api_calls,-4,2026-10-02T10:00:00Z\n")
    result = run(preview, ["--period", "2026-10", "--data-dir", str(data_dir), "--format", "json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "errors": [
            {"file": "usage/events.csv", "row": 2, "field": "quantity", "value": "-4", "reason": "negative quantity"}
        ]
    }
    assert "usage/events.csv line 2, quantity = '-4': negative quantity" in result.stderr
    table = run(preview, ["--period", "2026-10", "--data-dir", str(data_dir)])
    assert table.exit_code == 2 and table.stdout == ""
    assert "Invalid billing input, nothing priced (1 problems):" in table.stderr


def test_bad_period_and_time_zone_are_input_errors(data_dir: Path) -> None:
    result = run(
        preview, ["--period", "2026-13", "--timezone", "Nowhere", "--data-dir", str(data_dir), "--format", "json"]
    )
    assert result.exit_code == 2
    errors = json.loads(result.stdout)["errors"]
    assert [(e["file"], e["field"], e["value"]) for e in errors] == [
        ("command line", "--period", "2026-13"),
        ("command line", "--timezone", "Nowhere"),
    ]


def test_demo_data_is_deterministic_and_valid(tmp_path: Path) -> None:
    for name in ("one", "two"):
        result = run(
            demo_data,
            [
                "--out",
                str(tmp_path / name),
                "--customers",
                "40",
                "--events",
                "3000",
                "--period",
                "2026-10",
                "--seed",
                "7",
            ],
        )
        assert result.exit_code == 0, result.output
    for relative in ("customers.csv", "price_list.yaml", "usage/events-2026-10.parquet"):
        assert (tmp_path / "one" / relative).read_bytes() == (tmp_path / "two" / relative).read_bytes()
    other = run(
        demo_data,
        [
            "--out",
            str(tmp_path / "three"),
            "--customers",
            "40",
            "--events",
            "3000",
            "--period",
            "2026-10",
            "--seed",
            "8",
        ],
    )
    assert other.exit_code == 0
    assert (tmp_path / "three" / "customers.csv").read_bytes() != (tmp_path / "one" / "customers.csv").read_bytes()
    priced = run(preview, ["--period", "2026-10", "--data-dir", str(tmp_path / "one"), "--format", "json"])
    assert priced.exit_code == 0, priced.stderr
    assert len(json.loads(priced.stdout)["invoices"]) == 40


def test_demo_data_as_csv(tmp_path: Path) -> None:
    result = run(
        demo_data,
        ["--out", str(tmp_path), "--customers", "5", "--events", "500", "--period", "2026-08", "--format", "csv"],
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "usage" / "events-2026-08.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == '"event_id","customer_id","metric","quantity","timestamp"'
    assert len(lines) == 501
    priced = run(preview, ["--period", "2026-08", "--data-dir", str(tmp_path)])
    assert priced.exit_code == 0, priced.stderr
    assert "Usage: 1 files, 500 rows read, 500 in the period" in priced.stdout


def test_demo_data_too_large_for_one_file_is_written_in_parts(tmp_path: Path, monkeypatch) -> None:
    """Beyond DEMO_FILE_EVENTS a data set is written a stretch of the month per file: every event
    of the month once (ids unique across parts, repeats within their part), in time order."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from billing_pipeline.billing import demo

    monkeypatch.setattr(demo, "DEMO_FILE_EVENTS", 2_000)
    written = demo.write_demo_data(tmp_path, customers=7, events=5_000, period="2026-10", seed=3)
    assert [path.name for path in written.usage_files] == [f"events-2026-10-part000{n}.parquet" for n in (1, 2, 3)]
    parts = [pq.read_table(path) for path in written.usage_files]
    assert [part.num_rows for part in parts] == [1_666, 1_667, 1_667]
    assert written.duplicates == 3  # one in a thousand, in each part
    ids = [event_id for part in parts for event_id in part["event_id"].to_pylist()]
    assert len(set(ids)) == len(ids) - written.duplicates
    ends = [(pc.min(part["timestamp"]).as_py(), pc.max(part["timestamp"]).as_py()) for part in parts]
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(ends))
    priced = run(preview, ["--period", "2026-10", "--data-dir", str(tmp_path)])
    assert priced.exit_code == 0, priced.stderr
    assert "3 files, 5 000 rows read, 5 000 in the period, 3 duplicates dropped" in priced.stdout


def test_preview_reads_the_configured_usage_table_like_bill(tmp_path: Path) -> None:
    """BILLING_USAGE_URL set: preview prices the table's usage, not the files of --data-dir."""
    import sqlalchemy as sa

    from billing_pipeline_tests.billing.test_sql_usage import sample_events

    url = f"sqlite:///{tmp_path / 'usage.sqlite'}"
    engine = sa.create_engine(url)
    table = sa.Table("usage_events", sa.MetaData(), *(sa.Column(c, sa.Text) for c in LINE_COLUMNS))
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), sample_events())
    engine.dispose()
    args = ["--period", "2026-10", "--data-dir", str(SAMPLE_DIR), "--format", "json"]
    from_files = json.loads(run(preview, args).stdout)
    from_table = run(preview, args, env={"BILLING_USAGE_URL": url})
    assert from_table.exit_code == 0, from_table.output
    assert json.loads(from_table.stdout) == from_files
    empty_period = run(preview, ["--period", "2026-12", *args[2:]], env={"BILLING_USAGE_URL": url})
    assert empty_period.exit_code == 0, empty_period.output
    (warning,) = json.loads(empty_period.stdout)["warnings"]
    assert warning.startswith("no usage event of 2026-12 in sqlite://") and "#usage_events" in warning


@pytest.mark.parametrize("typed", [True, False], ids=["timestamptz", "text"])
def test_preview_reads_a_duckdb_file_like_the_files(tmp_path: Path, typed: bool) -> None:
    """BILLING_USAGE_URL=duckdb:///…: the engine on an embedded DuckDB prices the sample month like
    the files, typed (TIMESTAMPTZ, DECIMAL) or text columns."""
    import duckdb
    import pyarrow as pa

    from billing_pipeline_tests.billing.test_sql_usage import sample_events

    path = tmp_path / "usage.duckdb"
    events = pa.Table.from_pylist(sample_events())  # noqa: F841 - read by DuckDB's replacement scan
    typing = 'CAST(quantity AS DECIMAL(18, 6)) AS quantity, CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp"'
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            f"CREATE TABLE usage_events AS SELECT * {f'REPLACE ({typing})' if typed else ''} FROM events"
        )
    args = ["--period", "2026-10", "--data-dir", str(SAMPLE_DIR), "--format", "json"]
    from_files = json.loads(run(preview, args).stdout)
    from_table = run(preview, args, env={"BILLING_USAGE_URL": f"duckdb:///{path}"})
    assert from_table.exit_code == 0, from_table.output
    assert json.loads(from_table.stdout) == from_files


LINE_COLUMNS = ("event_id", "customer_id", "metric", "quantity", "timestamp")
