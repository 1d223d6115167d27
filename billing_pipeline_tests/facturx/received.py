"""E-invoices as other companies send them, made by the tests with other producers' code.

- **drafthorse** (pretix's ZUGFeRD library) builds a German seller's EN 16931 CII and embeds it in a
  PDF/A-3 page with its own XMP (``/AFRelationship /Alternative``, Info ``/Keywords`` "Factur-X");
- **factur-x** (Akretion) converts a CII into UBL 2.1 (``parse_ubl_cii_xml`` + ``generate_ubl_xml``);
- a ZUGFeRD 2.0 PDF is that Factur-X with the 2019 names (``zugferd-invoice.xml``, the ``zf`` XMP
  namespace ``urn:zugferd:pdfa:CrossIndustryDocument:invoice:2p0#``, version ``2p0``);
- a ZUGFeRD 1.0 invoice is the 2014 ``rsm:CrossIndustryDocument`` embedded as ``ZUGFeRD-invoice.xml``.

The German invoice has what the French emulator's never has: a line allowance (BT-136), a gross
price with a price discount (BT-148, BT-147) per a base quantity of 100 (BT-149), a document
allowance and a document charge (BG-20, BG-21) in the VAT breakdown, two VAT rates and a prepaid
amount (BT-113). Worked out by hand:

- line 1: 5.000 × 4.10 − 0.02 = 20.48 (S 19 %); line 2: 250 × (12.00 − 0.50) / 100 = 28.75 (S 19 %);
  line 3: 2 × 15.00 = 30.00 (S 7 %)
- S 19 %: 20.48 + 28.75 − 5.00 + 4.90 = 49.13, VAT 9.3347 → 9.33; S 7 %: 30.00, VAT 2.10
- BT-106 79.23, BT-107 5.00, BT-108 4.90, BT-109 79.13, BT-110 11.43, BT-112 90.56, BT-113 20.00,
  BT-115 70.56
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import facturx
import pikepdf
from drafthorse.models.accounting import ApplicableTradeTax, CategoryTradeTax, TradeAllowanceCharge
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.payment import PaymentMeans, PaymentTerms
from drafthorse.models.tradelines import AllowanceCharge as PriceAllowance
from drafthorse.models.tradelines import LineItem
from drafthorse.pdf import attach_xml
from fpdf import FPDF

import billing_pipeline.emulator

EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
ZUGFERD_2_0_BASIC_GUIDELINE = "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic"
FACTURX_1_0_BASIC_GUIDELINE = "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:basic"
XRECHNUNG_GUIDELINE = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
SELLER_VAT = "DE136695976"
BUYER_VAT = "DE129273398"
IBAN = "DE02120300000000202051"
BIC = "BYLADEM1001"
TOTALS = {"net": "79.13", "vat": "11.43", "total": "90.56", "due": "70.56"}
_FONT = Path(billing_pipeline.emulator.__file__).parent / "_documents" / "fonts" / "DejaVuSans-Latin.ttf"
_FX_XMP = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
_ZF2_XMP = "urn:zugferd:pdfa:CrossIndustryDocument:invoice:2p0#"


def pdfa3_page(text: str) -> bytes:
    """A one-page PDF/A-3B (embedded font, sRGB output intent) to attach an invoice XML to."""
    pdf = FPDF(enforce_compliance="PDF/A-3B")
    pdf.add_font("DejaVu", "", str(_FONT))
    pdf.add_page()
    pdf.set_font("DejaVu", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())


def german_invoice_xml(guideline: str = EN16931_GUIDELINE, *, basic: bool = False) -> bytes:
    """The German seller's invoice, built and checked against its profile's XSD by drafthorse (BASIC:
    without the BIC, which that profile does not carry)."""
    document = _german_invoice(guideline, bic=not basic)
    return document.serialize(schema="FACTUR-X_BASIC" if basic else "FACTUR-X_EN16931")


def german_facturx_pdf(xml: bytes | None = None) -> bytes:
    """The German invoice embedded by drafthorse (its XMP, /AFRelationship /Alternative)."""
    return attach_xml(pdfa3_page("Rechnung R-2026-0042"), xml or german_invoice_xml())


def ubl_from_cii(cii: bytes) -> bytes:
    """The same invoice in UBL 2.1, converted by the factur-x package (its XSD checked, no Schematron)."""
    data = facturx.parse_ubl_cii_xml(cii, check_xsd=False)
    return facturx.generate_ubl_xml(data, check_xsd=True, check_schematron=False)


def zugferd_2_0_pdf(xml: bytes, *, level: str = "basic") -> bytes:
    """A ZUGFeRD 2.0 file: the XML as ``zugferd-invoice.xml`` and the 2019 XMP namespace and version."""
    return _renamed_facturx(
        xml,
        level,
        "zugferd-invoice.xml",
        (
            (_FX_XMP, _ZF2_XMP),
            ("xmlns:fx=", "xmlns:zf="),
            ("<fx:", "<zf:"),
            ("</fx:", "</zf:"),
            ("<pdfaSchema:prefix>fx<", "<pdfaSchema:prefix>zf<"),
            ("<zf:Version>1.0<", "<zf:Version>2p0<"),
        ),
    )


def xrechnung_pdf(xml: bytes) -> bytes:
    """ZUGFeRD 2.1's XRECHNUNG profile: the XML as ``xrechnung.xml``, fx:ConformanceLevel XRECHNUNG."""
    return _renamed_facturx(
        xml, "en16931", "xrechnung.xml", (("<fx:ConformanceLevel>EN 16931<", "<fx:ConformanceLevel>XRECHNUNG<"),)
    )


