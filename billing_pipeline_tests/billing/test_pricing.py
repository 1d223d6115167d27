from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from billing_pipeline.billing.charges import LUMP_SUM_UNIT, Component
from billing_pipeline.billing.models import Customer, InvoiceLine
from billing_pipeline.billing.money import exact_product, exact_sum, round_cents
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.price_list import MinimumCommitment, MonthlyFee, PerUnitCharge, Plan
from billing_pipeline.billing.pricing import assemble_invoice, line_draft, price_customer
from billing_pipeline.billing.vat import VatTreatment, vat_treatment
from billing_pipeline_tests.billing.conftest import DE_VAT, customer_row

D = Decimal


def invoice_line(
    component: Component, vat_rate: Decimal, reason: str | None, *, max_unit_price_decimals: int = 2
) -> InvoiceLine | None:
    """The validated line pricing makes of one component (a fee line: no metric), or None."""
    draft = line_draft(component, vat_rate, reason, None, max_unit_price_decimals=max_unit_price_decimals)
    return None if draft is None else draft.line()


OCTOBER = BillingPeriod(2026, 10)


def customer(**overrides: str) -> Customer:
    row = {k: (v or None) for k, v in customer_row(**overrides).items()}
    row["payment_terms_days"] = int(row["payment_terms_days"] or 30)
    return Customer.model_validate(row)


def plan(**parts: object) -> Plan:
    charges = {
        "api_calls": PerUnitCharge(
            model="per_unit", title="API calls", unit="call", vat_rate=D("0.20"), unit_price=D("0.0004")
        )
    }
    return Plan(charges=charges, **parts)


def test_exact_unit_price_stays_as_is() -> None:
    line = invoice_line(Component("SMS", "93 × 0.04", D(93), "SMS", D("0.04")), D("0.20"), None)
    assert line is not None
    assert (line.quantity, line.unit, line.unit_price, line.net_amount) == (D(93), "SMS", D("0.04"), D("3.72"))


def test_too_many_price_decimals_become_one_lump_sum() -> None:
    component = Component("API calls", "1 250 000 × 0.0004 EUR per call", D(1250000), "call", D("0.0004"))
    line = invoice_line(component, D("0.20"), None)
    assert line is not None
    assert (line.quantity, line.unit, line.unit_price, line.net_amount) == (
        D(1),
        LUMP_SUM_UNIT,
        D("500.00"),
        D("500.00"),
    )
    assert line.description == "1 250 000 × 0.0004 EUR per call"
    wider = invoice_line(component, D("0.20"), None, max_unit_price_decimals=4)
    assert wider is not None and (wider.quantity, wider.unit_price) == (D(1250000), D("0.0004"))


def test_quantities_with_more_than_four_decimals_become_a_lump_sum() -> None:
    line = invoice_line(Component("Storage", "x", D("1.23456"), "GB", D("2.00")), D("0.20"), None)
    assert line is not None and (line.quantity, line.unit_price, line.net_amount) == (D(1), D("2.47"), D("2.47"))


def test_zero_lines_are_left_out() -> None:
    assert invoice_line(Component("Free tier", "x", D(100), "call", D(0)), D("0.2"), None) is None
    assert invoice_line(Component("Tiny", "x", D(3), "call", D("0.001")), D("0.2"), None) is None


def test_line_model_refuses_a_net_that_does_not_reconcile() -> None:
    with pytest.raises(ValidationError, match=r"is not 3 × 0.1 rounded to the cent \(0.30\)"):
        InvoiceLine(
            title="X",
            description="",
            quantity=D(3),
            unit="u",
            unit_price=D("0.10"),
            vat_rate=D("0.2"),
            vat_exemption_reason=None,
            net_amount=D("0.31"),
        )
    with pytest.raises(ValidationError, match="at most 40 characters"):
        InvoiceLine(
            title="T" * 41,
            description="",
            quantity=D(1),
            unit="u",
            unit_price=D("1"),
            vat_rate=D("0.2"),
            vat_exemption_reason=None,
            net_amount=D("1.00"),
        )


@pytest.mark.parametrize(
    ("overrides", "treatment", "rate", "reason"),
    [
        ({}, VatTreatment.FRENCH_VAT, D("0.2"), None),
        (
            {"country_code": "DE", "vat_number": DE_VAT, "tax_identification_number": ""},
            VatTreatment.REVERSE_CHARGE,
            D(0),
            "S283",
        ),
        (
            {"country_code": "DE", "vat_number": "", "tax_identification_number": ""},
            VatTreatment.FRENCH_VAT,
            D("0.2"),
            None,
        ),
        (
            {"country_code": "CH", "vat_number": "", "tax_identification_number": ""},
            VatTreatment.OUTSIDE_SCOPE,
            D(0),
            "S259",
        ),
        (
            {
                "kind": "individual",
                "first_name": "Jonas",
                "last_name": "Weber",
                "country_code": "DE",
                "vat_number": "",
                "tax_identification_number": "",
            },
            VatTreatment.FRENCH_VAT,
            D("0.2"),
            None,
        ),
    ],
)
def test_vat_treatment(overrides: dict[str, str], treatment: VatTreatment, rate: Decimal, reason: str | None) -> None:
    buyer = customer(**overrides)
    assert vat_treatment(buyer) is treatment
    invoice = price_customer(buyer, plan(), {"api_calls": D(1000)}, period=OCTOBER)
    assert invoice is not None
    assert [(line.vat_rate, line.vat_exemption_reason) for line in invoice.lines] == [(rate, reason)]
    assert [(row.vat_rate, row.vat_exemption_reason) for row in invoice.vat_breakdown] == [(rate, reason)]


