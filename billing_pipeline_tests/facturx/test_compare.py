"""compare_with_expected names every field where the XML and what we billed differ."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing_pipeline.facturx import ExpectedInvoice, ExpectedLine, FacturXInvoice, compare_with_expected, verify_pdf
from billing_pipeline_tests.facturx import samples


@pytest.fixture(scope="module")
def invoice(valid_pdf: bytes) -> FacturXInvoice:
    parsed = verify_pdf(valid_pdf).invoice
    assert parsed is not None
    return parsed


def _expected(**changes: object) -> ExpectedInvoice:
    fields: dict[str, object] = {
        "number": "F-2026-00001",
        "currency": "EUR",
        "net_total": samples.EXPECTED_NET,
        "vat_total": samples.EXPECTED_VAT,
        "total": samples.EXPECTED_TOTAL,
        "lines": [
            ExpectedLine(
                title="API calls",
                quantity=Decimal("1250000"),
                unit_price=Decimal("0.0004"),
                vat_rate=Decimal("0.2"),
                net_amount=Decimal("500.00"),
            ),
            ExpectedLine(
                title="Storage",
                quantity=Decimal("123.4567"),
                unit_price=Decimal("0.023"),
                vat_rate=Decimal("0.2"),
                net_amount=Decimal("2.84"),
            ),
            ExpectedLine(
                title="Support (reverse charge)",
                quantity=Decimal("3"),
                unit_price=Decimal("150.00"),
                vat_rate=Decimal("0"),
                net_amount=Decimal("450.00"),
            ),
            ExpectedLine(
                title="Documentation pack",
                quantity=Decimal("1"),
                unit_price=Decimal("19.99"),
                vat_rate=Decimal("0.055"),
                net_amount=Decimal("19.99"),
            ),
        ],
        "period_start": date(2026, 1, 1),
        "period_end": date(2026, 1, 31),
        "buyer_siren": samples.BUYER_SIREN,
    }
    fields.update(changes)
    return ExpectedInvoice.model_validate(fields)


def test_matching_invoice_has_no_difference(invoice: FacturXInvoice) -> None:
    assert compare_with_expected(invoice, _expected()) == []


def test_header_differences_are_each_named(invoice: FacturXInvoice) -> None:
    findings = compare_with_expected(
        invoice,
        _expected(
            number="F-2026-00009", total=Decimal("1074.51"), period_end=date(2026, 1, 30), buyer_siren="912345675"
        ),
    )

    assert [(finding.rule, finding.message) for finding in findings] == [
        ("BP-CMP-01", "invoice number: expected 'F-2026-00009', the XML has 'F-2026-00001'"),
        ("BP-CMP-05", "total with VAT (BT-112): expected 1074.51, the XML has 1074.50"),
        ("BP-CMP-08", "period end (BT-74): expected 2026-01-30, the XML has 2026-01-31"),
        ("BP-CMP-09", "buyer SIREN (BT-47): expected 912345675, the XML has 843123456"),
    ]


def test_line_differences_name_the_line_and_field(invoice: FacturXInvoice) -> None:
    lines = list(_expected().lines or [])
    lines[0] = lines[0].model_copy(update={"quantity": Decimal("1250001")})
    lines[3] = lines[3].model_copy(update={"vat_rate": Decimal("0.2"), "title": "Docs"})
    findings = compare_with_expected(invoice, _expected(lines=lines))

    assert [finding.message for finding in findings] == [
        "line 1 quantity: expected 1250001, the XML has 1250000",
        "line 4 title: expected Docs, the XML has Documentation pack",
        "line 4 VAT rate: expected 20 %, the XML has 5.5 %",
    ]
    assert {finding.rule for finding in findings} == {"BP-CMP-07"}


def test_missing_line_and_other_currency(invoice: FacturXInvoice) -> None:
    findings = compare_with_expected(invoice, _expected(currency="USD", lines=(_expected().lines or [])[:3]))

    assert [(finding.rule, finding.message) for finding in findings] == [
        ("BP-CMP-02", "currency: expected USD, the XML has EUR"),
        ("BP-CMP-06", "number of lines: expected 3, the XML has 4"),
    ]


MENTIONS = {
    "transaction_type": "services",
    "vat_payment_condition": "on_receipts",
    "late_payment_penalties": "Pénalités : trois fois le taux d'intérêt légal.",
    "legal_fixed_compensation": "Indemnité forfaitaire de recouvrement : 40 €.",
    "discount_conditions": "Pas d'escompte.",
}


def _with_mentions(invoice: FacturXInvoice, **changes: object) -> FacturXInvoice:
    fields: dict[str, object] = {
        "notes": {
            "PMD": [MENTIONS["late_payment_penalties"]],
            "PMT": [MENTIONS["legal_fixed_compensation"]],
            "AAB": [MENTIONS["discount_conditions"]],
        },
        "business_process": "S1",
        "vat_breakdown": [e.model_copy(update={"due_date_code": "72"}) for e in invoice.vat_breakdown],
    }
    fields.update(changes)
    return invoice.model_copy(update=fields)


def _mention_rules(invoice: FacturXInvoice, mentions: dict[str, str] = MENTIONS) -> list[str]:
    findings = compare_with_expected(invoice, _expected(mentions=mentions))
    return sorted(f.rule for f in findings if f.rule in ("BP-CMP-12", "BP-CMP-13", "BP-CMP-14"))


def test_the_mandatory_mentions_asked_of_qonto_are_found_where_br_fr_puts_them(invoice: FacturXInvoice) -> None:
    assert _mention_rules(_with_mentions(invoice)) == []


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"notes": {"PMT": [MENTIONS["legal_fixed_compensation"]], "AAB": ["Pas d'escompte."]}}, "BP-CMP-12"),
        ({"notes": {"PMD": ["other penalties"], "PMT": ["x"], "AAB": ["Pas d'escompte."]}}, "BP-CMP-12"),
        ({"business_process": "B1"}, "BP-CMP-13"),
        ({"business_process": None}, "BP-CMP-13"),
    ],
)
def test_a_missing_or_different_mention_is_named(invoice: FacturXInvoice, changes: dict, rule: str) -> None:
    assert rule in _mention_rules(_with_mentions(invoice, **changes))


def test_the_vat_payment_condition_is_checked_in_bt_8(invoice: FacturXInvoice) -> None:
    debits = _with_mentions(invoice)
    assert _mention_rules(debits, {**MENTIONS, "vat_payment_condition": "compensated_for_sales"}) == ["BP-CMP-14"]


def test_an_individuals_invoice_is_not_asked_for_business_mentions(invoice: FacturXInvoice) -> None:
    consumer = {"transaction_type": "services", "vat_payment_condition": "on_receipts"}
    assert _mention_rules(_with_mentions(invoice, notes={}), consumer) == []
