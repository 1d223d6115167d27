"""Contract tests for credit notes: the client over real loopback HTTP against the local emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.facturx import ExpectedInvoice, compare_with_expected, verify_pdf
from billing_pipeline.qonto import (
    ClientInvoice,
    CreditNote,
    CreditNoteCreate,
    InvoiceItemInput,
    Money,
    QontoAmbiguousWriteError,
    QontoClient,
    QontoNotFoundError,
    QontoValidationError,
    credit_note_facturx_is_ready,
)

from .test_contract_emulator import FAST, billable_client, config_for, draft_for, expected_totals


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    # sandbox mode, as in the other contract tests: the staging token must travel on every call
    with running_emulator(sandbox=True, render_delay_s=0) as running:
        yield running


def client_for(emulator: RunningEmulator) -> QontoClient:
    return QontoClient(config_for(emulator), retry_policy=FAST)


def line(quantity: str, price: str, title: str = "Seats") -> InvoiceItemInput:
    return InvoiceItemInput(
        title=title,
        quantity=Decimal(quantity),
        unit="unit",
        unit_price=Money(value=Decimal(price), currency="EUR"),
        vat_rate=Decimal("0.2"),
    )


def credit_for(
    invoice: ClientInvoice, *items: InvoiceItemInput, reason: str = "Seats billed twice"
) -> CreditNoteCreate:
    return CreditNoteCreate(
        invoice_id=invoice.id, issue_date=date(2026, 2, 10), reason=reason, items=list(items) or [line("1", "49.90")]
    )


async def finalized(qonto: QontoClient) -> ClientInvoice:
    marker = f"BP-{uuid.uuid4().hex[:10]}"
    iban = (await qonto.get_organization()).main_account().iban
    client_id = await billable_client(qonto, f"{marker}@acme.example")
    draft = await qonto.create_client_invoice(draft_for(client_id, iban, marker))
    return await qonto.finalize_client_invoice(draft.id)


def credit_note_ids(emulator: RunningEmulator, invoice_id: str) -> list[str]:
    return [note["id"] for note in emulator.state()["credit_notes"] if note["invoice_id"] == invoice_id]


async def test_create_get_and_the_381_factur_x(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        invoice = await finalized(qonto)
        note = await qonto.create_credit_note(credit_for(invoice))

        assert isinstance(note, CreditNote)
        assert note.invoice_id == invoice.id
        assert note.number is not None and note.number.startswith("AV-2026-")
        assert note.reason == "Seats billed twice"
        assert note.invoice_issue_date == invoice.issue_date
        # Qonto presents the credit note negatively; credited_amount is the positive amount
        assert note.total_amount == Money(value=Decimal("-59.88"), currency="EUR")
        assert note.total_amount_cents == -5988
        assert note.credited_amount == Decimal("59.88")
        assert [item.quantity for item in note.items] == [Decimal("-1")]
        assert note.finalized_at is not None and note.finalized_at.tzinfo is not None

        again = await qonto.get_credit_note(note.id)
        assert (again.id, again.number, again.total_amount) == (note.id, note.number, note.total_amount)
        assert again.attachment_id is not None  # render delay 0: rendered as soon as it exists
        refreshed = await qonto.get_client_invoice(invoice.id)
        assert refreshed.model_extra is not None and refreshed.model_extra["credit_notes_ids"] == [note.id]
        assert refreshed.status == "unpaid"

        attachment = await qonto.get_attachment(again.attachment_id)
        assert credit_note_facturx_is_ready(again, attachment) is True
        pdf = await qonto.download_attachment(attachment)

    report = verify_pdf(pdf, file_name=attachment.file_name)
    assert report.valid, report.errors
    assert report.invoice is not None
    differences = compare_with_expected(
        report.invoice,
        ExpectedInvoice(
            number=note.number,
            currency="EUR",
            net_total=Decimal("49.90"),
            vat_total=Decimal("9.98"),
            total=note.credited_amount,
            type_code="381",
            preceding_invoice_number=invoice.number,
        ),
    )
    assert differences == []


async def test_full_credit_cancels_the_invoice(emulator: RunningEmulator) -> None:
    _net, _vat, total = expected_totals()
    async with client_for(emulator) as qonto:
        invoice = await finalized(qonto)
        assert invoice.total_amount is not None and invoice.total_amount.value == total
        # the invoice's own lines, as Qonto returned them
        items = [
            InvoiceItemInput(
                title=item.title or "line",
                quantity=item.quantity,
                unit_price=item.unit_price,
                vat_rate=item.vat_rate,
            )
            for item in invoice.items
        ]
        note = await qonto.create_credit_note(credit_for(invoice, *items, reason="Contract terminated"))

        assert note.credited_amount == total
        assert (await qonto.get_client_invoice(invoice.id)).status == "canceled"


async def test_over_crediting_is_a_validation_error_naming_the_items(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        invoice = await finalized(qonto)
        with pytest.raises(QontoValidationError, match="credit_notes_exceed_invoice_total") as refused:
            await qonto.create_credit_note(credit_for(invoice, line("100", "100.00")))
    assert refused.value.status == 422
    assert any("items" in field for field in refused.value.fields)
    assert credit_note_ids(emulator, invoice.id) == []


async def test_unknown_credit_note_is_not_found(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        with pytest.raises(QontoNotFoundError, match="404"):
            await qonto.get_credit_note(str(uuid.uuid4()))


async def test_iter_credit_notes_follows_pages(emulator: RunningEmulator) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with client_for(emulator) as qonto:
        invoice = await finalized(qonto)  # 806.26 EUR: room for 101 credit notes of 1.20 EUR
        created = [(await qonto.create_credit_note(credit_for(invoice, line("1", "1.00")))).id for _ in range(101)]
        first = await qonto.list_credit_notes(updated_at_from=since, per_page=100)
        listed = [note.id async for note in qonto.iter_credit_notes(updated_at_from=since)]

    assert first.meta.total_count is not None and first.meta.total_count >= 101
    assert first.meta.next_page == 2
    assert set(created) <= set(listed)
    assert len(listed) == len(set(listed)) == first.meta.total_count


# --- writes are never retried blindly -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [("server_error", {"status": 502, "commit": True}), ("lost_response", {"mode": "reset"})],
)
async def test_ambiguous_create_is_not_retried(emulator: RunningEmulator, kind: str, params: dict[str, object]) -> None:
    async with client_for(emulator) as qonto:
        invoice = await finalized(qonto)
        emulator.queue_fault(kind, "POST", r"^/v2/credit_notes$", count=1, **params)
        with pytest.raises(QontoAmbiguousWriteError, match="outcome unknown"):
            await qonto.create_credit_note(credit_for(invoice))
    # committed once, never repeated: reconcile by listing before issuing another
    assert len(credit_note_ids(emulator, invoice.id)) == 1


async def test_create_retried_on_429_issues_exactly_one(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        invoice = await finalized(qonto)
        emulator.queue_fault("rate_limited", "POST", r"^/v2/credit_notes$", count=1, retry_after=0)
        note = await qonto.create_credit_note(credit_for(invoice))
    assert credit_note_ids(emulator, invoice.id) == [note.id]