def _renamed_facturx(xml: bytes, level: str, name: str, xmp_changes: tuple[tuple[str, str], ...]) -> bytes:
    facturx_pdf = facturx.generate_from_binary(
        pdfa3_page("Rechnung"), xml, flavor="factur-x", level=level, check_xsd=False, pdf_metadata={"keywords": ""}
    )
    with pikepdf.open(io.BytesIO(facturx_pdf)) as pdf:
        filespec = pikepdf.NameTree(pdf.Root.Names.EmbeddedFiles)["factur-x.xml"]
        filespec.F = filespec.UF = pikepdf.String(name)
        pdf.Root.Names.EmbeddedFiles = pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String(name), filespec]))
        xmp = pdf.Root.Metadata.read_bytes().decode("utf-8")
        for old, new in (*xmp_changes, (">factur-x.xml<", f">{name}<")):
            assert old in xmp, old
            xmp = xmp.replace(old, new)
        pdf.Root.Metadata.write(xmp.encode("utf-8"))
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def zugferd_1_xml() -> bytes:
    """A ZUGFeRD 1.0 COMFORT invoice (2014): the CrossIndustryDocument of the ferd namespace."""
    return b"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"
    xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12"
    xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15">
  <rsm:SpecifiedExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter>
      <ram:ID>urn:ferd:CrossIndustryDocument:invoice:1p0:comfort</ram:ID>
    </ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:SpecifiedExchangedDocumentContext>
  <rsm:HeaderExchangedDocument>
    <ram:ID>RE-2014-0007</ram:ID>
    <ram:Name>RECHNUNG</ram:Name>
    <ram:TypeCode>380</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">20140620</udt:DateTimeString></ram:IssueDateTime>
  </rsm:HeaderExchangedDocument>
  <rsm:SpecifiedSupplyChainTradeTransaction/>
