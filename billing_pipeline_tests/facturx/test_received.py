"""Invoices other companies send: a German seller's Factur-X, CII and UBL (drafthorse, factur-x), the
older ZUGFeRD names and identifiers, XRechnung, ZUGFeRD 1 — each judged layer by layer."""

from __future__ import annotations

from decimal import Decimal

import facturx
import pytest
from lxml import etree

from billing_pipeline.facturx import Checks, RuleSet, VerificationReport, verify_pdf, verify_xml
from billing_pipeline.facturx.judgement import Role, plan_cii
from billing_pipeline.facturx.profiles import identify_guideline
from billing_pipeline_tests.facturx import received, tampering
from billing_pipeline_tests.facturx.tampering import NS
from billing_pipeline_tests.facturx.tampering import SUM as _SUM

_GERMAN_TOTALS = {key: Decimal(value) for key, value in received.TOTALS.items()}
_ALL_TRUE = {"pdf": True, "xml_schema": True, "en16931": True, "profile": True, "arithmetic": True}
_GUIDELINE = "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"


def _errors(report: VerificationReport) -> dict[str, str | None]:
    return {finding.rule: finding.layer for finding in report.errors}


def _warnings(report: VerificationReport) -> set[str]:
    return {finding.rule for finding in report.warnings}


def test_german_factur_x_is_valid_and_the_french_rules_do_not_apply(german_pdf: bytes) -> None:
    report = verify_pdf(german_pdf, file_name="R-2026-0042.pdf")

    assert report.errors == []
    assert report.valid
    assert report.checks == Checks(**_ALL_TRUE, france=None)
    assert (report.syntax, report.profile, report.invoice_number) == ("CII", "EN 16931", "R-2026-0042")
    assert report.totals is not None and report.totals.model_dump() == _GERMAN_TOTALS
    # drafthorse writes Info /Keywords "Factur-X" without its XMP twin: a warning, not an error
    assert _warnings(report) == {"BP-PDFA-05"}


def test_german_invoice_lines_carry_allowance_gross_discount_and_base_quantity(german_pdf: bytes) -> None:
    invoice = verify_pdf(german_pdf).invoice
    assert invoice is not None

    first, second, third = invoice.lines
    assert (first.quantity, first.unit_price, first.allowances, first.net_amount) == (
        Decimal("5.000"),
        Decimal("4.10"),
        Decimal("0.02"),
        Decimal("20.48"),
    )
    assert (second.gross_price, second.price_discount, second.unit_price, second.base_quantity) == (
        Decimal("12.00"),
        Decimal("0.50"),
        Decimal("11.50"),
        Decimal("100"),
    )
    assert second.net_amount == Decimal("28.75")
    assert (third.vat_rate, third.net_amount) == (Decimal("7"), Decimal("30.00"))
    assert [(entry.is_charge, entry.amount) for entry in invoice.allowances_charges] == [
        (False, Decimal("5.00")),
        (True, Decimal("4.90")),
    ]
    assert invoice.prepaid_amount == Decimal("20.00")
    assert (invoice.seller_country, invoice.buyer_country) == ("DE", "DE")


def test_french_rules_on_request_name_each_missing_french_mention(german_pdf: bytes) -> None:
    report = verify_pdf(german_pdf, rules="france")

    assert not report.valid
    assert report.checks == Checks(**_ALL_TRUE, france=False)
    assert {rule for rule, layer in _errors(report).items() if layer == "france"} >= {
        "BR-FR-05_BT-22_PMT",
        "BR-FR-05_BT-22_PMD",
        "BR-FR-05_BT-22_AAB",
        "BR-FR-10_BT-30",
    }
    assert set(_errors(report).values()) == {"france"}


