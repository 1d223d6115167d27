"""The emulator's Factur-X of an invoice with item discounts (issue 22: "passes every layer"), its
printed discount, and our comparison of the XML lines with the discounts we planned."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pypdf
import pytest

from billing_pipeline.emulator.documents import render_credit_note_pdf, render_facturx_pdf
from billing_pipeline.facturx import ExpectedInvoice, ExpectedLine, compare_with_expected, verify_pdf
from billing_pipeline_tests.facturx import samples

D = Decimal
EVERY_LAYER = {"pdf": True, "xml_schema": True, "en16931": True, "profile": True, "france": True, "arithmetic": True}
# 1 × 19.00 − 3.80 = 15.20 (20 %); 2.5 × 480 = 1200.00 − 12.5 % = 1050.00 (10 %); 3 × 150 = 450.00 (0 %, AE)
ITEMS: list[dict[str, Any]] = [
    {
        "title": "Starter plan",
        "quantity": "1",
        "unit": "month",
        "unit_price": {"value": "19.00", "currency": "EUR"},
        "vat_rate": "0.2",
        "discount": {"type": "absolute", "value": "3.80", "amount": {"value": "3.80", "currency": "EUR"}},
    },
    {
        "title": "Consulting",
        "quantity": "2.5",
        "unit": "day",
        "unit_price": {"value": "480", "currency": "EUR"},
        "vat_rate": "0.1",
        "discount": {"type": "percentage", "value": "0.125", "amount": {"value": "150.00", "currency": "EUR"}},
    },
    {
        "title": "Support",
        "quantity": "3",
        "unit": "hour",
        "unit_price": {"value": "150", "currency": "EUR"},
        "vat_rate": "0.2",
        "discount": None,
    },
]
NET = D("15.20") + D("1050.00") + D("450.00")
VAT = D("93.04") + D("105.00")  # (15.20 + 450.00) × 20 %, 1050.00 × 10 %


@pytest.fixture(scope="module")
def discounted_pdf() -> bytes:
    return render_facturx_pdf(samples.company_invoice(items=ITEMS), samples.ORGANIZATION)


def _expected(discounts: list[Decimal | None], nets: list[Decimal] | None = None) -> ExpectedInvoice:
    nets = nets or [D("15.20"), D("1050.00"), D("450.00")]
    lines = [
        ExpectedLine(
            title=item["title"],
            quantity=D(item["quantity"]),
            unit_price=D(item["unit_price"]["value"]),
            vat_rate=D(item["vat_rate"]),
            net_amount=net,
            discount=discount,
        )
        for item, net, discount in zip(ITEMS, nets, discounts, strict=True)
    ]
    return ExpectedInvoice(
        number=samples.company_invoice()["number"],
        currency="EUR",
        net_total=NET,
        vat_total=VAT,
        total=NET + VAT,
        lines=lines,
    )


def test_every_layer_passes_under_the_french_rules(discounted_pdf: bytes) -> None:
    report = verify_pdf(discounted_pdf, rules="france")

    assert report.errors == [] and report.warnings == []
    assert report.checks.model_dump() == EVERY_LAYER
    assert report.totals is not None and (report.totals.net, report.totals.vat) == (NET, VAT)
    assert report.invoice is not None
    assert [(line.net_amount, line.allowances) for line in report.invoice.lines] == [
        (D("15.20"), D("3.80")),
        (D("1050.00"), D("150.00")),
        (D("450.00"), D("0")),
    ]
    bases = {entry.rate: entry.basis for entry in report.invoice.vat_breakdown}
    assert bases == {D("20.00"): D("465.20"), D("10.00"): D("1050.00")}


def test_the_pdf_prints_the_discount_on_its_line(discounted_pdf: bytes) -> None:
    text = " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(discounted_pdf)).pages)

    assert "Remise : -3,80" in text
    assert "Remise : -150,00" in text and "(12,5 %)" in text


def test_a_credit_note_of_the_discounted_invoice_passes_too() -> None:
    invoice = samples.company_invoice(items=ITEMS)
    negated = [
        {**item, "quantity": f"-{item['quantity']}"}
        | ({"discount": {**item["discount"], "amount": {"value": "-1", "currency": "EUR"}}} if item["discount"] else {})
        for item in ITEMS
    ]
    note = {
        "number": "AV-2026-00001",
        "issue_date": "2026-02-10",
        "currency": "EUR",
        "reason": "Usage corrected",
        "client": invoice["client"],
        "items": negated,
        "corrected_invoice": invoice,
    }

    report = verify_pdf(render_credit_note_pdf(note, samples.ORGANIZATION), rules="france")

    assert report.errors == [] and report.checks.model_dump() == EVERY_LAYER
    assert report.invoice is not None and report.invoice.type_code == "381"
    assert [line.allowances for line in report.invoice.lines] == [D("3.80"), D("150.00"), D("0")]
    assert report.totals is not None and report.totals.total == NET + VAT


def test_the_planned_discounts_match_the_line_allowances(discounted_pdf: bytes) -> None:
    invoice = verify_pdf(discounted_pdf).invoice
    assert invoice is not None

    assert compare_with_expected(invoice, _expected([D("3.80"), D("150.00"), None])) == []


@pytest.mark.parametrize(
    ("discounts", "message"),
    [
        ([D("3.00"), D("150.00"), None], "line 1 discount (BT-136): expected 3.00, the XML has 3.80"),
        ([None, D("150.00"), None], "line 1 discount (BT-136): expected 0, the XML has 3.80"),
        ([D("3.80"), D("150.00"), D("1.00")], "line 3 discount (BT-136): expected 1.00, the XML has 0"),
    ],
    ids=["wrong-amount", "not-planned", "missing-in-xml"],
)
def test_a_wrong_discount_is_a_comparison_error(discounted_pdf: bytes, discounts: list, message: str) -> None:
    invoice = verify_pdf(discounted_pdf).invoice
    assert invoice is not None

    findings = compare_with_expected(invoice, _expected(discounts))

    assert [(finding.rule, finding.message) for finding in findings] == [("BP-CMP-07", message)]
