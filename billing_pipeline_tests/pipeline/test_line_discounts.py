"""A discounted plan line on our side, without Qonto: the request body, the ledger's expected lines,
the arithmetic check, review mode's comparison and the credit note's mirrored items."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from billing_pipeline.billing.models import InvoiceLine, PeriodPlan, UsageStats
from billing_pipeline.invoicing.corrections.service import _items as credit_note_items
from billing_pipeline.invoicing.invoices.content import differences, from_plan, from_qonto, planned_content
from billing_pipeline.invoicing.invoices.reconciliation import plan_arithmetic_problems
from billing_pipeline.invoicing.invoices.records import ExpectedLine
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.payloads import invoice_create, invoice_update
from billing_pipeline.qonto import ClientInvoice, ItemDiscountInput
from billing_pipeline_tests.qonto.discounted import NET, PERIOD, TOTAL, VAT, discounted_plan

D = Decimal
IBAN = "FR7616798000010000005663951"
REFERENCE = InvoiceReference.of("acme", PERIOD)


def test_a_discounted_line_sends_an_absolute_discount_and_an_undiscounted_one_none() -> None:
    body = invoice_create(
        discounted_plan(), client_id="c-1", iban=IBAN, issue_date=date(2026, 2, 1), reference=REFERENCE
    ).to_payload()

    discounted, usage = body["items"]
    assert discounted["discount"] == {"type": "absolute", "value": "3.80"}
    assert discounted["unit_price"] == {"value": "19.00", "currency": "EUR"}  # the gross price, not the net
    assert "discount" not in usage
    update = invoice_update(discounted_plan(), iban=IBAN, issue_date=date(2026, 2, 1), reference=REFERENCE)
    assert update.to_payload()["items"][0]["discount"] == {"type": "absolute", "value": "3.80"}


def test_expected_lines_keep_the_discount_and_older_rows_still_load() -> None:
    content = planned_content(discounted_plan())

    stored = json.loads(content.columns()["expected_lines"])
    assert stored[0]["discount"] == "3.80"
    assert "discount" not in stored[1]  # an undiscounted line is stored as it always was
    assert [ExpectedLine.model_validate(line) for line in stored] == list(content.lines)
    older = {"title": "API calls", "quantity": "1", "unit_price": "1.00", "vat_rate": "0.2", "net_amount": "1.00"}
    assert ExpectedLine.model_validate(older).discount is None


def _period(plan_lines: list[InvoiceLine]) -> PeriodPlan:
    invoice = discounted_plan().model_copy(update={"lines": plan_lines})  # model_copy does not re-validate
    # constructed, not validated: the point is to check what the plan's own validators would refuse
    return PeriodPlan.model_construct(
        period=PERIOD,
        currency="EUR",
        timezone="Europe/Paris",
        invoices=[invoice],
        net_total=NET,
        vat_total=VAT,
        total=TOTAL,
        usage_stats=UsageStats(
            files=1, rows_read=1, rows_in_period=1, duplicate_events=0, customers_billed=1, customers_skipped=0
        ),
    )


def test_the_arithmetic_check_nets_the_discount() -> None:
    lines = discounted_plan().lines
    assert plan_arithmetic_problems(_period(lines)) == []

    # a line whose net forgot its discount (built past the model's own check, as a pricing bug would)
    wrong = lines[0].model_copy(update={"net_amount": D("19.00")})  # model_copy checks nothing
    problems = plan_arithmetic_problems(_period([wrong, lines[1]]))
    assert "acme line 1 (Starter plan): net 19.00 != 1 × 19.00 − discount 3.80 = 15.20" in problems


def _qonto_invoice(discount: dict | None, subtotal: str = "15.20") -> ClientInvoice:
    def item(title: str, description: str, quantity: str, unit: str, price: str, net: str, disc: dict | None) -> dict:
        return {
            "title": title,
            "description": description,
            "quantity": quantity,
            "unit": unit,
            "unit_price": {"value": price, "currency": "EUR"},
            "vat_rate": "0.2",
            "discount": disc,
            "subtotal": {"value": net, "currency": "EUR"},
        }

    return ClientInvoice.model_validate(
        {
            "id": "inv-1",
            "status": "draft",
            "client_id": "c-1",
            "header": REFERENCE.header(),
            "currency": "EUR",
            "vat_amount": {"value": str(VAT), "currency": "EUR"},
            "total_amount": {"value": str(TOTAL), "currency": "EUR"},
            "items": [
                item("Starter plan", "Monthly fee", "1", "month", "19.00", subtotal, discount),
                item("API calls", "1 250 000 calls", "1250000", "unit", "0.0004", "500.00", None),
            ],
        }
    )


ABSOLUTE = {"type": "absolute", "value": "3.80", "amount": {"value": "3.80", "currency": "EUR"}}


def test_review_mode_accepts_qontos_discount_equal_to_the_plan() -> None:
    want = from_plan(discounted_plan(), "c-1", REFERENCE)

    assert differences(want, from_qonto(_qonto_invoice(ABSOLUTE)), want_label="plan", have_label="Qonto") == []
    # the amount as a bare decimal reads the same
    bare = {**ABSOLUTE, "amount": "3.80"}
    assert differences(want, from_qonto(_qonto_invoice(bare)), want_label="plan", have_label="Qonto") == []


@pytest.mark.parametrize(
    ("discount", "shown"),
    [
        (None, "line 1 discount: plan 3.80, Qonto none"),
        ({"type": "absolute", "value": "3.00", "amount": {"value": "3.00", "currency": "EUR"}}, "plan 3.80, Qonto 3"),
        ({"type": "percentage", "value": "0.2"}, "plan 3.80, Qonto -1"),  # a percentage without its amount
    ],
    ids=["removed-in-qonto", "edited-in-qonto", "percentage-without-amount"],
)
def test_review_mode_names_a_discount_changed_in_qonto(discount: dict | None, shown: str) -> None:
    want = from_plan(discounted_plan(), "c-1", REFERENCE)

    found = differences(want, from_qonto(_qonto_invoice(discount)), want_label="plan", have_label="Qonto")

    assert found == [f"line 1 discount: {shown.removeprefix('line 1 discount: ')}"]


def test_a_credit_note_mirrors_each_item_discount_as_sent() -> None:
    invoice = _qonto_invoice(ABSOLUTE)
    percentage = invoice.model_copy(
        update={"items": [invoice.items[0].model_validate({**invoice.items[0].model_dump(), "discount": {
            "type": "percentage", "value": "0.2", "amount": {"value": "-3.80", "currency": "EUR"}}})]}
    )  # fmt: skip

    assert [item.discount for item in credit_note_items(invoice)] == [
        ItemDiscountInput(type="absolute", value=D("3.80")),
        None,
    ]
    assert [item.discount for item in credit_note_items(percentage)] == [
        ItemDiscountInput(type="percentage", value=D("0.2"))
    ]