@pytest.mark.parametrize(
    ("change", "rules"),
    [
        # line 1: 5.000 × 4.10 − 0.02 = 20.48: without the allowance it is 20.50
        (
            lambda root: tampering.remove(
                root, "(//ram:SpecifiedLineTradeSettlement)[1]/ram:SpecifiedTradeAllowanceCharge"
            ),
            {"BP-MONEY-01"},
        ),
        # line 2: 250 × 11.50 / 100 = 28.75: per 10 it would be 287.50
        (
            lambda root: [
                element.set("unitCode", "C62") or setattr(element, "text", "10")
                for element in root.xpath(
                    "(//ram:IncludedSupplyChainTradeLineItem)[2]//ram:BasisQuantity", namespaces=NS
                )
            ],
            {"BP-MONEY-01"},
        ),
        # line 2: net price 11.50 = gross 12.00 − discount 0.50; a discount of 0.40 leaves 11.60
        (
            lambda root: tampering.set_text(
                root, "(//ram:GrossPriceProductTradePrice)[1]/ram:AppliedTradeAllowanceCharge/ram:ActualAmount", "0.40"
            ),
            {"BP-MONEY-10"},
        ),
        # the 5.00 document allowance is in the 19 % VAT basis (49.13); 6.00 with BT-107 and BT-109 kept
        (
            lambda root: tampering.set_text(
                root,
                "//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge[1]/ram:ActualAmount",
                "6.00",
            ),
            {"BP-MONEY-03", "BP-MONEY-05", "BR-CO-11", "BR-S-08"},
        ),
        # BT-115 = BT-112 − BT-113 = 70.56; without the prepaid amount it is 90.56
        (lambda root: tampering.remove(root, f"{_SUM}/ram:TotalPrepaidAmount"), {"BP-MONEY-09", "BR-CO-16"}),
    ],
    ids=["line-allowance", "base-quantity", "gross-price-discount", "document-allowance", "prepaid"],
)
def test_each_term_of_the_en16931_arithmetic_is_checked(german_xml: bytes, change, rules: set[str]) -> None:
    report = verify_xml(tampering.edit_xml(german_xml, change))

    assert set(_errors(report)) == rules
    assert report.checks.arithmetic is False


def test_money_message_names_the_line_allowance(german_xml: bytes) -> None:
    def wrong_net(root: etree._Element) -> None:
        tampering.set_text(
            root, "(//ram:SpecifiedTradeSettlementLineMonetarySummation)[1]/ram:LineTotalAmount", "20.50"
        )

    report = verify_xml(tampering.edit_xml(german_xml, wrong_net))

    message = next(finding.message for finding in report.errors if finding.rule == "BP-MONEY-01")
    assert message == "line 1: 5.000 × 4.10 − 0.02 = 20.48 but the line net (BT-131) is 20.50"


def test_standalone_cii_has_no_pdf_layer(german_xml: bytes) -> None:
    report = verify_xml(german_xml, file_name="R-2026-0042.xml")

    assert report.valid, report.errors
    assert report.warnings == []
    assert report.checks == Checks(**{**_ALL_TRUE, "pdf": None}, france=None)
    assert (report.syntax, report.profile) == ("CII", "EN 16931")
    assert report.totals is not None and report.totals.model_dump() == _GERMAN_TOTALS


def test_ubl_is_judged_by_the_cen_ubl_rules(german_ubl: bytes) -> None:
    report = verify_xml(german_ubl)

    assert report.valid, report.errors
    assert report.checks == Checks(pdf=None, xml_schema=True, en16931=True, profile=None, france=None, arithmetic=True)
    assert (report.syntax, report.profile, report.invoice_number) == ("UBL", "EN 16931", "R-2026-0042")
    assert report.totals is not None and report.totals.model_dump() == _GERMAN_TOTALS
    second = report.invoice.lines[1]
    assert (second.gross_price, second.price_discount, second.base_quantity) == (
        Decimal("12.00"),
        Decimal("0.50"),
        Decimal("100"),
    )


def test_a_wrong_ubl_total_breaks_the_cen_rule_and_ours(german_ubl: bytes) -> None:
    def wrong_total(root: etree._Element) -> None:
        tampering.set_text(root, "/*/cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", "90.66")

    report = verify_xml(tampering.edit_xml(german_ubl, wrong_total))

    assert _errors(report)["BR-CO-15"] == "en16931"
    assert _errors(report)["BP-MONEY-08"] == "arithmetic"
    assert report.checks.en16931 is False and report.checks.profile is None


