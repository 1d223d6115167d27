"""The ledger enforces one invoice per (customer, period) and survives concurrent writers."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from billing_pipeline.invoicing.ledger import InvoiceState, Ledger, LedgerConflict, invoice_records


def _ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def test_intent_then_link_then_second_intent_is_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record_invoice_intent("acme", "2026-10", "BP-2026-10-acme", "client-1")
    assert ledger.invoice("acme", "2026-10").state == InvoiceState.CREATING
    # a second intent while still creating only refreshes the timestamp (a retry of the same create)
    ledger.record_invoice_intent("acme", "2026-10", "BP-2026-10-acme", "client-1")
    ledger.update_invoice("acme", "2026-10", invoice_id="inv-1", state=InvoiceState.DRAFT)
    with pytest.raises(LedgerConflict, match="already exists"):
        ledger.record_invoice_intent("acme", "2026-10", "BP-2026-10-acme", "client-1")
    assert [r.invoice_id for r in ledger.invoices("2026-10")] == ["inv-1"]


def test_database_refuses_a_second_row_for_the_same_customer_and_period(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record_invoice_intent("acme", "2026-10", "BP-2026-10-acme", "client-1")
    with ledger.engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(
            sa.insert(invoice_records).values(
                customer_id="acme",
                period="2026-10",
                reference="other",
                state="creating",
                updated_at=ledger.invoice("acme", "2026-10").updated_at,
            )
        )


def test_same_invoice_id_cannot_serve_two_customers(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.upsert_invoice("a", "2026-10", "BP-2026-10-a", invoice_id="inv-1", state=InvoiceState.DRAFT)
    with pytest.raises(sa.exc.IntegrityError):
        ledger.upsert_invoice("b", "2026-10", "BP-2026-10-b", invoice_id="inv-1", state=InvoiceState.DRAFT)


def _hold_lock(url: str, started: multiprocessing.synchronize.Event, hold_s: float) -> None:
    ledger = Ledger(url)
    with ledger.period_lock("2026-10"):
        started.set()
        time.sleep(hold_s)


def test_period_lock_excludes_other_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url)
    started = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(target=_hold_lock, args=(url, started, 1.5))
    holder.start()
    assert started.wait(30)
    begin = time.monotonic()
    with ledger.period_lock("2026-10"):
        waited = time.monotonic() - begin
    holder.join(10)
    # we could only enter once the other process released the lock
    assert waited > 0.5
    # another period is not blocked
    with ledger.period_lock("2026-09"):
        pass


def test_timestamps_come_back_timezone_aware(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record_invoice_intent("acme", "2026-10", "BP-2026-10-acme", "client-1")
    record = ledger.invoice("acme", "2026-10")
    assert record.intent_at is not None and record.intent_at.tzinfo is not None


def test_offsets_are_kept_as_instants(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    ledger = _ledger(tmp_path)
    ledger.record_invoice_intent("acme", "2026-10", "BP-2026-10-acme", "client-1")
    paris_time = datetime(2026, 11, 25, 8, 28, 46, tzinfo=timezone(timedelta(hours=1)))
    ledger.update_invoice("acme", "2026-10", finalized_at=paris_time)
    assert ledger.invoice("acme", "2026-10").finalized_at == paris_time  # same instant, whatever the offset
