"""The emulator's documents: the Factur-X PDF passes every check, the draft carries no XML."""

from __future__ import annotations

import io
from decimal import Decimal

import pikepdf
import pypdf
import pytest
from lxml import etree

from billing_pipeline.emulator.documents import (
    EMULATOR_NOTICE,
    InvoiceDataError,
    build_facturx_xml,
    render_draft_pdf,
    render_facturx_pdf,
)
from billing_pipeline.facturx import Totals, verify_pdf
from billing_pipeline_tests.facturx import samples
from billing_pipeline_tests.facturx.tampering import NS, read_xml


def _page_texts(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def _xpath_texts(root: etree._Element, path: str) -> list[str]:
    return [element.text for element in root.xpath(path, namespaces=NS)]


def test_facturx_pdf_passes_xsd_schematrons_and_our_checks(valid_pdf: bytes) -> None:
    report = verify_pdf(valid_pdf, file_name="sample.pdf")

    assert report.errors == []
    assert report.warnings == []
    assert report.valid
    assert report.profile == "EN 16931"
    assert report.invoice_number == "F-2026-00001"
    assert report.totals == Totals(
        net=samples.EXPECTED_NET, vat=samples.EXPECTED_VAT, total=samples.EXPECTED_TOTAL, due=samples.EXPECTED_TOTAL
    )


@pytest.mark.parametrize(
    "invoice",
    [samples.individual_invoice(), samples.franchise_invoice(), samples.long_invoice()],
    ids=["individual-b2c", "vat-franchise-293B", "multi-page"],
)
def test_other_invoice_shapes_are_valid_too(invoice: dict) -> None:
    report = verify_pdf(render_facturx_pdf(invoice, samples.ORGANIZATION))

    assert report.errors == []
    assert report.warnings == []
    assert report.invoice_number == invoice["number"]


def test_business_terms_in_the_xml(valid_pdf: bytes) -> None:
    invoice = verify_pdf(valid_pdf).invoice
    assert invoice is not None

    assert (invoice.seller_siren, invoice.seller_vat_id) == (samples.SELLER_SIREN, samples.SELLER_VAT)
    assert (invoice.buyer_siren, invoice.buyer_vat_id) == (samples.BUYER_SIREN, samples.BUYER_VAT)
    assert (invoice.iban, invoice.bic, invoice.payment_means_code) == (samples.IBAN, samples.BIC, "58")
    assert (str(invoice.period_start), str(invoice.period_end)) == ("2026-01-01", "2026-01-31")
    assert (str(invoice.issue_date), str(invoice.due_date)) == ("2026-02-01", "2026-03-03")
    assert invoice.purchase_order == "BP-2026-01-acme"
    assert invoice.business_process == "S1"
    assert [(line.quantity, line.unit_price, line.net_amount, line.unit_code) for line in invoice.lines] == [
        (Decimal("1250000"), Decimal("0.0004"), Decimal("500.00"), "C62"),
        (Decimal("123.4567"), Decimal("0.023"), Decimal("2.84"), "E34"),
        (Decimal("3"), Decimal("150"), Decimal("450.00"), "HUR"),
        (Decimal("1"), Decimal("19.99"), Decimal("19.99"), "C62"),
    ]
    breakdown = {(entry.category, entry.rate): (entry.basis, entry.amount) for entry in invoice.vat_breakdown}
    assert breakdown == {
        ("S", Decimal("20.00")): (Decimal("502.84"), Decimal("100.57")),
        ("AE", Decimal("0.00")): (Decimal("450.00"), Decimal("0.00")),
        ("S", Decimal("5.50")): (Decimal("19.99"), Decimal("1.10")),
    }


def test_french_notes_reverse_charge_and_siret_are_written(valid_pdf: bytes) -> None:
    root = read_xml(valid_pdf)

    subjects = _xpath_texts(root, "//ram:IncludedNote/ram:SubjectCode")
    assert sorted(subjects) == ["AAB", "PMD", "PMT"]
    pmt = root.xpath("//ram:IncludedNote[ram:SubjectCode='PMT']/ram:Content", namespaces=NS)[0].text
    assert "40 €" in pmt
    assert EMULATOR_NOTICE in _xpath_texts(root, "//ram:IncludedNote/ram:Content")
    reverse_charge = root.xpath(
        "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax[ram:CategoryCode='AE']", namespaces=NS
    )[0]
    assert reverse_charge.find("ram:ExemptionReason", NS).text == "Autoliquidation"
    assert reverse_charge.find("ram:ExemptionReasonCode", NS).text == "VATEX-EU-AE"
    assert _xpath_texts(root, "//ram:BuyerTradeParty/ram:GlobalID[@schemeID='0009']") == [samples.BUYER_SIRET]
    assert _xpath_texts(root, "//ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID") == [
        "billing@acme.example"
    ]
    assert _xpath_texts(root, "//ram:SellerTradeParty/ram:URIUniversalCommunication/ram:URIID[@schemeID='0225']") == [
        samples.SELLER_SIREN
    ]


def test_franchise_invoice_uses_category_e_with_its_mention() -> None:
    root = etree.fromstring(build_facturx_xml(samples.franchise_invoice(), samples.ORGANIZATION))

    group = root.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NS)
    assert len(group) == 1
    assert group[0].find("ram:CategoryCode", NS).text == "E"
    assert group[0].find("ram:ExemptionReason", NS).text == "TVA non applicable, art. 293 B du CGI"
    assert group[0].find("ram:ExemptionReasonCode", NS).text == "VATEX-FR-FRANCHISE"
    assert group[0].find("ram:BasisAmount", NS).text == "1200.00"


