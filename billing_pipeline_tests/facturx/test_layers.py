"""The layered verdict on French invoices (ours) and the machinery that sorts findings into layers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from lxml import etree

from billing_pipeline.emulator.documents import render_facturx_pdf
from billing_pipeline.facturx import Checks, VerificationReport, verification, verify_pdf, verify_xml
from billing_pipeline.facturx.engines import SCHEMATRON, SchematronError
from billing_pipeline_tests.facturx import received, samples, tampering
from billing_pipeline_tests.facturx.tampering import LINES, NS, SUM, VAT_GROUPS

_EVERY_LAYER_TRUE = Checks(pdf=True, xml_schema=True, en16931=True, profile=True, france=True, arithmetic=True)
_PMT_NOTE = "//ram:IncludedNote[ram:SubjectCode='PMT']"


def _errors(report: VerificationReport) -> dict[str, str | None]:
    return {finding.rule: finding.layer for finding in report.errors}


def test_our_invoice_passes_every_layer_with_the_french_rules(valid_pdf: bytes) -> None:
    report = verify_pdf(valid_pdf)

    assert report.valid
    assert report.checks == _EVERY_LAYER_TRUE


def test_french_invoice_missing_a_french_mention(valid_pdf: bytes) -> None:
    report = verify_pdf(tampering.replace_xml(valid_pdf, lambda root: tampering.remove(root, _PMT_NOTE)))

    assert not report.valid
    assert report.checks == _EVERY_LAYER_TRUE.model_copy(update={"france": False})
    assert _errors(report) == {"BR-FR-05_BT-22_PMT": "france"}
    assert "frais de recouvrement (code PMT) est absente" in report.errors[0].message


def test_french_ubl_missing_a_french_mention(valid_pdf: bytes) -> None:
    ubl = received.ubl_from_cii(etree.tostring(tampering.read_xml(valid_pdf)))
    report = verify_xml(ubl)
    broken = verify_xml(
        tampering.edit_xml(ubl, lambda root: tampering.remove(root, "/*/cbc:Note[starts-with(., '#PMT#')]"))
    )

    assert report.valid, report.errors
    assert report.checks.france is True
    assert report.invoice is not None and report.invoice.notes["PMT"] == [
        "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €"
    ]
    assert broken.checks == Checks(xml_schema=True, en16931=True, france=False, arithmetic=True)
    assert set(_errors(broken)) == {"BR-FR-05_BT-22-1"}


def test_rules_en16931_never_applies_the_french_layer(valid_pdf: bytes) -> None:
    missing_mention = tampering.replace_xml(valid_pdf, lambda root: tampering.remove(root, _PMT_NOTE))

    report = verify_pdf(missing_mention, rules="en16931")

    assert report.valid, report.errors
    assert report.checks == _EVERY_LAYER_TRUE.model_copy(update={"france": None})


def test_a_french_seller_billing_a_german_business_is_not_judged_by_br_fr() -> None:
    client = {
        **samples.company_invoice()["client"],
        "vat_number": received.BUYER_VAT,
        "tax_identification_number": None,
        "billing_address": {
            "street_address": "Unter den Linden 5",
            "city": "Berlin",
            "zip_code": "10117",
            "country_code": "DE",
        },
    }
    pdf = render_facturx_pdf(samples.company_invoice(client=client), samples.ORGANIZATION)

    report = verify_pdf(pdf)

    assert report.invoice is not None and (report.invoice.seller_country, report.invoice.buyer_country) == ("FR", "DE")
    assert report.valid, report.errors
    assert report.checks.france is None
    assert verify_pdf(pdf, rules="france").checks.france is not None


def _with_line_discount(root: etree._Element) -> None:
    """What a Qonto item discount becomes in the CII: a line allowance (BT-136), the line net and every
    sum after it recomputed, VAT half-up per rate."""
    line = root.xpath(LINES, namespaces=NS)[3]  # Documentation pack, 1 × 19.99 at 5.5 %
    settlement = line.find("ram:SpecifiedLineTradeSettlement", NS)
    summation = settlement.find("ram:SpecifiedTradeSettlementLineMonetarySummation", NS)
    ram, udt = f"{{{NS['ram']}}}", f"{{{NS['udt']}}}"
    allowance = etree.Element(f"{ram}SpecifiedTradeAllowanceCharge")
    etree.SubElement(etree.SubElement(allowance, f"{ram}ChargeIndicator"), f"{udt}Indicator").text = "false"
    etree.SubElement(allowance, f"{ram}CalculationPercent").text = "10.00"
    etree.SubElement(allowance, f"{ram}BasisAmount").text = "19.99"
    etree.SubElement(allowance, f"{ram}ActualAmount").text = "2.00"
    etree.SubElement(allowance, f"{ram}Reason").text = "Coupon welcome10"
    summation.addprevious(allowance)
    summation.find("ram:LineTotalAmount", NS).text = "17.99"
    reduced = root.xpath(f"{VAT_GROUPS}[ram:RateApplicablePercent='5.50']", namespaces=NS)[0]
    reduced.find("ram:CalculatedAmount", NS).text = str(
        (Decimal("17.99") * Decimal("0.055")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    )
    tampering.recompute_totals(root)


def test_an_invoice_with_a_discount_passes_every_layer(valid_pdf: bytes) -> None:
    report = verify_pdf(tampering.replace_xml(valid_pdf, _with_line_discount))

    assert report.errors == []
    assert report.checks == _EVERY_LAYER_TRUE
    assert report.invoice is not None and report.invoice.lines[3].allowances == Decimal("2.00")
    assert report.totals is not None and (report.totals.net, report.totals.vat) == (
        Decimal("970.83"),
        Decimal("101.56"),
    )


def test_code_lists_judge_en16931_and_profile_structure_judges_profile(valid_pdf: bytes) -> None:
    def break_codes(root: etree._Element) -> None:
        quantity = root.xpath(f"{LINES}//ram:BilledQuantity", namespaces=NS)[0]
        quantity.set("unitCode", "HOURS")
        tampering.set_text(root, "//ram:InvoiceCurrencyCode", "XXY")

    report = verify_pdf(tampering.replace_xml(valid_pdf, break_codes))

    assert _errors(report) == {
        "FX-SCH-A-000613": "en16931",  # unit code list (CEN: BR-CL-23)
        "FX-SCH-A-000595": "en16931",  # currency code list (CEN: BR-CL-04)
        "BR-CO-15": "en16931",
        "BP-SCH-02": "profile",  # "@currencyID marked as not used in the given context"
        "BR-FR-CO-12_BT-5": "france",
    }
    assert report.checks == Checks(
        pdf=True, xml_schema=True, en16931=False, profile=False, france=False, arithmetic=True
    )


def test_a_schematron_that_cannot_run_fails_each_of_its_layers(
    valid_pdf: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise SchematronError("PySaxonApiError: out of memory")

    monkeypatch.setattr(SCHEMATRON, "run", broken)

    report = verify_pdf(valid_pdf)

    assert {finding.rule for finding in report.errors} == {"BP-SCH-01"}
    assert report.checks == Checks(
        pdf=True, xml_schema=True, en16931=False, profile=False, france=False, arithmetic=True
    )


@pytest.mark.parametrize("as_pdf", [True, False], ids=["pdf", "xml"])
def test_an_unexpected_failure_is_an_error_in_a_layer(
    valid_pdf: bytes, german_xml: bytes, monkeypatch: pytest.MonkeyPatch, as_pdf: bool
) -> None:
    def crash(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(verification, "read_invoice", crash)

    report = verify_pdf(valid_pdf) if as_pdf else verify_xml(german_xml)

    assert _errors(report) == {"BP-PDF-03": "pdf" if as_pdf else "xml_schema"}
    assert "RuntimeError: boom" in report.errors[0].message
    assert not report.valid and not report.unreadable


def test_draft_pdf_fails_the_pdf_layer_and_reaches_no_other(draft_pdf: bytes) -> None:
    report = verify_pdf(draft_pdf)

    assert report.checks == Checks(pdf=False)
    assert report.syntax is None


def test_valid_is_every_applicable_layer_true(
    valid_pdf: bytes, draft_pdf: bytes, german_pdf: bytes, german_xml: bytes, german_ubl: bytes
) -> None:
    reports = [
        verify_pdf(valid_pdf),
        verify_pdf(draft_pdf),
        verify_pdf(german_pdf),
        verify_pdf(german_pdf, rules="france"),
        verify_xml(german_xml),
        verify_xml(german_ubl, rules="france"),
        verify_pdf(
            tampering.replace_xml(valid_pdf, lambda root: tampering.set_text(root, f"{SUM}/ram:GrandTotalAmount", "1"))
        ),
        verify_pdf(b"%PDF-1.7 junk"),
        verify_xml(b"<unfinished"),
        verify_xml(received.zugferd_1_xml()),
    ]

    assert [report.valid for report in reports] == [True, False, True, False, True, False, False, False, False, False]
    for report in reports:
        assert report.valid == report.checks.all_applicable_pass
        assert all(finding.layer for finding in report.errors)
        # an error's layer is a failed check
        assert all(getattr(report.checks, finding.layer) is False for finding in report.errors)