def test_ubl_refused_by_its_xsd(german_ubl: bytes) -> None:
    def misplaced(root: etree._Element) -> None:
        note = root.find("cbc:Note", NS)
        root.remove(note)
        root.append(note)

    report = verify_xml(tampering.edit_xml(german_ubl, misplaced))

    assert _errors(report)["BP-XSD-01"] == "xml_schema"
    assert "UBL XSD UBL-Invoice-2.1.xsd" in report.errors[0].message


def test_zugferd_2_0_file_is_recognised_with_warnings() -> None:
    xml = received.german_invoice_xml(received.ZUGFERD_2_0_BASIC_GUIDELINE, basic=True)
    report = verify_pdf(received.zugferd_2_0_pdf(xml), file_name="zugferd-2.0.pdf")

    assert report.valid, report.errors
    assert report.checks == Checks(**_ALL_TRUE, france=None)
    assert report.profile == "BASIC"
    assert _warnings(report) == {"BP-FX-10", "BP-FX-11"}
    messages = " ".join(finding.message for finding in report.warnings)
    assert "'zugferd-invoice.xml', the ZUGFeRD 2.0 name" in messages
    assert "is the ZUGFeRD 2.0 identifier of profile BASIC" in messages


def test_zugferd_2_0_xmp_still_has_to_match_the_xml() -> None:
    xml = received.german_invoice_xml(received.ZUGFERD_2_0_BASIC_GUIDELINE, basic=True)
    pdf = tampering.replace_xmp(
        received.zugferd_2_0_pdf(xml), "<zf:ConformanceLevel>BASIC<", "<zf:ConformanceLevel>EXTENDED<"
    )

    report = verify_pdf(pdf)

    assert _errors(report) == {"BP-XMP-08": "pdf"}
    assert report.checks.pdf is False and report.checks.profile is True


def test_xrechnung_attachment_is_judged_by_en16931_only() -> None:
    xml = received.german_invoice_xml(received.XRECHNUNG_GUIDELINE)
    report = verify_pdf(received.xrechnung_pdf(xml))

    assert report.valid, report.errors
    assert report.checks == Checks(**{**_ALL_TRUE, "profile": None}, france=None)
    assert report.profile == "XRECHNUNG"
    assert _warnings(report) == {"BP-FX-11", "BP-FX-12"}


def test_standalone_xrechnung_cii_rules_all_count_as_en16931(german_xml: bytes) -> None:
    def xrechnung_with_a_wrong_total(root: etree._Element) -> None:
        tampering.set_text(root, _GUIDELINE, received.XRECHNUNG_GUIDELINE)
        tampering.set_text(root, f"{_SUM}/ram:GrandTotalAmount", "90.66")
        root.xpath(f"{_SUM}/ram:LineTotalAmount", namespaces=NS)[0].set("currencyID", "EUR")

    report = verify_xml(tampering.edit_xml(german_xml, xrechnung_with_a_wrong_total))

    assert _errors(report)["BR-CO-15"] == "en16931"
    # a Factur-X structure rule ("@currencyID … not used in the given context") judges EN 16931 here
    assert _errors(report)["BP-SCH-02"] == "en16931"
    assert report.checks.profile is None
    assert _warnings(report) == {"BP-FX-12"}


def test_older_factur_x_identifier_is_recognised_with_a_warning() -> None:
    report = verify_xml(received.german_invoice_xml(received.FACTURX_1_0_BASIC_GUIDELINE, basic=True))

    # the Factur-X code list of BT-24 knows only today's identifier: superseded by BP-FX-10
    assert report.valid, report.errors
    assert report.profile == "BASIC"
    assert _warnings(report) == {"BP-FX-10"}


def test_basic_profile_reports_en16931_rules_under_their_own_ids() -> None:
    xml = received.german_invoice_xml(received.ZUGFERD_2_0_BASIC_GUIDELINE, basic=True)
    report = verify_xml(
        tampering.edit_xml(xml, lambda root: tampering.set_text(root, f"{_SUM}/ram:GrandTotalAmount", "90.66"))
    )

    # the Factur-X BASIC Schematron writes BR-CO-15 as FX-SCH-A-000121 "[BR-CO-15]-…"
    assert _errors(report) == {
        "BR-CO-15": "en16931",
        "BR-CO-16": "en16931",
        "BP-MONEY-08": "arithmetic",
        "BP-MONEY-09": "arithmetic",
    }


