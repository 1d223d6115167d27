"""The ledger enforces one invoice per (customer, period) and survives concurrent writers."""

from __future__ import annotations

import multiprocessing
import time
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import (
    IllegalTransition,
    InvoiceState,
    Ledger,
    LedgerConflict,
    PlannedContent,
    invoice_records,
)

ACME = InvoiceReference.of("acme", "2026-10")
CONTENT = PlannedContent(digest="d", net_total=Decimal("10.00"), vat_total=Decimal("2.00"), total=Decimal("12.00"))


def _ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def test_intent_then_link_then_second_intent_is_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record_invoice_intent(ACME, "client-1")
    assert ledger.invoice("acme", "2026-10").state == InvoiceState.CREATING
    # a second intent while still creating only refreshes the timestamp (a retry of the same create)
    ledger.record_invoice_intent(ACME, "client-1")
    ledger.record_draft(ACME, invoice_id="inv-1", client_id="client-1", content=CONTENT)
    with pytest.raises(LedgerConflict, match="already exists"):
        ledger.record_invoice_intent(ACME, "client-1")
    assert [r.invoice_id for r in ledger.invoices("2026-10")] == ["inv-1"]


def test_database_refuses_a_second_row_for_the_same_customer_and_period(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record_invoice_intent(ACME, "client-1")
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
    ledger.record_draft(InvoiceReference.of("a", "2026-10"), invoice_id="inv-1", client_id="c-a", content=CONTENT)
    with pytest.raises(sa.exc.IntegrityError):
        ledger.record_draft(InvoiceReference.of("b", "2026-10"), invoice_id="inv-1", client_id="c-b", content=CONTENT)


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
    ledger.record_invoice_intent(ACME, "client-1")
    record = ledger.invoice("acme", "2026-10")
    assert record.intent_at is not None and record.intent_at.tzinfo is not None


def test_offsets_are_kept_as_instants(tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    ledger = _ledger(tmp_path)
    ledger.record_invoice_intent(ACME, "client-1")
    paris_time = datetime(2026, 11, 25, 8, 28, 46, tzinfo=timezone(timedelta(hours=1)))
    ledger.record_finalized(
        ACME, invoice_id="inv-1", client_id="client-1", number="F-1", finalized_at=paris_time, attachment_id=None
    )
    assert ledger.invoice("acme", "2026-10").finalized_at == paris_time  # same instant, whatever the offset


def test_transitions_the_history_does_not_allow_are_refused(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    # a file cannot be stored for an invoice that was never numbered
    with pytest.raises(IllegalTransition, match="not in the ledger"):
        ledger.record_stored(ACME, file_path="x.pdf", sha256="0" * 64)
    ledger.record_invoice_intent(ACME, "client-1")
    with pytest.raises(IllegalTransition, match="creating: it cannot become stored"):
        ledger.record_stored(ACME, file_path="x.pdf", sha256="0" * 64)
    ledger.record_draft(ACME, invoice_id="inv-1", client_id="client-1", content=CONTENT)
    ledger.record_finalized(ACME, invoice_id="inv-1", client_id="client-1", number="F-1", finalized_at=None,
                            attachment_id=None)  # fmt: skip
    # numbered = immutable: it can neither go back to a draft nor be abandoned
    with pytest.raises(IllegalTransition):
        ledger.record_draft(ACME, invoice_id="inv-1", client_id="client-1", content=CONTENT)
    with pytest.raises(IllegalTransition):
        ledger.record_abandoned(ACME, reason="no")
    ledger.record_stored(ACME, file_path="x.pdf", sha256="0" * 64)
    # a finalize seen again later keeps the stored state
    ledger.record_finalized(ACME, invoice_id="inv-1", client_id="client-1", number="F-1", finalized_at=None,
                            attachment_id="att-1")  # fmt: skip
    assert ledger.invoice("acme", "2026-10").state == InvoiceState.STORED


def test_a_canceled_invoice_is_reissued_only_when_asked(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.record_draft(ACME, invoice_id="inv-1", client_id="client-1", content=CONTENT)
    ledger.record_finalized(ACME, invoice_id="inv-1", client_id="client-1", number="F-1", finalized_at=None,
                            attachment_id=None)  # fmt: skip
    ledger.record_canceled(ACME, invoice_id="inv-1", number="F-1", reason="canceled in Qonto")
    with pytest.raises(LedgerConflict, match=r"already exists \(canceled\)"):
        ledger.record_invoice_intent(ACME, "client-1")
    ledger.record_invoice_intent(ACME, "client-1", reissue=True)
    record = ledger.invoice("acme", "2026-10")
    assert record.state == InvoiceState.CREATING and record.invoice_id is None
    assert record.canceled_ids() == ["inv-1"]


def test_intents_are_stamped_with_the_database_clock_not_the_writers(tmp_path: Path, monkeypatch) -> None:
    """Case 9: a writer whose clock is hours ahead (or behind) stamps the same time as any other."""
    import datetime as real_datetime

    from billing_pipeline.invoicing import ledger as ledger_module

    class SkewedClock(real_datetime.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return real_datetime.datetime.now(tz) + real_datetime.timedelta(hours=3)

    ledger = _ledger(tmp_path)
    monkeypatch.setattr(ledger_module, "datetime", SkewedClock, raising=False)
    before = ledger.now()
    ledger.record_invoice_intent(ACME, "client-1")
    after = ledger.now()
    stamped = ledger.invoice("acme", "2026-10").intent_at
    assert before <= stamped <= after
