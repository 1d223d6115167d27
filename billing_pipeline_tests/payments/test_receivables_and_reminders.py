"""Ageing of open invoices, and reminders each sent once (a test double of Qonto's ``send``, a real
SQLite ledger): intent before the send, a lost answer reported as unknown and never repeated."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.payments.matching import OpenInvoice
from billing_pipeline.invoicing.payments.receivables import (
    ReminderSender,
    bucket,
    parse_stages,
    receivables,
    reminders_due,
)
from billing_pipeline.invoicing.payments.records import (
    CountedTransaction,
    ReminderState,
    TransactionOutcome,
)
from billing_pipeline.ledger import IllegalTransition
from billing_pipeline.qonto.delivery_calls import InvoiceEmail
from billing_pipeline.qonto.errors import QontoAmbiguousWriteError, QontoValidationError

AS_OF = date(2026, 12, 31)


def _invoice(number: str, days_overdue: int, total: str = "100.00", **fields: object) -> OpenInvoice:
    values: dict[str, object] = {"client_name": "Alpha", "client_email": "compta@alpha.example.fr", **fields}
    return OpenInvoice(
        invoice_id=f"id-{number}", number=number, total=Decimal(total),
        due_date=AS_OF - timedelta(days=days_overdue), **values,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


class FakeQonto:
    """Records every send; ``fail`` maps an invoice id to the error its send raises."""

    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.sent: list[tuple[str, InvoiceEmail]] = []
        self.fail = fail or {}

    async def send_client_invoice(self, invoice_id: str, email: InvoiceEmail) -> None:
        self.sent.append((invoice_id, email))
        if invoice_id in self.fail:
            raise self.fail[invoice_id]


def _pass(qonto: FakeQonto, ledger: Ledger, invoices: list[OpenInvoice], stages: tuple[int, ...] = (7, 30)) -> list:
    aged = receivables(invoices, AS_OF, {})
    sender = ReminderSender(qonto, ledger)
    outcomes = sender.settle_interrupted()
    return outcomes + asyncio.run(sender.send(reminders_due(aged.items, invoices, stages, sender.done())))


def test_buckets_and_totals_per_customer() -> None:
    assert [bucket(d) for d in (-3, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        "not_due", "not_due", "1-30", "1-30", "31-60", "31-60", "61-90", "61-90", "over_90"
    ]  # fmt: skip
    invoices = [
        _invoice("F-1", -5),
        _invoice("F-2", 45, counted=Decimal("40.00")),  # partly paid: 60 outstanding
        _invoice("F-3", 120, client_name="Beta"),
        _invoice("F-4", 10, status="paid"),  # paid: not open
        _invoice("F-5", 10, credited=Decimal("100.00")),  # credited in full: not open
    ]
    aged = receivables(invoices, AS_OF, {"id-F-1": "alpha"})
    assert [i.invoice_number for i in aged.items] == ["F-3", "F-2", "F-1"]
    by_customer = {c.customer: c for c in aged.customers}
    assert by_customer["alpha"].buckets["not_due"] == Decimal("100.00")
    assert by_customer["Alpha"].buckets["31-60"] == Decimal("60.00")
    assert by_customer["Beta"].buckets["over_90"] == Decimal("100.00")
    assert aged.totals["not_due"] == Decimal("100.00") and aged.total == Decimal("260.00")


def test_each_reminder_once_and_only_the_latest_stage_when_several_are_due(ledger: Ledger) -> None:
    qonto = FakeQonto()
    invoices = [_invoice("F-1", 8), _invoice("F-2", 40), _invoice("F-3", 3)]
    first = _pass(qonto, ledger, invoices)
    assert sorted((o.invoice_number, o.days_after_due, o.state) for o in first) == [
        ("F-1", 7, "sent"), ("F-2", 30, "sent")
    ]  # fmt: skip
    titles = {invoice_id: email for invoice_id, email in qonto.sent}
    assert "F-1" in titles["id-F-1"].email_title and titles["id-F-1"].send_to == ["compta@alpha.example.fr"]
    states = {(r.invoice_number, r.days_after_due): r.state for r in ledger.reminders()}
    assert states[("F-2", 7)] == ReminderState.SKIPPED  # never sent late after the 30-day one
    assert _pass(qonto, ledger, invoices) == [] and len(qonto.sent) == 2  # a re-run sends nothing
    later = [_invoice("F-1", 31), _invoice("F-2", 41)]
    assert [(o.invoice_number, o.days_after_due) for o in _pass(qonto, ledger, later)] == [("F-1", 30)]


def test_a_lost_answer_is_unknown_and_never_repeated_a_refusal_is_tried_again(ledger: Ledger) -> None:
    qonto = FakeQonto(
        fail={
            "id-F-1": QontoAmbiguousWriteError("POST …/send: 502 after sending"),
            "id-F-2": QontoValidationError("422 the client has no email"),
        }
    )
    invoices = [_invoice("F-1", 8), _invoice("F-2", 8)]
    outcomes = {o.invoice_number: o.state for o in _pass(qonto, ledger, invoices)}
    assert outcomes == {"F-1": "unknown", "F-2": "failed"}
    qonto.fail = {}
    again = _pass(qonto, ledger, invoices)
    assert [(o.invoice_number, o.state) for o in again] == [("F-2", "sent")]
    assert [i for i, _ in qonto.sent].count("id-F-1") == 1


def test_a_run_killed_during_a_send_leaves_an_unknown_reminder(ledger: Ledger) -> None:
    ledger.move_reminder("id-F-1", 7, ReminderState.SENDING, invoice_number="F-1", recipients="a@b.fr")
    qonto = FakeQonto()
    outcomes = _pass(qonto, ledger, [_invoice("F-1", 8)])
    assert [(o.invoice_number, o.state) for o in outcomes] == [("F-1", "unknown")]
    assert qonto.sent == []


def test_ledger_guards(ledger: Ledger) -> None:
    counted = CountedTransaction(
        transaction_id="t1", outcome=TransactionOutcome.COUNTED, amount=Decimal("10.00"), settled_on=AS_OF,
        completes=(("id-F-1", "F-1", AS_OF),),
    )  # fmt: skip
    assert ledger.record_transaction(counted) is True
    assert ledger.record_transaction(counted) is False  # a transfer is recorded once
    other = counted.model_copy(update={"transaction_id": "t2"})
    with pytest.raises(IllegalTransition):
        ledger.record_marked("id-F-2")  # never marked without an intent
    ledger.record_marked("id-F-1")
    with pytest.raises(IllegalTransition):  # an invoice is completed by one transfer only
        ledger.record_transaction(other)
    assert ledger.known_transactions(["t1", "t2"]) == {"t1"}  # the failed write left nothing
    with pytest.raises(IllegalTransition):
        ledger.move_reminder("id-F-1", 7, ReminderState.SENT, invoice_number="F-1")


def test_reminder_days_setting() -> None:
    assert parse_stages("30, 7") == (7, 30) and parse_stages("off") == ()
    with pytest.raises(ValueError, match="days"):
        parse_stages("0,7")


def test_only_the_pipelines_invoices_are_reminded() -> None:
    invoices = [_invoice("F-1", 8), _invoice("F-2", 8)]
    aged = receivables(invoices, AS_OF, {"id-F-1": "alpha"})
    assert len(aged.items) == 2  # a person's own invoice is in the receivables…
    due = reminders_due(aged.items, invoices, (7,), set(), ours={"id-F-1"})
    assert [d.invoice.number for d in due] == ["F-1"]  # …but not reminded by the pipeline
