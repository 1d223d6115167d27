"""The read model's grouped queries read the same on PostgreSQL as on SQLite (issue 19)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from billing_pipeline.invoicing.corrections.records import CorrectionState
from billing_pipeline.invoicing.delivery.records import DeliveryState
from billing_pipeline.invoicing.invoices.records import InvoiceState
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.progress import delivery_work, pending_documents, period_report, progress_by_period
from billing_pipeline_tests.pipeline.progress_ledger import Customer, record
from billing_pipeline_tests.postgres.server import PostgresDatabase

pytestmark = pytest.mark.postgres

IS, DS, CS = InvoiceState, DeliveryState, CorrectionState
CUSTOMERS = [
    Customer("a", IS.FINALIZED, period="2026-09"),
    Customer("b", IS.STORED, DS.SENT, period="2026-09"),
    Customer("c", IS.STORED, period="2026-09"),
    Customer("d", IS.STORED, period="2026-10"),
    Customer("e", IS.STORED, DS.RESEND, period="2026-11"),
    Customer("f", IS.STORED, DS.SUBMITTED, period="2026-11"),
    Customer("g", IS.CANCELED, DS.SENT, credit_note=CS.STORED, period="2026-11"),
    Customer("h", IS.CANCELED, period="2026-11"),
    Customer("i", IS.ABANDONED, period="2026-11"),
    Customer("j", IS.CANCELED, credit_note=CS.ISSUED, period="2026-11"),
]


def _read(ledger: Ledger) -> tuple[object, ...]:
    return (
        progress_by_period(ledger, delivering=True),
        {k: ([r.customer_id for r in v.invoices], [n.reference for n in v.credit_notes])
         for k, v in pending_documents(ledger).items()},
        (lambda w: ([d.invoice_id for d in w.submitted], sorted(w.resend), w.undelivered))(delivery_work(ledger)),
        [r.customer_id for r in period_report(ledger, "2026-11").invoices],
    )  # fmt: skip


def test_the_read_model_is_the_same_on_postgres(
    new_database: Callable[[str], PostgresDatabase], tmp_path: Path
) -> None:
    on_postgres = Ledger(new_database("progress").url, lock_dir=tmp_path / "locks")
    on_sqlite = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    for ledger in (on_postgres, on_sqlite):
        for customer in CUSTOMERS:
            record(ledger, customer)
    try:
        read = _read(on_postgres)
        assert read == _read(on_sqlite)
        progress = read[0]
        assert isinstance(progress, dict) and progress["2026-11"].not_billed == ("h",)
        assert progress["2026-11"].credited == 2 and progress["2026-11"].billed == 3
    finally:
        on_postgres.dispose()
        on_sqlite.dispose()


def test_the_sensors_page_is_the_same_on_postgres(new_database: Callable[[str], PostgresDatabase]) -> None:
    from billing_pipeline_tests.pipeline.test_sensor_scale import check_the_page_against_every_row

    ledger = Ledger(new_database("page").url)
    try:
        check_the_page_against_every_row(ledger)
    finally:
        ledger.dispose()