</rsm:CrossIndustryDocument>
"""


def zugferd_1_pdf() -> bytes:
    """The ZUGFeRD 1.0 XML embedded as ``ZUGFeRD-invoice.xml`` (no Factur-X XMP: this is 2014)."""
    with pikepdf.open(io.BytesIO(pdfa3_page("Rechnung RE-2014-0007"))) as pdf:
        spec = pikepdf.AttachedFileSpec(
            pdf, zugferd_1_xml(), mime_type="text/xml", relationship=pikepdf.Name.Alternative
        )
        pdf.attachments["ZUGFeRD-invoice.xml"] = spec
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def _german_invoice(guideline: str, *, bic: bool, number: str = "R-2026-0042") -> Document:
    doc = Document()
    doc.context.guideline_parameter.id = guideline
    doc.header.id = number
    doc.header.type_code = "380"
    doc.header.issue_date_time = date(2026, 3, 2)
    note = IncludedNote()
    note.content = "Vielen Dank für Ihren Auftrag."
    doc.header.notes.add(note)
    seller = doc.trade.agreement.seller
    seller.name = "Muster Maschinen GmbH"
    seller.address.line_one = "Marienplatz 1"
    seller.address.postcode = "80331"
    seller.address.city_name = "München"
    seller.address.country_id = "DE"
    seller.tax_registrations.add(TaxRegistration(id=("VA", SELLER_VAT)))
    seller.electronic_address.uri_ID = ("EM", "rechnung@muster-maschinen.example")
    buyer = doc.trade.agreement.buyer
    buyer.name = "Kunde AG"
    buyer.address.line_one = "Unter den Linden 5"
    buyer.address.postcode = "10117"
    buyer.address.city_name = "Berlin"
    buyer.address.country_id = "DE"
    buyer.tax_registrations.add(TaxRegistration(id=("VA", BUYER_VAT)))
    buyer.electronic_address.uri_ID = ("EM", "eingangsrechnungen@kunde.example")
    doc.trade.agreement.buyer_reference = "4711-0815"
    doc.trade.delivery.event.occurrence = date(2026, 2, 27)
    settlement = doc.trade.settlement
    settlement.currency_code = "EUR"
    settlement.payment_reference = number
    means = PaymentMeans()
    means.type_code = "58"
    means.payee_account.iban = IBAN
    if bic:
        means.payee_institution.bic = BIC
    settlement.payment_means.add(means)
    _line(doc, "1", "Schrauben M8", Decimal("5.000"), net=Decimal("4.10"), allowance=Decimal("0.02"), total="20.48")
    _line(
        doc,
        "2",
        "Muttern M8",
        Decimal("250"),
        gross=Decimal("12.00"),
        discount=Decimal("0.50"),
        net=Decimal("11.50"),
        base=Decimal("100"),
        total="28.75",
    )
    _line(doc, "3", "Fachbuch Maschinenbau", Decimal("2"), net=Decimal("15.00"), rate="7", total="30.00")
    _document_adjustment(doc, charge=False, amount="5.00", reason="Treuerabatt", code="95")
    _document_adjustment(doc, charge=True, amount="4.90", reason="Versandkosten", code="FC")
    for basis, amount, rate in (("49.13", "9.33", "19"), ("30.00", "2.10", "7")):
        tax = ApplicableTradeTax()
        tax.calculated_amount = Decimal(amount)
        tax.type_code = "VAT"
        tax.basis_amount = Decimal(basis)
        tax.category_code = "S"
        tax.rate_applicable_percent = Decimal(rate)
        settlement.trade_tax.add(tax)
    terms = PaymentTerms()
    terms.description = "Zahlbar innerhalb von 30 Tagen ohne Abzug"
    terms.due = date(2026, 4, 1)
    settlement.terms.add(terms)
    summation = settlement.monetary_summation
    summation.line_total = Decimal("79.23")
    summation.charge_total = Decimal("4.90")
    summation.allowance_total = Decimal("5.00")
    summation.tax_basis_total = Decimal("79.13")
    summation.tax_total = (Decimal("11.43"), "EUR")
    summation.grand_total = Decimal("90.56")
    summation.prepaid_total = Decimal("20.00")
    summation.due_amount = Decimal("70.56")
    return doc


def _line(
    doc: Document,
    line_id: str,
    name: str,
    quantity: Decimal,
    *,
    net: Decimal,
    total: str,
    gross: Decimal | None = None,
    discount: Decimal | None = None,
    base: Decimal | None = None,
    allowance: Decimal | None = None,
    rate: str = "19",
) -> None:
    item = LineItem()
    item.document.line_id = line_id
    item.product.name = name
    if gross is not None:
        item.agreement.gross.amount = gross
        if base is not None:
            item.agreement.gross.basis_quantity = (base, "C62")
        if discount is not None:
            price_discount = PriceAllowance()
            price_discount.indicator = False
            price_discount.actual_amount = discount
            item.agreement.gross.charge.add(price_discount)
    item.agreement.net.amount = net
    if base is not None:
        item.agreement.net.basis_quantity = (base, "C62")
    item.delivery.billed_quantity = (quantity, "C62")
    item.settlement.trade_tax.type_code = "VAT"
    item.settlement.trade_tax.category_code = "S"
    item.settlement.trade_tax.rate_applicable_percent = Decimal(rate)
    if allowance is not None:
        line_allowance = TradeAllowanceCharge()
        line_allowance.indicator = False
        line_allowance.actual_amount = allowance
        line_allowance.reason_code = "95"
        line_allowance.reason = "Rabatt"
        item.settlement.allowance_charge.add(line_allowance)
    item.settlement.monetary_summation.total_amount = Decimal(total)
    doc.trade.items.add(item)


def _document_adjustment(doc: Document, *, charge: bool, amount: str, reason: str, code: str) -> None:
    adjustment = TradeAllowanceCharge()
    adjustment.indicator = charge
    adjustment.actual_amount = Decimal(amount)
    adjustment.reason_code = code
    adjustment.reason = reason
    tax = CategoryTradeTax()
    tax.type_code = "VAT"
    tax.category_code = "S"
    tax.rate_applicable_percent = Decimal("19")
    adjustment.trade_tax.add(tax)
    doc.trade.settlement.allowance_charge.add(adjustment)
