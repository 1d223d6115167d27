"""The attachment sensor keeps collecting when one invoice never renders, and re-reads stale facts
(issue 11, case 8). A fake Qonto decides which attachments are ready; the clock is a parameter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from billing_pipeline.invoicing.documents.readiness import probe_period
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.progress import pending_documents
from billing_pipeline.ledger import Money
from billing_pipeline.qonto.credit_note_models import CreditNote
from billing_pipeline.qonto.models import Attachment, ClientInvoice

PERIOD = "2026-10"
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


class _FakeQonto:
    def __init__(self, ready: set[str], current_attachment: dict[str, str] | None = None) -> None:
        self.ready = ready  # attachment ids whose Factur-X is rendered
        self.current_attachment = current_attachment or {}
        self.calls: list[str] = []

    async def get_client_invoice(self, invoice_id: str) -> ClientInvoice:
        self.calls.append(f"invoice {invoice_id}")
        return ClientInvoice(
            id=invoice_id,
            status="unpaid",
            number=f"F-{invoice_id}",
            attachment_id=self.current_attachment.get(invoice_id, f"att-{invoice_id}"),
            finalized_at=NOW - timedelta(hours=1),
        )

    async def get_attachment(self, attachment_id: str) -> Attachment:
        self.calls.append(f"attachment {attachment_id}")
        # a rendered Factur-X is newer than any finalization here; a draft PDF is older than all of them
        updated = NOW if attachment_id in self.ready else NOW - timedelta(hours=5)
        return Attachment(id=attachment_id, url="https://files.example/x", updated_at=updated)


def _finalize(ledger: Ledger, customer: str, minutes_ago: float, attachment_id: str | None = None) -> None:
    ledger.record_finalized(
        InvoiceReference.of(customer, PERIOD),
        invoice_id=f"inv-{customer}",
        client_id=f"client-{customer}",
        number=f"F-{customer}",
        finalized_at=NOW - timedelta(minutes=minutes_ago),
        attachment_id=attachment_id or f"att-inv-{customer}",
    )


def test_a_newest_invoice_that_never_renders_does_not_hide_the_ready_ones(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    _finalize(ledger, "old", minutes_ago=5)
    _finalize(ledger, "mid", minutes_ago=4)
    _finalize(ledger, "stuck", minutes_ago=3)  # the newest: never renders
    qonto = _FakeQonto(ready={"att-inv-old", "att-inv-mid"})
    pending = pending_documents(ledger)[PERIOD].invoices
    readiness = asyncio.run(probe_period(qonto, ledger, PERIOD, pending, NOW))  # type: ignore[arg-type]
    assert readiness.ready
    assert readiness.probed <= 4 and len(qonto.calls) <= 8  # bounded, whatever the number waiting
    assert "3 waiting, oldest 5 min" in readiness.describe()


def test_an_invoice_pending_for_long_is_re_read_and_its_new_attachment_found(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    _finalize(ledger, "only", minutes_ago=60, attachment_id="att-stale")  # the stored id is outdated
    qonto = _FakeQonto(ready={"att-new"}, current_attachment={"inv-only": "att-new"})
    pending = pending_documents(ledger)[PERIOD].invoices
    readiness = asyncio.run(probe_period(qonto, ledger, PERIOD, pending, NOW))  # type: ignore[arg-type]
    assert readiness.ready
    assert "invoice inv-only" in qonto.calls
    record = ledger.invoice("only", PERIOD)
    assert record.attachment_id == "att-new" and record.checked_at is not None


def test_the_sensor_stays_bounded_with_many_stale_invoices(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    for n in range(50):
        _finalize(ledger, f"c{n}", minutes_ago=120 + n)
    qonto = _FakeQonto(ready=set())
    # the ledger's page of rows (not all 50) and the counts of the whole set
    pending = pending_documents(ledger, now=NOW)[PERIOD]
    readiness = asyncio.run(probe_period(qonto, ledger, PERIOD, pending, NOW))  # type: ignore[arg-type]
    assert not readiness.ready
    assert len(qonto.calls) <= 8
    assert readiness.describe() == "2026-10 (50 waiting, oldest 2.8 h)"


class _FakeCreditNotes(_FakeQonto):
    async def get_credit_note(self, credit_note_id: str) -> CreditNote:
        self.calls.append(f"credit note {credit_note_id}")
        return CreditNote(
            id=credit_note_id, attachment_id=f"att-{credit_note_id}", finalized_at=NOW - timedelta(hours=1)
        )


def test_a_period_whose_only_waiting_documents_are_credit_notes_is_collected(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.record_correction_intent(
        "BP-2026-10-acme/avoir/F-1", customer_id="acme", period=PERIOD, kind="credit_note",
        corrects_invoice_id="inv-acme", corrects_number="F-1",
    )  # fmt: skip
    ledger.record_correction_issued(
        "BP-2026-10-acme/avoir/F-1", qonto_id="cn-1", number="AV-1", total=Money(amount="-12.00", currency="EUR"),
        attachment_id=None, finalized_at=NOW - timedelta(hours=1),
    )  # fmt: skip
    corrections = pending_documents(ledger)[PERIOD].credit_notes
    waiting = asyncio.run(probe_period(_FakeCreditNotes(ready=set()), ledger, PERIOD, [], NOW, corrections))  # type: ignore[arg-type]
    assert not waiting.ready and waiting.pending == 1
    rendered = _FakeCreditNotes(ready={"att-cn-1"})
    ready = asyncio.run(probe_period(rendered, ledger, PERIOD, [], NOW, corrections))  # type: ignore[arg-type]
    assert ready.ready and "credit note cn-1" in rendered.calls