def test_data_only_profile_has_no_en16931_layer(german_xml: bytes) -> None:
    data = facturx.parse_ubl_cii_xml(german_xml, check_xsd=False)
    basic_wl = facturx.generate_cii_xml(data, level="basicwl", check_xsd=True, check_schematron=False)

    report = verify_xml(basic_wl, rules="france")
    broken = verify_xml(
        tampering.edit_xml(basic_wl, lambda root: tampering.set_text(root, f"{_SUM}/ram:GrandTotalAmount", "90.66")),
        rules="en16931",
    )

    assert report.profile == "BASIC WL"
    assert report.checks.en16931 is None and report.checks.profile is True
    assert report.checks.france is False  # BASIC WL carries the French rules when asked for
    assert _warnings(report) == {"BP-FX-06"}
    assert _errors(broken)["BR-CO-15"] == "profile"
    assert broken.checks.en16931 is None and broken.checks.france is None


def test_unknown_bt24_in_a_pdf_fails_the_profile_but_gets_an_en16931_verdict(valid_pdf: bytes) -> None:
    pdf = tampering.replace_xml(valid_pdf, lambda root: tampering.set_text(root, _GUIDELINE, "urn:example:custom:1.0"))

    report = verify_pdf(pdf)

    assert _errors(report) == {"BP-FX-05": "profile"}
    assert report.checks == Checks(pdf=True, xml_schema=True, en16931=True, profile=False, france=True, arithmetic=True)


def test_unknown_bt24_in_a_standalone_cii_is_a_warning(german_xml: bytes) -> None:
    report = verify_xml(
        tampering.edit_xml(german_xml, lambda root: tampering.set_text(root, _GUIDELINE, "urn:example:custom:1.0"))
    )

    assert report.valid, report.errors
    assert report.checks.profile is None
    assert _warnings(report) == {"BP-FX-12"}


def test_ubl_of_a_cius_says_its_own_rules_are_not_run(german_ubl: bytes) -> None:
    report = verify_xml(
        tampering.edit_xml(
            german_ubl, lambda root: tampering.set_text(root, "/*/cbc:CustomizationID", received.XRECHNUNG_GUIDELINE)
        )
    )

    assert report.valid, report.errors
    assert report.profile == "XRECHNUNG"
    assert _warnings(report) == {"BP-FX-12"}


@pytest.mark.parametrize("as_pdf", [False, True], ids=["xml", "pdf"])
def test_zugferd_1_is_named_as_unsupported_legacy(as_pdf: bool) -> None:
    report = verify_pdf(received.zugferd_1_pdf()) if as_pdf else verify_xml(received.zugferd_1_xml())

    assert not report.valid and not report.unreadable
    assert _errors(report) == {"BP-FX-09": "xml_schema"}
    assert "ZUGFeRD 1.0 COMFORT invoice" in report.errors[0].message
    assert "unsupported legacy format" in report.errors[0].message
    assert report.checks == Checks(xml_schema=False)


def test_embedded_ubl_is_not_a_factur_x(german_ubl: bytes) -> None:
    pdf = received.german_facturx_pdf()
    report = verify_pdf(tampering.replace_embedded(pdf, german_ubl))

    assert _errors(report) == {"BP-FX-04": "xml_schema"}
    assert "root element 'Invoice'" in report.errors[0].message


def test_minimum_profile_never_gets_the_french_rules(german_xml: bytes) -> None:
    invoice = verify_xml(german_xml).invoice
    assert invoice is not None

    minimum = plan_cii(identify_guideline("urn:factur-x.eu:1p0:minimum"), invoice, RuleSet.FRANCE)
    basic_wl = plan_cii(identify_guideline("urn:factur-x.eu:1p0:basicwl"), invoice, RuleSet.FRANCE)

    assert (minimum.french, minimum.en16931, minimum.profile) == (False, False, True)
    assert [role for _, role in minimum.stylesheets] == [Role.FACTURX]
    assert basic_wl.french is True
