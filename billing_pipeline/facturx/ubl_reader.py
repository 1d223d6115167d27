"""Business terms of a UBL 2.1 ``Invoice`` or ``CreditNote`` read into ``FacturXInvoice``, along the
CEN EN 16931 UBL syntax binding (leniently: see ``terms.py``).

The French CIUS writes the BG-1 note subject code (BT-21) into the UBL note text as ``#PMT#…``; such
notes are filed under their code like CII ``ram:SubjectCode`` notes.
"""

from __future__ import annotations

import re
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

UBL_INVOICE_NAMESPACE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NAMESPACE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
UBL_INVOICE_TAG = f"{{{UBL_INVOICE_NAMESPACE}}}Invoice"
UBL_CREDIT_NOTE_TAG = f"{{{UBL_CREDIT_NOTE_NAMESPACE}}}CreditNote"
NAMESPACES = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
_XPATHS = XPaths(NAMESPACES)
_NOTE_WITH_SUBJECT = re.compile(r"^#([A-Z]{3})#(.*)$", re.DOTALL)

_SELLER = "cac:AccountingSupplierParty/cac:Party"
_BUYER = "cac:AccountingCustomerParty/cac:Party"
_MEANS = "cac:PaymentMeans"
_TOTALS = "cac:LegalMonetaryTotal"
_PRECEDING = "cac:BillingReference/cac:InvoiceDocumentReference"
_VAT_ID = "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID"


