"""Each known defect fails verification with the right rule and a message that explains it."""

from __future__ import annotations

import io
import zlib
from decimal import Decimal

import pikepdf
from fpdf import FPDF
from lxml import etree
from stdnum.iso7064 import mod_97_10

from billing_pipeline.emulator.documents import render_facturx_pdf
from billing_pipeline.facturx import VerificationReport, verify_pdf
from billing_pipeline_tests.facturx import samples, tampering
from billing_pipeline_tests.facturx.tampering import BUYER, LINES, NS, SUM, VAT_GROUPS


def _rules(report: VerificationReport) -> set[str]:
    return {finding.rule for finding in report.errors}


def _message(report: VerificationReport, rule: str) -> str:
    return next(finding.message for finding in report.errors if finding.rule == rule)


def _official_errors(report: VerificationReport) -> set[str]:
    return {rule for rule in _rules(report) if not rule.startswith("BP-")}


def test_plain_pdf_without_xml_is_not_a_facturx() -> None:
    plain = FPDF()
    plain.add_page()
    plain.set_font("helvetica", size=12)
    plain.cell(text="Invoice 42")
    report = verify_pdf(bytes(plain.output()), file_name="plain.pdf")

    assert not report.valid
    assert _rules(report) == {"BP-FX-01"}
    assert "no factur-x.xml embedded (embedded files: none)" in _message(report, "BP-FX-01")
    assert report.totals is None and report.invoice is None


def test_wrong_grand_total_breaks_br_co_15(valid_pdf: bytes) -> None:
    bad = tampering.replace_xml(
        valid_pdf, lambda root: tampering.set_text(root, f"{tampering.SUM}/ram:GrandTotalAmount", "1075.50")
    )
    report = verify_pdf(bad)

    assert "BR-CO-15" in _rules(report)
    assert "Invoice total amount with VAT (BT-112)" in _message(report, "BR-CO-15")
    assert _message(report, "BP-MONEY-08") == "BT-112 is 1075.50 but BT-109 + BT-110 = 1074.50"


def test_line_net_not_quantity_times_price_is_caught_by_our_rule_only(valid_pdf: bytes) -> None:
    def plant(root: etree._Element) -> None:
        first_line = root.xpath(LINES, namespaces=NS)[0]
        net = first_line.xpath(
            ".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", namespaces=NS
        )[0]
        net.text = "499.00"  # 1 250 000 × 0.0004 = 500.00
        standard = root.xpath(f"{VAT_GROUPS}[ram:RateApplicablePercent='20.00']", namespaces=NS)[0]
        standard.find("ram:CalculatedAmount", NS).text = str(tampering.vat_of(Decimal("501.84"), Decimal(20)))
        tampering.recompute_totals(root)

    report = verify_pdf(tampering.replace_xml(valid_pdf, plant))

    assert _rules(report) == {"BP-MONEY-01"}
    assert _official_errors(report) == set()  # the official rules never look at qty × price
    assert _message(report, "BP-MONEY-01") == "line 1: 1250000 × 0.0004 = 500.00 but the line net (BT-131) is 499.00"


def test_vat_off_by_fifty_cents_is_caught_by_our_rule_only(valid_pdf: bytes) -> None:
    def plant(root: etree._Element) -> None:
        standard = root.xpath(f"{VAT_GROUPS}[ram:RateApplicablePercent='20.00']", namespaces=NS)[0]
        standard.find("ram:CalculatedAmount", NS).text = "100.07"  # 502.84 × 20 % = 100.57
        tampering.recompute_totals(root)

    report = verify_pdf(tampering.replace_xml(valid_pdf, plant))

    assert _rules(report) == {"BP-MONEY-06"}  # BR-S-09 tolerates ±1.00
    assert _message(report, "BP-MONEY-06") == (
        "VAT S 20 %: 502.84 × 20.00 % = 100.57 but the VAT amount (BT-117) is 100.07"
    )
    assert report.totals is not None and report.totals.vat == Decimal("101.17")


