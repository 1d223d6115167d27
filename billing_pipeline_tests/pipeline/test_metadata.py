"""Asset metadata stays bounded whatever the number of customers: top rows as a typed table, the rest in a file."""

from __future__ import annotations

import csv
from datetime import date
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
from billing_pipeline.defs.payments.assets import payment_metadata, receivables_metadata
from billing_pipeline.invoicing.payments.receivables import BUCKETS, CustomerAgeing, OpenItem, ReceivablesReport
from billing_pipeline.invoicing.payments.service import MatchedRow, PartialRow, PaymentReport, UnmatchedRow

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


def test_payment_tables_are_typed_bounded_and_carry_the_currency() -> None:
    report = PaymentReport(
        matched=[
            MatchedRow(transaction_id=f"tx-{i}", invoice_numbers=[f"F-2026-{i:05d}", "F-2026-99999"], amount=f"{i}.50")
            for i in range(1, 121)
        ],
        partial=[PartialRow(invoice_number="F-2026-00007", paid="40.00", remaining="12.00")],
        unmatched=[UnmatchedRow(transaction_id="tx-x", amount="9.99", label="virement", reference=None)],
        seen=122,
    )
    metadata = payment_metadata(report)
    assert metadata["matched_total"].value == f"{sum(Decimal(f'{i}.50') for i in range(1, 121))} EUR"
    assert metadata["unmatched_total"].value == "9.99 EUR"
    matched = metadata["matched"]
    assert [(c.name, c.type) for c in matched.schema.columns] == [
        ("transaction_id", "string"), ("invoice_numbers", "string"), ("amount", "money"),
        ("paid_by_third_party", "string"),
    ]  # fmt: skip
    records = table_records(matched)
    assert len(records) == TOP_ROWS  # bounded: the largest first, the rest in the asset's value
    assert records[0] == {"transaction_id": "tx-120", "invoice_numbers": "F-2026-00120, F-2026-99999",
                          "amount": "120.50 EUR", "paid_by_third_party": None}  # fmt: skip
    assert table_records(metadata["partial"]) == [
        {"invoice_number": "F-2026-00007", "paid": "40.00 EUR", "remaining": "12.00 EUR"}
    ]
    assert [c.type for c in metadata["unmatched"].schema.columns] == ["string", "money", "string", "string", "string"]


def test_receivables_tables_are_typed_bounded_and_carry_the_currency() -> None:
    items = [
        OpenItem(
            customer=f"cus_{i:03d}",
            invoice_id=f"inv-{i}",
            invoice_number=f"F-2026-{i:05d}",
            due_date=date(2026, 10, 31),
            outstanding=Decimal(i),
            paid=Decimal("0.00"),
            days_overdue=i,
            bucket="1-30",
        )
        for i in range(1, 81)
    ]
    buckets = {name: Decimal("0.00") for name in BUCKETS}
    report = ReceivablesReport(
        as_of=date(2026, 12, 1),
        items=items,
        customers=[CustomerAgeing(customer=i.customer, buckets=buckets, total=i.outstanding) for i in items],
        totals={**buckets, "1-30": Decimal("3240.00")},
        total=Decimal("15762.35"),
    )
    metadata = receivables_metadata(report)
    assert metadata["total_outstanding"].value == "15762.35 EUR"
    open_items = metadata["open_items"]
    assert {c.name: c.type for c in open_items.schema.columns} == {
        "customer": "string", "invoice_number": "string", "due_date": "string", "outstanding": "money",
        "paid": "money", "days_overdue": "int", "bucket": "string",
    }  # fmt: skip
    rows = table_records(open_items)
    assert len(rows) == TOP_ROWS and rows[0]["days_overdue"] == 80  # the most overdue first
    assert rows[0]["outstanding"] == "80 EUR" and rows[0]["due_date"] == "2026-10-31"
    assert table_records(metadata["totals"]) == [{**{b: "0.00 EUR" for b in BUCKETS}, "1-30": "3240.00 EUR",
                                                  "total": "15762.35 EUR"}]  # fmt: skip
    assert all(c.type == "money" for c in metadata["by_customer"].schema.columns[1:])
