"""Business terms of a CII ``CrossIndustryInvoice`` read into ``FacturXInvoice`` (leniently: see
``terms.py``)."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.models import (
    DocumentAllowanceCharge,
    FacturXInvoice,
    InvoiceLine,
    VatBreakdownEntry,
)
from billing_pipeline.facturx.profiles import identify_guideline
from billing_pipeline.facturx.terms import TermReader, XPaths

NAMESPACES = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
CII_ROOT_TAG = f"{{{NAMESPACES['rsm']}}}CrossIndustryInvoice"
GUIDELINE_PATH = "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"

_TX = "rsm:SupplyChainTradeTransaction"
_AGR = f"{_TX}/ram:ApplicableHeaderTradeAgreement"
_SET = f"{_TX}/ram:ApplicableHeaderTradeSettlement"
_SUM = f"{_SET}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
_SELLER = f"{_AGR}/ram:SellerTradeParty"
_BUYER = f"{_AGR}/ram:BuyerTradeParty"
_MEANS = f"{_SET}/ram:SpecifiedTradeSettlementPaymentMeans"
_PRECEDING = f"{_SET}/ram:InvoiceReferencedDocument"
_XPATHS = XPaths(NAMESPACES)


def _xpath(context: etree._Element, path: str) -> list:
    return _XPATHS(context, path)


def read_invoice(root: etree._Element, findings: Findings) -> FacturXInvoice:
    reader = TermReader(findings, _XPATHS)
    guideline = reader.text(root, GUIDELINE_PATH)
    currency = reader.text(root, f"{_SET}/ram:InvoiceCurrencyCode")
    return FacturXInvoice(
        profile=identify_guideline(guideline).name,
        guideline_id=guideline,
        business_process=reader.text(
            root, "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"
        ),
        number=reader.text(root, "rsm:ExchangedDocument/ram:ID"),
        type_code=reader.text(root, "rsm:ExchangedDocument/ram:TypeCode"),
        issue_date=reader.cii_date(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString", "BT-2"),
        due_date=reader.cii_date(
            root, f"{_SET}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString", "BT-9"
        ),
        currency=currency,
        buyer_reference=reader.text(root, f"{_AGR}/ram:BuyerReference"),
        purchase_order=reader.text(root, f"{_AGR}/ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID"),
        seller_name=reader.text(root, f"{_SELLER}/ram:Name"),
        seller_siren=reader.text(root, f"{_SELLER}/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']"),
        seller_legal_id=reader.text(root, f"{_SELLER}/ram:SpecifiedLegalOrganization/ram:ID"),
        seller_legal_id_scheme=reader.text(root, f"{_SELLER}/ram:SpecifiedLegalOrganization/ram:ID/@schemeID"),
        seller_vat_id=reader.text(root, f"{_SELLER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"),
        seller_country=reader.text(root, f"{_SELLER}/ram:PostalTradeAddress/ram:CountryID"),
        buyer_name=reader.text(root, f"{_BUYER}/ram:Name"),
        buyer_siren=reader.text(root, f"{_BUYER}/ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']"),
        buyer_legal_id=reader.text(root, f"{_BUYER}/ram:SpecifiedLegalOrganization/ram:ID"),
        buyer_legal_id_scheme=reader.text(root, f"{_BUYER}/ram:SpecifiedLegalOrganization/ram:ID/@schemeID"),
        buyer_vat_id=reader.text(root, f"{_BUYER}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"),
        buyer_country=reader.text(root, f"{_BUYER}/ram:PostalTradeAddress/ram:CountryID"),
        payment_means_code=reader.text(root, f"{_MEANS}/ram:TypeCode"),
        iban=reader.text(root, f"{_MEANS}/ram:PayeePartyCreditorFinancialAccount/ram:IBANID"),
        bic=reader.text(root, f"{_MEANS}/ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID"),
        period_start=reader.cii_date(
            root, f"{_SET}/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString", "BT-73"
        ),
        period_end=reader.cii_date(
            root, f"{_SET}/ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString", "BT-74"
        ),
        lines=[_line(reader, element) for element in _xpath(root, f"{_TX}/ram:IncludedSupplyChainTradeLineItem")],
        vat_breakdown=[_vat_entry(reader, element) for element in _xpath(root, f"{_SET}/ram:ApplicableTradeTax")],
        allowances_charges=[
            _allowance_charge(reader, element) for element in _xpath(root, f"{_SET}/ram:SpecifiedTradeAllowanceCharge")
        ],
        line_total=reader.amount(root, f"{_SUM}/ram:LineTotalAmount", "BT-106"),
        allowance_total=reader.amount(root, f"{_SUM}/ram:AllowanceTotalAmount", "BT-107"),
        charge_total=reader.amount(root, f"{_SUM}/ram:ChargeTotalAmount", "BT-108"),
        tax_basis_total=reader.amount(root, f"{_SUM}/ram:TaxBasisTotalAmount", "BT-109"),
        vat_total=_vat_total(reader, root, currency),
        grand_total=reader.amount(root, f"{_SUM}/ram:GrandTotalAmount", "BT-112"),
        prepaid_amount=reader.amount(root, f"{_SUM}/ram:TotalPrepaidAmount", "BT-113"),
        rounding_amount=reader.amount(root, f"{_SUM}/ram:RoundingAmount", "BT-114"),
        due_payable_amount=reader.amount(root, f"{_SUM}/ram:DuePayableAmount", "BT-115"),
        preceding_invoice_number=reader.text(root, f"{_PRECEDING}/ram:IssuerAssignedID"),
        preceding_invoice_date=reader.cii_date(
            root, f"{_PRECEDING}/ram:FormattedIssueDateTime/qdt:DateTimeString", "BT-26"
        ),
        notes=_notes(root),
    )


def _notes(root: etree._Element) -> dict[str, list[str]]:
    """BG-1: the document notes by subject code (BT-21); a note without a code is filed under ""."""
    notes: dict[str, list[str]] = {}
    for note in root.xpath("rsm:ExchangedDocument/ram:IncludedNote", namespaces=NAMESPACES):
        code = "".join(note.xpath("ram:SubjectCode/text()", namespaces=NAMESPACES)).strip()
        content = "".join(note.xpath("ram:Content/text()", namespaces=NAMESPACES)).strip()
        notes.setdefault(code, []).append(content)
    return notes


def _vat_total(reader: TermReader, root: etree._Element, currency: str | None) -> Decimal | None:
    # BT-110 is the TaxTotalAmount in the invoice currency; a second one (BT-111) may be in the
    # accounting currency
    amounts = _xpath(root, f"{_SUM}/ram:TaxTotalAmount")
    if not amounts:
        return None
    chosen = next((element for element in amounts if element.get("currencyID") == currency), amounts[0])
    return reader.decimal((chosen.text or "").strip() or None, "BT-110")


def _line(reader: TermReader, element: etree._Element) -> InvoiceLine:
    line_id = reader.text(element, "ram:AssociatedDocumentLineDocument/ram:LineID")
    where = f"line {line_id or '?'}"
    settlement = "ram:SpecifiedLineTradeSettlement"
    allowances = charges = Decimal(0)
    for adjustment in _xpath(element, f"{settlement}/ram:SpecifiedTradeAllowanceCharge"):
        amount = reader.amount(adjustment, "ram:ActualAmount", f"{where} BT-136/BT-141") or Decimal(0)
        if reader.indicator(adjustment, "ram:ChargeIndicator/udt:Indicator"):
            charges += amount
        else:
            allowances += amount
    price = "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice"
    gross = "ram:SpecifiedLineTradeAgreement/ram:GrossPriceProductTradePrice"
    discount = None
    for adjustment in _xpath(element, f"{gross}/ram:AppliedTradeAllowanceCharge"):
        amount = reader.amount(adjustment, "ram:ActualAmount", f"{where} BT-147") or Decimal(0)
        sign = -1 if reader.indicator(adjustment, "ram:ChargeIndicator/udt:Indicator") else 1
        discount = (discount or Decimal(0)) + sign * amount
    return InvoiceLine(
        line_id=line_id,
        name=reader.text(element, "ram:SpecifiedTradeProduct/ram:Name"),
        quantity=reader.amount(element, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", f"{where} BT-129"),
        unit_code=reader.text(element, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity/@unitCode"),
        unit_price=reader.amount(element, f"{price}/ram:ChargeAmount", f"{where} BT-146"),
        base_quantity=reader.amount(element, f"{price}/ram:BasisQuantity", f"{where} BT-149"),
        net_amount=reader.amount(
            element,
            f"{settlement}/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
            f"{where} BT-131",
        ),
        vat_category=reader.text(element, f"{settlement}/ram:ApplicableTradeTax/ram:CategoryCode"),
        vat_rate=reader.amount(
            element, f"{settlement}/ram:ApplicableTradeTax/ram:RateApplicablePercent", f"{where} BT-152"
        ),
        allowances=allowances,
        charges=charges,
        gross_price=reader.amount(element, f"{gross}/ram:ChargeAmount", f"{where} BT-148"),
        price_discount=discount,
        gross_base_quantity=reader.amount(element, f"{gross}/ram:BasisQuantity", f"{where} BT-149 (gross price)"),
    )


def _vat_entry(reader: TermReader, element: etree._Element) -> VatBreakdownEntry:
    return VatBreakdownEntry(
        category=reader.text(element, "ram:CategoryCode"),
        rate=reader.amount(element, "ram:RateApplicablePercent", "BT-119"),
        basis=reader.amount(element, "ram:BasisAmount", "BT-116"),
        amount=reader.amount(element, "ram:CalculatedAmount", "BT-117"),
        exemption_reason=reader.text(element, "ram:ExemptionReason"),
        exemption_reason_code=reader.text(element, "ram:ExemptionReasonCode"),
        due_date_code=reader.text(element, "ram:DueDateTypeCode"),
    )


def _allowance_charge(reader: TermReader, element: etree._Element) -> DocumentAllowanceCharge:
    return DocumentAllowanceCharge(
        is_charge=reader.indicator(element, "ram:ChargeIndicator/udt:Indicator"),
        amount=reader.amount(element, "ram:ActualAmount", "BT-92/BT-99"),
        vat_category=reader.text(element, "ram:CategoryTradeTax/ram:CategoryCode"),
        vat_rate=reader.amount(element, "ram:CategoryTradeTax/ram:RateApplicablePercent", "BT-96/BT-103"),
    )