def read_ubl_invoice(root: etree._Element, findings: Findings) -> FacturXInvoice:
    reader = TermReader(findings, _XPATHS)
    credit_note = root.tag == UBL_CREDIT_NOTE_TAG
    guideline = reader.text(root, "cbc:CustomizationID")
    currency = reader.text(root, "cbc:DocumentCurrencyCode")
    due_date_path = "cac:PaymentMeans/cbc:PaymentDueDate" if credit_note else "cbc:DueDate"
    line_path = "cac:CreditNoteLine" if credit_note else "cac:InvoiceLine"
    vat_point_code = reader.text(root, "cac:InvoicePeriod/cbc:DescriptionCode")  # BT-8
    return FacturXInvoice(
        profile=identify_guideline(guideline).name,
        guideline_id=guideline,
        business_process=reader.text(root, "cbc:ProfileID"),
        number=reader.text(root, "cbc:ID"),
        type_code=reader.text(root, "cbc:CreditNoteTypeCode" if credit_note else "cbc:InvoiceTypeCode"),
        issue_date=reader.iso_date(root, "cbc:IssueDate", "BT-2"),
        due_date=reader.iso_date(root, due_date_path, "BT-9"),
        currency=currency,
        buyer_reference=reader.text(root, "cbc:BuyerReference"),
        purchase_order=reader.text(root, "cac:OrderReference/cbc:ID"),
        seller_name=reader.text(root, f"{_SELLER}/cac:PartyLegalEntity/cbc:RegistrationName"),
        seller_siren=reader.text(root, f"{_SELLER}/cac:PartyLegalEntity/cbc:CompanyID[@schemeID='0002']"),
        seller_legal_id=reader.text(root, f"{_SELLER}/cac:PartyLegalEntity/cbc:CompanyID"),
        seller_legal_id_scheme=reader.text(root, f"{_SELLER}/cac:PartyLegalEntity/cbc:CompanyID/@schemeID"),
        seller_vat_id=reader.text(root, f"{_SELLER}/{_VAT_ID}"),
        seller_country=reader.text(root, f"{_SELLER}/cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
        buyer_name=reader.text(root, f"{_BUYER}/cac:PartyLegalEntity/cbc:RegistrationName"),
        buyer_siren=reader.text(root, f"{_BUYER}/cac:PartyLegalEntity/cbc:CompanyID[@schemeID='0002']"),
        buyer_legal_id=reader.text(root, f"{_BUYER}/cac:PartyLegalEntity/cbc:CompanyID"),
        buyer_legal_id_scheme=reader.text(root, f"{_BUYER}/cac:PartyLegalEntity/cbc:CompanyID/@schemeID"),
        buyer_vat_id=reader.text(root, f"{_BUYER}/{_VAT_ID}"),
        buyer_country=reader.text(root, f"{_BUYER}/cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
        payment_means_code=reader.text(root, f"{_MEANS}/cbc:PaymentMeansCode"),
        iban=reader.text(root, f"{_MEANS}/cac:PayeeFinancialAccount/cbc:ID"),
        bic=reader.text(root, f"{_MEANS}/cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID"),
        period_start=reader.iso_date(root, "cac:InvoicePeriod/cbc:StartDate", "BT-73"),
        period_end=reader.iso_date(root, "cac:InvoicePeriod/cbc:EndDate", "BT-74"),
        lines=[_line(reader, element, credit_note) for element in _XPATHS(root, line_path)],
        vat_breakdown=[
            _vat_entry(reader, element, vat_point_code) for element in _XPATHS(root, "cac:TaxTotal/cac:TaxSubtotal")
        ],
        allowances_charges=[_allowance_charge(reader, element) for element in _XPATHS(root, "cac:AllowanceCharge")],
        line_total=reader.amount(root, f"{_TOTALS}/cbc:LineExtensionAmount", "BT-106"),
        allowance_total=reader.amount(root, f"{_TOTALS}/cbc:AllowanceTotalAmount", "BT-107"),
        charge_total=reader.amount(root, f"{_TOTALS}/cbc:ChargeTotalAmount", "BT-108"),
        tax_basis_total=reader.amount(root, f"{_TOTALS}/cbc:TaxExclusiveAmount", "BT-109"),
        vat_total=_vat_total(reader, root, currency),
        grand_total=reader.amount(root, f"{_TOTALS}/cbc:TaxInclusiveAmount", "BT-112"),
        prepaid_amount=reader.amount(root, f"{_TOTALS}/cbc:PrepaidAmount", "BT-113"),
        rounding_amount=reader.amount(root, f"{_TOTALS}/cbc:PayableRoundingAmount", "BT-114"),
        due_payable_amount=reader.amount(root, f"{_TOTALS}/cbc:PayableAmount", "BT-115"),
        preceding_invoice_number=reader.text(root, f"{_PRECEDING}/cbc:ID"),
        preceding_invoice_date=reader.iso_date(root, f"{_PRECEDING}/cbc:IssueDate", "BT-26"),
        notes=_notes(root),
    )


def _notes(root: etree._Element) -> dict[str, list[str]]:
    notes: dict[str, list[str]] = {}
    for note in _XPATHS(root, "cbc:Note"):
        text = (note.text or "").strip()
        match = _NOTE_WITH_SUBJECT.match(text)
        code, content = (match.group(1), match.group(2).strip()) if match else ("", text)
        notes.setdefault(code, []).append(content)
    return notes


def _vat_total(reader: TermReader, root: etree._Element, currency: str | None) -> Decimal | None:
    # BT-110 is the TaxTotal/TaxAmount in the document currency; another one (BT-111) is in the VAT
    # accounting currency
    amounts = _XPATHS(root, "cac:TaxTotal/cbc:TaxAmount")
    if not amounts:
        return None
    chosen = next((element for element in amounts if element.get("currencyID") == currency), amounts[0])
    return reader.decimal((chosen.text or "").strip() or None, "BT-110")


def _line(reader: TermReader, element: etree._Element, credit_note: bool) -> InvoiceLine:
    line_id = reader.text(element, "cbc:ID")
    where = f"line {line_id or '?'}"
    allowances = charges = Decimal(0)
    for adjustment in _XPATHS(element, "cac:AllowanceCharge"):
        amount = reader.amount(adjustment, "cbc:Amount", f"{where} BT-136/BT-141") or Decimal(0)
        if reader.indicator(adjustment, "cbc:ChargeIndicator"):
            charges += amount
        else:
            allowances += amount
    quantity = "cbc:CreditedQuantity" if credit_note else "cbc:InvoicedQuantity"
    price_discount = None
    for adjustment in _XPATHS(element, "cac:Price/cac:AllowanceCharge"):
        amount = reader.amount(adjustment, "cbc:Amount", f"{where} BT-147") or Decimal(0)
        sign = -1 if reader.indicator(adjustment, "cbc:ChargeIndicator") else 1
        price_discount = (price_discount or Decimal(0)) + sign * amount
    return InvoiceLine(
        line_id=line_id,
        name=reader.text(element, "cac:Item/cbc:Name"),
        quantity=reader.amount(element, quantity, f"{where} BT-129"),
        unit_code=reader.text(element, f"{quantity}/@unitCode"),
        unit_price=reader.amount(element, "cac:Price/cbc:PriceAmount", f"{where} BT-146"),
        base_quantity=reader.amount(element, "cac:Price/cbc:BaseQuantity", f"{where} BT-149"),
        net_amount=reader.amount(element, "cbc:LineExtensionAmount", f"{where} BT-131"),
        vat_category=reader.text(element, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
        vat_rate=reader.amount(element, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", f"{where} BT-152"),
        allowances=allowances,
        charges=charges,
        gross_price=reader.amount(element, "cac:Price/cac:AllowanceCharge/cbc:BaseAmount", f"{where} BT-148"),
        price_discount=price_discount,
    )


def _vat_entry(reader: TermReader, element: etree._Element, vat_point_code: str | None) -> VatBreakdownEntry:
    return VatBreakdownEntry(
        category=reader.text(element, "cac:TaxCategory/cbc:ID"),
        rate=reader.amount(element, "cac:TaxCategory/cbc:Percent", "BT-119"),
        basis=reader.amount(element, "cbc:TaxableAmount", "BT-116"),
        amount=reader.amount(element, "cbc:TaxAmount", "BT-117"),
        exemption_reason=reader.text(element, "cac:TaxCategory/cbc:TaxExemptionReason"),
        exemption_reason_code=reader.text(element, "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
        due_date_code=vat_point_code,
    )


def _allowance_charge(reader: TermReader, element: etree._Element) -> DocumentAllowanceCharge:
    return DocumentAllowanceCharge(
        is_charge=reader.indicator(element, "cbc:ChargeIndicator"),
        amount=reader.amount(element, "cbc:Amount", "BT-92/BT-99"),
        vat_category=reader.text(element, "cac:TaxCategory/cbc:ID"),
        vat_rate=reader.amount(element, "cac:TaxCategory/cbc:Percent", "BT-96/BT-103"),
    )
