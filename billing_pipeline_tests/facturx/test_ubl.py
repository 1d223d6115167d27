"""The UBL reader: credit notes, dates, notes and the VAT total, along the CEN UBL binding."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from billing_pipeline.emulator.documents import build_credit_note_xml
from billing_pipeline.facturx import verify_xml
from billing_pipeline_tests.facturx import received, samples, tampering
from billing_pipeline_tests.facturx.tampering import NS

CBC = f"{{{NS['cbc']}}}"
CAC = f"{{{NS['cac']}}}"


@pytest.fixture(scope="module")
def credit_note_ubl() -> bytes:
    return received.ubl_from_cii(build_credit_note_xml(samples.credit_note(), samples.ORGANIZATION))


def test_ubl_credit_note_is_read_and_judged_with_the_french_rules(credit_note_ubl: bytes) -> None:
    report = verify_xml(credit_note_ubl)

    assert report.valid, report.errors
    assert report.checks.france is True and report.checks.en16931 is True
    invoice = report.invoice
    assert invoice is not None and invoice.is_credit_note
    assert invoice.preceding_invoice_number == "F-2026-00001"
    assert [line.quantity for line in invoice.lines] == [
        Decimal("1250000"),
        Decimal("123.4567"),
        Decimal("3"),
        Decimal("1"),
    ]
    assert report.totals is not None and report.totals.total == samples.EXPECTED_TOTAL


def test_ubl_credit_note_due_date_is_the_payment_due_date(credit_note_ubl: bytes) -> None:
    def add_payment_means(root: etree._Element) -> None:
        means = etree.Element(f"{CAC}PaymentMeans")
        etree.SubElement(means, f"{CBC}PaymentMeansCode").text = "30"
        etree.SubElement(means, f"{CBC}PaymentDueDate").text = "2026-03-12"
        root.find("cac:TaxTotal", NS).addprevious(means)

    invoice = verify_xml(tampering.edit_xml(credit_note_ubl, add_payment_means)).invoice

    assert invoice is not None and invoice.due_date == date(2026, 3, 12)


def test_ubl_dates_may_carry_a_time_zone_and_must_be_dates(german_ubl: bytes) -> None:
    zoned = verify_xml(
        tampering.edit_xml(german_ubl, lambda root: tampering.set_text(root, "/*/cbc:IssueDate", "2026-03-02+01:00"))
    )
    wrong = verify_xml(
        tampering.edit_xml(german_ubl, lambda root: tampering.set_text(root, "/*/cbc:DueDate", "2026-02-30"))
    )

    assert zoned.invoice is not None and zoned.invoice.issue_date == date(2026, 3, 2)
    assert wrong.invoice is not None and wrong.invoice.due_date is None
    assert "BT-9 '2026-02-30' is not a valid YYYY-MM-DD date" in {finding.message for finding in wrong.errors}
    assert wrong.checks.xml_schema is False


def test_the_vat_total_is_the_one_in_the_document_currency(german_ubl: bytes) -> None:
    def accounting_currency_first(root: etree._Element) -> None:
        tax_total = etree.Element(f"{CAC}TaxTotal")
        amount = etree.SubElement(tax_total, f"{CBC}TaxAmount", currencyID="CHF")
        amount.text = "10.99"
        root.find("cac:TaxTotal", NS).addprevious(tax_total)

    report = verify_xml(tampering.edit_xml(german_ubl, accounting_currency_first))

    assert report.invoice is not None and report.invoice.vat_total == Decimal("11.43")
    assert report.checks.arithmetic is True
