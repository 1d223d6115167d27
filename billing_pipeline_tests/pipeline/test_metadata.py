"""Asset metadata stays bounded whatever the number of customers: top rows as a typed table, the rest in a file."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import dagster as dg

from billing_pipeline.defs.metadata import (
    TOP_ROWS,
    amount_rank,
    bounded_list,
    full_table_file,
    per_customer_table,
    table,
    table_records,
)

COLUMNS = ["customer", "lines", "total", "note"]


def _rows(count: int) -> list[dict]:
    return [
        {"customer": f"cus_{i:06d}", "lines": i % 7, "total": Decimal(i) / 100, "note": None if i % 3 else "late"}
        for i in range(count)
    ]


def test_a_hundred_thousand_customers_give_a_table_of_the_top_rows_and_a_full_file(tmp_path: Path) -> None:
    rows = _rows(100_000)
    file = full_table_file(tmp_path / "state", "2026-10", "billable_usage", "invoices")
    metadata = per_customer_table("invoices", rows, COLUMNS, file=file, currency="EUR", rank=amount_rank("total"))
    shown = metadata["invoices"]
    assert isinstance(shown, dg.TableMetadataValue)
    assert [(c.name, c.type) for c in shown.schema.columns] == [
        ("customer", "string"),
        ("lines", "int"),
        ("total", "money"),
        ("note", "string"),
    ]
    records = table_records(shown)
    assert len(records) == TOP_ROWS
    assert records[0] == {"customer": "cus_099999", "lines": 99_999 % 7, "total": "999.99 EUR", "note": "late"}
    assert [r["total"] for r in records[:2]] == ["999.99 EUR", "999.98 EUR"]  # largest first
    assert metadata["invoices_rows"] == 100_000
    assert metadata["invoices_file"].value == str(file.resolve())
    with file.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 100_000
    assert written[1] == {"customer": "cus_000001", "lines": "1", "total": "0.01", "note": "", "currency": "EUR"}
    # the event log entry is small: a few KB, not megabytes
    assert len(dg.serialize_value(shown)) < 20_000


def test_the_full_file_is_rewritten_identically_for_the_same_partition(tmp_path: Path) -> None:
    file = full_table_file(tmp_path, "2026-10", "draft_invoices", "invoices")
    per_customer_table("t", _rows(10), COLUMNS, file=file, currency="EUR")
    first = file.read_bytes()
    per_customer_table("t", _rows(10), COLUMNS, file=file, currency="EUR")
    assert file.read_bytes() == first
    assert sorted(p.name for p in file.parent.iterdir()) == [file.name]  # no temporary left behind


def test_small_and_empty_tables_and_lists() -> None:
    empty = table([], ["customer_id", "total"], currency="EUR")
    assert table_records(empty) == [] and [c.name for c in empty.schema.columns] == ["customer_id", "total"]
    small = table([{"customer_id": "a", "total": "12.50"}], ["customer_id", "total"], currency="EUR", amounts=["total"])
    assert table_records(small) == [{"customer_id": "a", "total": "12.50 EUR"}]
    assert bounded_list(range(3)).value == [0, 1, 2]
    assert bounded_list(range(1_000)).value == {"first": list(range(TOP_ROWS)), "total": 1_000, "not_shown": 950}