def test_line_nets_round_half_up_not_to_even() -> None:
    item = {"title": "Half cent", "quantity": "3", "unit_price": {"value": "0.335"}, "vat_rate": "0.2"}
    root = etree.fromstring(build_facturx_xml(samples.company_invoice(items=[item]), samples.ORGANIZATION))

    # 3 × 0.335 = 1.005 -> 1.01 (banker's rounding would give 1.00); VAT 0.202 -> 0.20
    assert _xpath_texts(root, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount") == ["1.01"]
    assert _xpath_texts(root, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount") == [
        "0.20"
    ]
    assert _xpath_texts(root, "//ram:GrandTotalAmount") == ["1.21"]


def test_every_page_of_both_pdfs_carries_the_emulator_notice() -> None:
    invoice = samples.long_invoice()
    facturx_pages = _page_texts(render_facturx_pdf(invoice, samples.ORGANIZATION))
    draft = dict(invoice, number=None, status="draft")
    draft_pages = _page_texts(render_draft_pdf(draft, samples.ORGANIZATION))

    assert len(facturx_pages) >= 2
    assert len(draft_pages) >= 2
    for text in facturx_pages + draft_pages:
        assert "Produced by the local Qonto emulator" in text
        assert "not a real invoice" in text
    for text in draft_pages:
        assert "DRAFT" in text


def test_draft_pdf_is_a_plain_pdf_without_xml(draft_pdf: bytes) -> None:
    with pikepdf.open(io.BytesIO(draft_pdf)) as pdf:
        assert len(pdf.attachments) == 0
        assert "/AF" not in pdf.Root

    report = verify_pdf(draft_pdf, file_name="draft.pdf")
    assert not report.valid
    assert [finding.rule for finding in report.errors] == ["BP-FX-01"]
    assert "no factur-x.xml embedded" in report.errors[0].message


def test_characters_outside_the_bundled_font_are_replaced_on_paper_only() -> None:
    invoice = samples.individual_invoice()
    pdf = render_facturx_pdf(invoice, samples.ORGANIZATION)

    assert "Élodie Nguy?n" in _page_texts(pdf)[0]
    assert verify_pdf(pdf).invoice.buyer_name == "Élodie Nguyễn"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"number": None}, "needs its number"),
        ({"items": []}, "no items"),
        (
            {"items": [{"title": "x", "quantity": "abc", "unit_price": {"value": "1"}, "vat_rate": "0.2"}]},
            "items[0].quantity is not a decimal number",
        ),
        (
            {"items": [{"title": "x", "quantity": "1", "unit_price": {"value": "0.0000001"}, "vat_rate": "0.2"}]},
            "items[0].unit_price has more than 6 decimals",
        ),
        (
            {"items": [{"title": "x", "quantity": "1", "unit_price": {"value": "1"}, "vat_rate": "20"}]},
            "items[0].vat_rate must be a fraction",
        ),
        (
            {
                "items": [
                    {
                        "title": "x",
                        "quantity": "1",
                        "unit_price": {"value": "1"},
                        "vat_rate": "0.2",
                        "discount": {"type": "absolute", "value": "1.01"},
                    }
                ]
            },
            "items[0].discount.value must be in cents, above 0 and at most the line's 1.00",
        ),
        ({"issue_date": "01/02/2026"}, "issue_date is not an ISO date"),
    ],
    ids=["no-number", "no-items", "bad-quantity", "price-decimals", "vat-percent", "discount", "bad-date"],
)
def test_bad_invoice_data_is_refused_with_the_field_named(change: dict, message: str) -> None:
    with pytest.raises(InvoiceDataError) as raised:
        render_facturx_pdf(samples.company_invoice(**change), samples.ORGANIZATION)
    assert message in str(raised.value)