def test_fee_usage_and_true_up_lines() -> None:
    fee = MonthlyFee(title="Pro plan", amount=D("50.00"), vat_rate=D("0.20"))
    commitment = MinimumCommitment(title="Minimum commitment true-up", amount=D("100.00"), vat_rate=D("0.20"))
    invoice = price_customer(
        customer(), plan(monthly_fee=fee, minimum_commitment=commitment), {"api_calls": D(10000)}, period=OCTOBER
    )
    assert invoice is not None
    assert [(line.title, line.net_amount) for line in invoice.lines] == [
        ("Pro plan", D("50.00")),
        ("API calls", D("4.00")),
        ("Minimum commitment true-up", D("46.00")),
    ]
    assert invoice.lines[0].description == "Monthly fee, October 2026"
    assert invoice.lines[2].description == (
        "Minimum commitment of 100.00 EUR for October 2026; fees and usage came to 54.00 EUR"
    )
    assert (invoice.net_total, invoice.vat_total, invoice.total) == (D("100.00"), D("20.00"), D("120.00"))
    above = price_customer(customer(), plan(minimum_commitment=commitment), {"api_calls": D(300000)}, period=OCTOBER)
    assert above is not None and [line.title for line in above.lines] == ["API calls"]


def test_nothing_to_bill_gives_no_invoice() -> None:
    assert price_customer(customer(), plan(), {}, period=OCTOBER) is None
    assert price_customer(customer(), plan(), {"api_calls": D(0), "unpriced_metric": D(5)}, period=OCTOBER) is None


def test_vat_is_computed_per_rate_on_summed_nets() -> None:
    # three lines of 0.05 net: per line VAT at 5.5 % would be 3 × 0.00; on the sum it is 0.01
    lines = [invoice_line(Component(f"L{i}", "", D(1), "u", D("0.05")), D("0.055"), None) for i in range(3)]
    invoice = assemble_invoice(customer(), OCTOBER, [line for line in lines if line])
    assert [(row.base, row.vat_amount) for row in invoice.vat_breakdown] == [(D("0.15"), D("0.01"))]


def test_content_digest_follows_lines_not_contact_details() -> None:
    invoice = price_customer(customer(), plan(), {"api_calls": D(1000)}, period=OCTOBER)
    moved = price_customer(customer(city="Lyon", zip_code="69002"), plan(), {"api_calls": D(1000)}, period=OCTOBER)
    more = price_customer(customer(), plan(), {"api_calls": D(1001)}, period=OCTOBER)
    assert invoice is not None and moved is not None and more is not None
    assert invoice.content_digest() == moved.content_digest()
    assert invoice.content_digest() != more.content_digest()
    assert len(invoice.content_digest()) == 64


line_components = st.builds(
    Component,
    title=st.just("Usage"),
    description=st.just(""),
    quantity=st.decimals(min_value=0, max_value=10**8, places=6, allow_nan=False, allow_infinity=False),
    unit=st.just("unit"),
    unit_price=st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False),
)


@given(
    components=st.lists(line_components, min_size=1, max_size=8),
    rate=st.sampled_from([D("0.2"), D("0.1"), D("0.055"), D("0.021")]),
    decimals=st.integers(min_value=2, max_value=6),
)
def test_lines_reconcile_and_totals_are_sums(components: list[Component], rate: Decimal, decimals: int) -> None:
    lines = [invoice_line(c, rate, None, max_unit_price_decimals=decimals) for c in components]
    kept = [line for line in lines if line is not None]
    for component, line in zip(components, lines, strict=True):
        exact = round_cents(exact_product(component.quantity, component.unit_price))
        if line is None:
            assert exact == 0 or component.quantity == 0 or component.unit_price == 0
            continue
        assert line.net_amount == exact  # the representation never changes the money
        assert line.net_amount == round_cents(exact_product(line.quantity, line.unit_price))
        assert len(line.unit_price.normalize().as_tuple().digits) > 0
    if not kept:
        return
    invoice = assemble_invoice(customer(), OCTOBER, kept)
    assert invoice.net_total == exact_sum([line.net_amount for line in kept])
    assert invoice.vat_total == round_cents(invoice.net_total * rate)
    assert invoice.total == invoice.net_total + invoice.vat_total


def test_the_money_rules_hold_however_a_line_or_an_invoice_is_built_and_run_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lines and invoices are checked when built from Python values, from a dict (the ledger) or
    from JSON; a checked line put into an invoice is not checked again."""
    good = {"title": "X", "description": "", "quantity": "3", "unit": "u", "unit_price": "0.10", "vat_rate": "0.2"}
    for build in (
        lambda values: InvoiceLine(**values),
        InvoiceLine.model_validate,
        lambda values: InvoiceLine.model_validate_json(json.dumps(values)),
    ):
        with pytest.raises(ValidationError, match=r"net 0.31 is not 3 × 0.1 rounded to the cent"):
            build({**good, "net_amount": "0.31"})
    lines = [InvoiceLine.model_validate({**good, "net_amount": "0.30"}) for _ in range(3)]
    invoice = assemble_invoice(customer(), OCTOBER, lines)
    wrong_total = json.loads(invoice.model_dump_json()) | {"total": "1.09"}
    with pytest.raises(ValidationError, match="the total is not net \\+ VAT"):
        type(invoice).model_validate_json(json.dumps(wrong_total))

    checks: list[str] = []
    original = InvoiceLine.checked
    monkeypatch.setattr(InvoiceLine, "checked", lambda self: checks.append(self.title) or original(self))
    line = InvoiceLine.model_validate({**good, "net_amount": "0.30"})
    assemble_invoice(customer(), OCTOBER, [line, line])
    assert checks == ["X"]