def test_factur_x_xml_is_chosen_before_the_zugferd_name(valid_pdf: bytes) -> None:
    report = verify_pdf(tampering.add_second_xml(valid_pdf, "zugferd-invoice.xml"))

    assert _rules(report) == {"BP-FX-02"}
    assert report.warnings == []  # factur-x.xml was verified, not the ZUGFeRD 2.0 name (BP-FX-11)


def test_xmp_conformance_level_must_match_bt24(valid_pdf: bytes) -> None:
    bad = tampering.replace_xmp(valid_pdf, "<fx:ConformanceLevel>EN 16931<", "<fx:ConformanceLevel>BASIC<")
    report = verify_pdf(bad)

    assert _rules(report) == {"BP-XMP-08"}
    assert _message(report, "BP-XMP-08") == (
        "fx:ConformanceLevel is 'BASIC' but the XML declares profile 'EN 16931' (BT-24 urn:cen.eu:en16931:2017)"
    )


def test_misnamed_attachment_is_reported_and_still_read(valid_pdf: bytes) -> None:
    report = verify_pdf(tampering.rename_attachment(valid_pdf, "invoice.xml"))

    assert {"BP-FX-03", "BP-XMP-05"} <= _rules(report)
    assert "embedded as 'invoice.xml'" in _message(report, "BP-FX-03")
    assert "fx:DocumentFileName is factur-x.xml" in _message(report, "BP-XMP-05")
    assert report.invoice_number == "F-2026-00001"  # the content is still verified


def test_missing_af_relationship(valid_pdf: bytes) -> None:
    report = verify_pdf(tampering.drop_af_relationship(valid_pdf))

    assert _rules(report) == {"BP-AF-02"}
    assert _message(report, "BP-AF-02") == "'factur-x.xml' has no /AFRelationship"


def test_invalid_buyer_siren() -> None:
    invoice = samples.company_invoice()
    invoice["client"]["tax_identification_number"] = "843123457"  # Luhn check digit should be 6
    invoice["client"]["vat_number"] = None
    report = verify_pdf(render_facturx_pdf(invoice, samples.ORGANIZATION))

    assert _rules(report) == {"BP-ID-02"}  # no official rule checks the SIREN key
    assert _message(report, "BP-ID-02") == "the buyer SIREN (BT-47) '843123457' is not a valid SIREN"


def test_buyer_siren_tampered_next_to_its_siret(valid_pdf: bytes) -> None:
    bad = tampering.replace_xml(
        valid_pdf,
        lambda root: tampering.set_text(root, f"{BUYER}/ram:SpecifiedLegalOrganization/ram:ID", "843123457"),
    )
    report = verify_pdf(bad)

    assert {"BP-ID-02", "BR-FR-09_BT-46"} <= _rules(report)


def test_vat_id_of_another_company(valid_pdf: bytes) -> None:
    bad = tampering.replace_xml(
        valid_pdf,
        lambda root: tampering.set_text(root, f"{BUYER}/ram:SpecifiedTaxRegistration/ram:ID", "FR65912345675"),
    )
    report = verify_pdf(bad)

    assert _rules(report) == {"BP-ID-05"}
    assert "belongs to SIREN 912345675, not to 843123456" in _message(report, "BP-ID-05")


