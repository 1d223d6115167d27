"""Item discounts end to end over loopback HTTP against the emulator: a discounted plan line goes to
Qonto as an absolute item discount, comes back equal to the plan, is finalized into a Factur-X with a
line allowance that passes every layer, and a credit note mirroring the items credits it in full."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.facturx import ExpectedInvoice, ExpectedLine, compare_with_expected, verify_pdf
from billing_pipeline.invoicing.corrections.service import _items as credit_note_items
from billing_pipeline.invoicing.invoices.content import differences, from_plan, from_qonto, planned_content
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.payloads import invoice_create
from billing_pipeline.qonto import (
    ClientInvoice,
    ClientInvoiceUpdate,
    CreditNoteCreate,
    InvoiceItemInput,
    ItemDiscountInput,
    Money,
    QontoClient,
    QontoValidationError,
)

from .discounted import NET, PERIOD, TOTAL, VAT, discounted_plan
from .test_contract_emulator import FAST, billable_client, config_for

D = Decimal
EVERY_LAYER = {"pdf": True, "xml_schema": True, "en16931": True, "profile": True, "france": True, "arithmetic": True}


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(sandbox=True, render_delay_s=0) as running:
        yield running


def client_for(emulator: RunningEmulator) -> QontoClient:
    return QontoClient(config_for(emulator), retry_policy=FAST)


async def drafted(qonto: QontoClient) -> tuple[ClientInvoice, str, InvoiceReference]:
    marker = uuid.uuid4().hex[:10]
    plan = discounted_plan(f"acme-{marker}", f"{marker}@acme.example")
    client_id = await billable_client(qonto, plan.customer.email)
    iban = (await qonto.get_organization()).main_account().iban
    reference = InvoiceReference.of(plan.customer.customer_id, PERIOD)
    body = invoice_create(plan, client_id=client_id, iban=iban, issue_date=date(2026, 2, 1), reference=reference)
    return await qonto.create_client_invoice(body), client_id, reference


def seats(discount: ItemDiscountInput | None) -> InvoiceItemInput:
    return InvoiceItemInput(
        title="Seats",
        quantity=D("3"),
        unit="unit",
        unit_price=Money(value=D("49.90"), currency="EUR"),
        vat_rate=D("0.2"),
        discount=discount,
    )


async def test_a_discounted_plan_line_round_trips_through_qonto(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        draft, client_id, reference = await drafted(qonto)

    first, second = draft.items
    assert first.discount is not None
    assert (first.discount.type, first.discount.value, first.discount.amount) == ("absolute", D("3.80"), D("3.80"))
    assert first.subtotal is not None and first.subtotal.value == D("15.20")
    assert first.total_vat is not None and first.total_vat.value == D("3.04")
    assert first.total_amount is not None and first.total_amount.value == D("18.24")
    assert second.discount is None
    assert draft.vat_amount is not None and draft.vat_amount.value == VAT
    assert draft.total_amount is not None and draft.total_amount.value == TOTAL
    # review mode's comparison: the draft equals the plan, discount included
    plan = discounted_plan(reference.customer_id)
    assert (
        differences(from_plan(plan, client_id, reference), from_qonto(draft), want_label="plan", have_label="Qonto")
        == []
    )


async def test_a_percentage_item_discount_is_rounded_half_up_by_the_emulator(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        draft, _, _ = await drafted(qonto)
        updated = await qonto.update_client_invoice(
            draft.id, ClientInvoiceUpdate(items=[seats(ItemDiscountInput(type="percentage", value=D("0.15")))])
        )

    [line] = updated.items
    assert line.discount is not None and line.discount.taken_off == D("22.46")  # 149.70 × 0.15 = 22.455
    assert line.subtotal is not None and line.subtotal.value == D("127.24")
    assert updated.total_amount is not None and updated.total_amount.value == D("152.69")


@pytest.mark.parametrize(
    "discount",
    [{"type": "absolute", "value": "150.00"}, {"type": "absolute", "value": "-1"}, {"type": "coupon", "value": "1"}],
    ids=["over-the-line", "negative", "bad-type"],
)
async def test_a_bad_discount_is_refused_by_us_and_by_the_emulator(emulator: RunningEmulator, discount: dict) -> None:
    with pytest.raises(ValidationError):
        seats(ItemDiscountInput.model_validate(discount))
    # sent anyway (our checks bypassed), the emulator refuses it as Qonto would
    item = seats(None).model_copy(
        update={"discount": ItemDiscountInput.model_construct(type=discount["type"], value=D(discount["value"]))}
    )
    async with client_for(emulator) as qonto:
        draft, _, _ = await drafted(qonto)
        update = ClientInvoiceUpdate.model_construct(items=[item])
        with pytest.raises(QontoValidationError) as refused:
            await qonto.update_client_invoice(draft.id, update)
    assert "discount" in str(refused.value)


async def test_factur_x_with_the_discount_passes_every_layer_and_a_mirrored_credit_note_credits_it(
    emulator: RunningEmulator,
) -> None:
    async with client_for(emulator) as qonto:
        draft, _, reference = await drafted(qonto)
        invoice = await qonto.finalize_client_invoice(draft.id)
        ready = await qonto.get_client_invoice(invoice.id)
        assert ready.attachment_id is not None
        pdf = await qonto.download_attachment(await qonto.get_attachment(ready.attachment_id))

        # the correction: the invoice's items, discounts mirrored
        items = credit_note_items(ready)
        assert [item.discount for item in items] == [ItemDiscountInput(type="absolute", value=D("3.80")), None]
        note = await qonto.create_credit_note(
            CreditNoteCreate(invoice_id=invoice.id, issue_date=date(2026, 2, 10), reason="Usage corrected", items=items)
        )
        canceled = (await qonto.get_client_invoice(invoice.id)).status
        note = await qonto.get_credit_note(note.id)
        assert note.attachment_id is not None
        note_pdf = await qonto.download_attachment(await qonto.get_attachment(note.attachment_id))

    report = verify_pdf(pdf, rules="france")
    assert report.errors == [] and report.warnings == []
    assert report.checks.model_dump() == EVERY_LAYER
    assert report.invoice is not None
    assert [line.allowances for line in report.invoice.lines] == [D("3.80"), D("0")]
    planned = planned_content(discounted_plan(reference.customer_id))
    expected = ExpectedInvoice(
        number=invoice.number,
        currency="EUR",
        net_total=NET,
        vat_total=VAT,
        total=TOTAL,
        lines=[
            ExpectedLine(
                title=line.title,
                quantity=line.quantity,
                unit_price=line.unit_price,
                vat_rate=line.vat_rate,
                net_amount=line.net_amount,
                discount=line.discount,
            )
            for line in planned.lines
        ],
    )
    assert compare_with_expected(report.invoice, expected) == []

    assert note.credited_amount == TOTAL
    assert canceled == "canceled"  # credited in full
    note_report = verify_pdf(note_pdf, rules="france")
    assert note_report.errors == [] and note_report.checks.model_dump() == EVERY_LAYER
    assert note_report.invoice is not None and note_report.invoice.type_code == "381"
    assert [line.allowances for line in note_report.invoice.lines] == [D("3.80"), D("0")]
