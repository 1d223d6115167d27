"""Credit notes (CII type 381): the emulator's document, and what the verifier checks on top of an invoice."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from lxml import etree

from billing_pipeline.emulator.documents import InvoiceDataError, build_credit_note_xml, render_credit_note_pdf
from billing_pipeline.facturx import CREDIT_NOTE_TYPE_CODE, ExpectedInvoice, compare_with_expected, verify_pdf
from billing_pipeline.facturx.cli import verify

from . import samples
from .tampering import NS, SETTLEMENT, replace_xml

NS_QDT = {**NS, "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"}
REFERENCE = f"{SETTLEMENT}/ram:InvoiceReferencedDocument"


@pytest.fixture(scope="module")
def credit_note_pdf() -> bytes:
    return render_credit_note_pdf(samples.credit_note(), samples.ORGANIZATION)


def expected(**changes: object) -> ExpectedInvoice:
    values: dict[str, object] = {
        "number": "AV-2026-00001",
        "currency": "EUR",
        "net_total": samples.EXPECTED_NET,
        "vat_total": samples.EXPECTED_VAT,
        "total": samples.EXPECTED_TOTAL,
        "type_code": "381",
        "preceding_invoice_number": "F-2026-00001",
    }
    values.update(changes)
    return ExpectedInvoice.model_validate(values)


def test_credit_note_passes_xsd_schematrons_and_our_checks(credit_note_pdf: bytes) -> None:
    report = verify_pdf(credit_note_pdf, file_name="AV-2026-00001.pdf")

    assert report.valid, report.errors
    assert report.errors == []
    assert report.warnings == []
    invoice = report.invoice
    assert invoice is not None
    assert invoice.type_code == CREDIT_NOTE_TYPE_CODE
    assert invoice.is_credit_note
    assert invoice.number == "AV-2026-00001"
    assert invoice.preceding_invoice_number == "F-2026-00001"
    assert invoice.preceding_invoice_date == date(2026, 2, 1)
    # 381 carries the sign: every amount is positive, equal to the invoice it cancels
    assert report.totals is not None
    assert (report.totals.net, report.totals.vat, report.totals.total, report.totals.due) == (
        samples.EXPECTED_NET,
        samples.EXPECTED_VAT,
        samples.EXPECTED_TOTAL,
        samples.EXPECTED_TOTAL,
    )
    assert all(line.quantity is not None and line.quantity > 0 for line in invoice.lines)
    assert compare_with_expected(invoice, expected()) == []


def test_preceding_invoice_is_bg3_in_the_settlement() -> None:
    root = etree.fromstring(build_credit_note_xml(samples.credit_note(), samples.ORGANIZATION))

    assert root.xpath("//ram:TypeCode/text()", namespaces=NS)[0] == "381"
    assert root.xpath(f"{REFERENCE}/ram:IssuerAssignedID/text()", namespaces=NS) == ["F-2026-00001"]
    date_string = root.xpath(f"{REFERENCE}/ram:FormattedIssueDateTime/qdt:DateTimeString", namespaces=NS_QDT)[0]
    assert (date_string.text, date_string.get("format")) == ("20260201", "102")
    # the money flows back to the buyer: no payment instructions with the seller's IBAN
    assert root.xpath(f"{SETTLEMENT}/ram:SpecifiedTradeSettlementPaymentMeans", namespaces=NS) == []
    notes = root.xpath("//ram:IncludedNote/ram:Content/text()", namespaces=NS)
    assert any("Usage billed twice" in note for note in notes)


def test_every_page_says_emulated_and_names_the_invoice() -> None:
    long = samples.long_invoice()
    note = samples.credit_note(items=[dict(item, quantity=f"-{item['quantity']}") for item in long["items"]])
    pages = [
        " ".join(page.extract_text().split())
        for page in pypdf.PdfReader(io.BytesIO(render_credit_note_pdf(note, samples.ORGANIZATION))).pages
    ]

    assert len(pages) >= 2
    for text in pages:
        assert "Produced by the local Qonto emulator" in text
        assert "not a real invoice" in text
    assert "Avoir AV-2026-00001" in pages[0]
    assert "F-2026-00001 du 01/02/2026" in pages[0]
    assert "Usage billed twice" in pages[0]


def test_credit_note_without_bt25_is_refused(credit_note_pdf: bytes) -> None:
    def drop_reference(root: etree._Element) -> None:
        for element in root.xpath(REFERENCE, namespaces=NS):
            element.getparent().remove(element)

    without_reference = replace_xml(credit_note_pdf, drop_reference)
    report = verify_pdf(without_reference)
    outside_france = verify_pdf(without_reference, rules="en16931")

    assert not report.valid
    assert report.has_rule("BP-FX-08")
    assert report.has_rule("BR-FR-CO-05")
    assert {finding.layer for finding in report.errors} == {"france"}
    assert report.invoice is not None and report.invoice.preceding_invoice_number is None
    # EN 16931 lets a credit note name no invoice: only the French layer (ours and BR-FR-CO-05) needs it
    assert outside_france.valid, outside_france.errors
    assert outside_france.checks.france is None


def test_an_invoice_needs_no_bt25(valid_pdf: bytes) -> None:
    report = verify_pdf(valid_pdf)

    assert report.valid, report.errors
    assert not report.has_rule("BP-FX-08")
    assert report.invoice is not None and not report.invoice.is_credit_note


def test_comparison_names_a_wrong_type_code(credit_note_pdf: bytes, valid_pdf: bytes) -> None:
    note = verify_pdf(credit_note_pdf).invoice
    invoice = verify_pdf(valid_pdf).invoice
    assert note is not None and invoice is not None

    # an invoice where a credit note was expected
    findings = compare_with_expected(invoice, expected(number="F-2026-00001", preceding_invoice_number=None))
    assert [finding.rule for finding in findings] == ["BP-CMP-10"]
    assert "expected 381, the XML has 380" in findings[0].message
    # no expectation, no check
    assert compare_with_expected(note, expected(type_code=None)) == []


def test_comparison_names_a_wrong_preceding_invoice(credit_note_pdf: bytes) -> None:
    note = verify_pdf(credit_note_pdf).invoice
    assert note is not None

    findings = compare_with_expected(note, expected(preceding_invoice_number="F-2026-00009"))
    assert [finding.rule for finding in findings] == ["BP-CMP-11"]
    assert "'F-2026-00009'" in findings[0].message and "'F-2026-00001'" in findings[0].message
    assert compare_with_expected(note, expected(preceding_invoice_number=None)) == []


def test_verify_cli_reports_a_credit_note_as_valid(credit_note_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "AV-2026-00001.pdf"
    path.write_bytes(credit_note_pdf)

    text = CliRunner().invoke(verify, [str(path)])
    as_json = CliRunner().invoke(verify, [str(path), "--format", "json"])

    assert text.exit_code == 0, text.output
    assert "VALID (CII, EN 16931, credit note AV-2026-00001 correcting F-2026-00001, total 1074.50 EUR)" in text.output
    assert as_json.exit_code == 0
    assert '"invoice_number": "AV-2026-00001"' in as_json.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"corrected_invoice": {"issue_date": "2026-02-01"}}, "must name its invoice"),
        ({"number": None}, "needs its number"),
        ({"items": []}, "no items"),
    ],
)
def test_renderer_refuses_incomplete_credit_notes(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvoiceDataError, match=message):
        render_credit_note_pdf(samples.credit_note(**change), samples.ORGANIZATION)


def test_renderer_refuses_a_positive_quantity() -> None:
    # Qonto presents credit notes negatively; a positive quantity means the data is not Qonto's
    items = samples.credit_note()["items"]
    items[0] = dict(items[0], quantity="1250000")
    with pytest.raises(InvoiceDataError, match=r"items\[0\].quantity must be negative"):
        render_credit_note_pdf(samples.credit_note(items=items), samples.ORGANIZATION)


def test_amounts_are_decimal_and_exact(credit_note_pdf: bytes) -> None:
    invoice = verify_pdf(credit_note_pdf).invoice
    assert invoice is not None
    assert isinstance(invoice.grand_total, Decimal)
    assert [line.net_amount for line in invoice.lines] == [
        Decimal("500.00"),
        Decimal("2.84"),
        Decimal("450.00"),
        Decimal("19.99"),
    ]