def test_iban_with_a_wrong_rib_key(valid_pdf: bytes) -> None:
    # bank 16958, branch 00001, account 00012345678, RIB key 35 instead of 34; the IBAN check
    # digits are recomputed, so only the French key is wrong
    bban = "16958" + "00001" + "00012345678" + "35"
    iban = f"FR{mod_97_10.calc_check_digits(bban + 'FR')}{bban}"
    bad = tampering.replace_xml(
        valid_pdf, lambda root: tampering.set_text(root, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID", iban)
    )
    report = verify_pdf(bad)

    assert _rules(report) == {"BP-ID-06"}
    assert "has a wrong RIB key 35 (expected 34)" in _message(report, "BP-ID-06")


def test_two_xml_files(valid_pdf: bytes) -> None:
    report = verify_pdf(tampering.add_second_xml(valid_pdf))

    assert "BP-FX-02" in _rules(report)
    assert _message(report, "BP-FX-02") == (
        "2 XML files are embedded ('factur-x.xml', 'invoice-copy.xml'); expected only factur-x.xml"
    )


def test_elements_out_of_order_fail_the_xsd(valid_pdf: bytes) -> None:
    def swap(root: etree._Element) -> None:
        summation = root.xpath(SUM, namespaces=NS)[0]
        grand = summation.find("ram:GrandTotalAmount", NS)
        summation.remove(grand)
        summation.insert(0, grand)

    report = verify_pdf(tampering.replace_xml(valid_pdf, swap))

    assert "BP-XSD-01" in _rules(report)
    assert "GrandTotalAmount" in _message(report, "BP-XSD-01")


def test_unreadable_dates_and_amounts_are_findings_not_crashes(valid_pdf: bytes) -> None:
    def break_values(root: etree._Element) -> None:
        tampering.set_text(root, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString", "20261345")
        tampering.set_text(root, f"{SUM}/ram:GrandTotalAmount", "1 074,50")

    report = verify_pdf(tampering.replace_xml(valid_pdf, break_values))

    messages = [finding.message for finding in report.errors if finding.rule == "BP-FX-07"]
    assert "BT-2 '20261345' is not a valid YYYYMMDD date" in messages
    assert "BT-112 '1 074,50' is not a decimal number" in messages
    assert report.invoice is not None and report.invoice.issue_date is None


def test_xml_with_a_doctype_is_refused(valid_pdf: bytes) -> None:
    def add_doctype(pdf_bytes: bytes) -> bytes:
        root = tampering.read_xml(pdf_bytes)
        body = etree.tostring(root).decode()
        hostile = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + body
        with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
            pikepdf.NameTree(pdf.Root.Names.EmbeddedFiles)["factur-x.xml"].EF.F.write(hostile.encode())
            out = io.BytesIO()
            pdf.save(out)
        return out.getvalue()

    report = verify_pdf(add_doctype(valid_pdf))

    assert _rules(report) >= {"BP-FX-04"}
    assert "DOCTYPE" in _message(report, "BP-FX-04")


def test_garbage_is_unreadable() -> None:
    report = verify_pdf(b"%PDF-1.7 this is not really a PDF", file_name="junk.pdf")

    assert report.unreadable
    assert _rules(report) == {"BP-PDF-01"}
    assert _message(report, "BP-PDF-01").startswith("not a readable PDF")


def test_code_list_rules_still_fire_with_preloaded_code_lists(valid_pdf: bytes) -> None:
    def break_codes(root: etree._Element) -> None:
        quantity = root.xpath(f"{LINES}//ram:BilledQuantity", namespaces=NS)[0]
        quantity.set("unitCode", "HOURS")
        tampering.set_text(root, "//ram:InvoiceCurrencyCode", "XXY")

    report = verify_pdf(tampering.replace_xml(valid_pdf, break_codes))

    # unit and currency code lists, the French foreign-currency rule, and an id-less Factur-X report
    # on the TaxTotalAmount whose currency no longer matches BT-5 (so BT-110 is missing: BR-CO-15)
    assert _rules(report) == {"FX-SCH-A-000613", "FX-SCH-A-000595", "BR-FR-CO-12_BT-5", "BP-SCH-02", "BR-CO-15"}
    assert _message(report, "FX-SCH-A-000613").startswith("Value of '@unitCode' is not allowed. (at /CrossIndustry")
    assert report.has_rule("BR-FR-CO-12")
    assert "ram:TaxTotalAmount" in _message(report, "BP-SCH-02")


def test_compressed_xml_bomb_is_refused_without_inflating_it(valid_pdf: bytes) -> None:
    with pikepdf.open(io.BytesIO(valid_pdf)) as pdf:
        stream = pikepdf.NameTree(pdf.Root.Names.EmbeddedFiles)["factur-x.xml"].EF.F
        stream.write(zlib.compress(b" " * 30_000_000, 9), filter=pikepdf.Name.FlateDecode)
        out = io.BytesIO()
        pdf.save(out)
    report = verify_pdf(out.getvalue())

    assert "BP-FX-04" in _rules(report)
    assert "the stream holds more than 20 MB" in _message(report, "BP-FX-04")
