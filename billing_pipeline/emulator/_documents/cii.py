"""EN 16931-profile UN/CEFACT CII (``factur-x.xml``) for an ``InvoiceDocument``.

Element order follows the Factur-X 1.09 EN16931 XSD (every group there is an ``xs:sequence``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from billing_pipeline.emulator._documents.document_model import (
    CENT,
    EMULATOR_NOTICE,
    InvoiceDataError,
    InvoiceDocument,
    InvoiceLine,
    Party,
    VatBreakdown,
    VatTreatment,
)

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
_NSMAP = {"rsm": RSM, "qdt": QDT, "ram": RAM, "udt": UDT}

EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
SEPA_CREDIT_TRANSFER = "58"
DISCOUNT_REASON_CODE = "95"  # UNTDID 5189 "Discount" (BT-140)
DISCOUNT_REASON = "Discount"  # BT-139: Qonto's item discount carries no reason of its own


def build_cii_xml(document: InvoiceDocument) -> bytes:
    if document.number is None:
        raise InvoiceDataError("a Factur-X invoice needs its number (finalize the draft first)")
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=_NSMAP)
    context = _sub(root, RSM, "ExchangedDocumentContext")
    _sub(
        _sub(context, RAM, "BusinessProcessSpecifiedDocumentContextParameter"),
        RAM,
        "ID",
        document.business_process,  # BT-23 (BR-FR-08): B1 goods, S1 services, M1 both
    )
    _sub(_sub(context, RAM, "GuidelineSpecifiedDocumentContextParameter"), RAM, "ID", EN16931_GUIDELINE)
    _exchanged_document(_sub(root, RSM, "ExchangedDocument"), document)
    transaction = _sub(root, RSM, "SupplyChainTradeTransaction")
    for line in document.lines:
        _line_item(_sub(transaction, RAM, "IncludedSupplyChainTradeLineItem"), line)
    _agreement(_sub(transaction, RAM, "ApplicableHeaderTradeAgreement"), document)
    delivery = _sub(transaction, RAM, "ApplicableHeaderTradeDelivery")
    # BT-72 avoids an empty delivery block (warning PEPPOL-EN16931-R008); services end with the period
    event = _sub(delivery, RAM, "ActualDeliverySupplyChainEvent")
    _date_element(event, "OccurrenceDateTime", document.period_end or document.issue_date)
    _settlement(_sub(transaction, RAM, "ApplicableHeaderTradeSettlement"), document)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _exchanged_document(parent: etree._Element, document: InvoiceDocument) -> None:
    _sub(parent, RAM, "ID", document.number)
    _sub(parent, RAM, "TypeCode", document.type_code)
    _date_element(parent, "IssueDateTime", document.issue_date)
    notes: list[tuple[str, str | None]] = [(EMULATOR_NOTICE, None)]
    if document.reason:
        notes.append((f"Motif de l'avoir : {document.reason}", None))
    if document.header:
        notes.append((document.header, None))
    if document.footer:
        notes.append((document.footer, None))
    if document.notes.vat_payment:
        # printed mention of the VAT payment condition (its coded form is BT-8 in the VAT breakdown)
        notes.append((document.notes.vat_payment, None))
    notes += [
        (document.notes.recovery_indemnity, "PMT"),
        (document.notes.late_penalties, "PMD"),
        (document.notes.early_payment_discount, "AAB"),
    ]
    for content, subject in notes:
        note = _sub(parent, RAM, "IncludedNote")
        _sub(note, RAM, "Content", content)
        if subject:
            _sub(note, RAM, "SubjectCode", subject)


def _line_item(parent: etree._Element, line: InvoiceLine) -> None:
    _sub(_sub(parent, RAM, "AssociatedDocumentLineDocument"), RAM, "LineID", str(line.position))
    product = _sub(parent, RAM, "SpecifiedTradeProduct")
    _sub(product, RAM, "Name", line.title)
    if line.description:
        _sub(product, RAM, "Description", line.description)
    agreement = _sub(parent, RAM, "SpecifiedLineTradeAgreement")
    _sub(_sub(agreement, RAM, "NetPriceProductTradePrice"), RAM, "ChargeAmount", _plain(line.unit_price))
    delivery = _sub(parent, RAM, "SpecifiedLineTradeDelivery")
    _sub(delivery, RAM, "BilledQuantity", _plain(line.quantity)).set("unitCode", line.unit_code)
    settlement = _sub(parent, RAM, "SpecifiedLineTradeSettlement")
    tax = _sub(settlement, RAM, "ApplicableTradeTax")
    _sub(tax, RAM, "TypeCode", "VAT")
    _sub(tax, RAM, "CategoryCode", line.vat.category)
    _sub(tax, RAM, "RateApplicablePercent", _percent(line.vat))
    if line.allowance is not None:
        # BG-27, between the line's tax and its summation (XSD order): BT-131 is already net of it
        allowance = _sub(settlement, RAM, "SpecifiedTradeAllowanceCharge")
        _sub(_sub(allowance, RAM, "ChargeIndicator"), UDT, "Indicator", "false")
        if line.allowance.percent is not None and line.allowance.basis is not None:
            _sub(allowance, RAM, "CalculationPercent", _plain(line.allowance.percent))  # BT-138
            _sub(allowance, RAM, "BasisAmount", _amount(line.allowance.basis))  # BT-137
        _sub(allowance, RAM, "ActualAmount", _amount(line.allowance.amount))  # BT-136
        _sub(allowance, RAM, "ReasonCode", DISCOUNT_REASON_CODE)
        _sub(allowance, RAM, "Reason", DISCOUNT_REASON)
    summation = _sub(settlement, RAM, "SpecifiedTradeSettlementLineMonetarySummation")
    _sub(summation, RAM, "LineTotalAmount", _amount(line.net_amount))


def _agreement(parent: etree._Element, document: InvoiceDocument) -> None:
    _party(_sub(parent, RAM, "SellerTradeParty"), document.seller)
    _party(_sub(parent, RAM, "BuyerTradeParty"), document.buyer)
    if document.purchase_order:
        order = _sub(parent, RAM, "BuyerOrderReferencedDocument")
        _sub(order, RAM, "IssuerAssignedID", document.purchase_order)


def _party(parent: etree._Element, party: Party) -> None:
    if party.siret:
        _sub(parent, RAM, "GlobalID", party.siret).set("schemeID", "0009")
    _sub(parent, RAM, "Name", party.name)
    if party.siren:
        legal = _sub(parent, RAM, "SpecifiedLegalOrganization")
        _sub(legal, RAM, "ID", party.siren).set("schemeID", "0002")
    address = _sub(parent, RAM, "PostalTradeAddress")
    if party.address.zip_code:
        _sub(address, RAM, "PostcodeCode", party.address.zip_code)
    if party.address.street:
        _sub(address, RAM, "LineOne", party.address.street)
        if party.address.street_more:
            _sub(address, RAM, "LineTwo", party.address.street_more)
    if party.address.city:
        _sub(address, RAM, "CityName", party.address.city)
    _sub(address, RAM, "CountryID", party.address.country_code)
    if party.electronic_address:
        scheme, value = party.electronic_address
        uri = _sub(parent, RAM, "URIUniversalCommunication")
        _sub(uri, RAM, "URIID", value).set("schemeID", scheme)
    if party.vat_number:
        registration = _sub(parent, RAM, "SpecifiedTaxRegistration")
        _sub(registration, RAM, "ID", party.vat_number).set("schemeID", "VA")


def _settlement(parent: etree._Element, document: InvoiceDocument) -> None:
    _sub(parent, RAM, "PaymentReference", document.number)
    _sub(parent, RAM, "InvoiceCurrencyCode", document.currency)
    if document.payment:
        means = _sub(parent, RAM, "SpecifiedTradeSettlementPaymentMeans")
        _sub(means, RAM, "TypeCode", SEPA_CREDIT_TRANSFER)
        account = _sub(means, RAM, "PayeePartyCreditorFinancialAccount")
        _sub(account, RAM, "IBANID", document.payment.iban)
        if document.payment.beneficiary:
            _sub(account, RAM, "AccountName", document.payment.beneficiary)
        if document.payment.bic:
            institution = _sub(means, RAM, "PayeeSpecifiedCreditorFinancialInstitution")
            _sub(institution, RAM, "BICID", document.payment.bic)
    for group in document.vat_breakdown:
        _vat_breakdown(_sub(parent, RAM, "ApplicableTradeTax"), group, document.vat_due_date_code)
    if document.period_start and document.period_end:
        period = _sub(parent, RAM, "BillingSpecifiedPeriod")
        _date_element(period, "StartDateTime", document.period_start)
        _date_element(period, "EndDateTime", document.period_end)
    terms = _sub(parent, RAM, "SpecifiedTradePaymentTerms")
    _sub(terms, RAM, "Description", document.payment_terms)
    _date_element(terms, "DueDateDateTime", document.due_date)
    summation = _sub(parent, RAM, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(summation, RAM, "LineTotalAmount", _amount(document.line_total))
    _sub(summation, RAM, "TaxBasisTotalAmount", _amount(document.line_total))
    _sub(summation, RAM, "TaxTotalAmount", _amount(document.vat_total)).set("currencyID", document.currency)
    _sub(summation, RAM, "GrandTotalAmount", _amount(document.grand_total))
    _sub(summation, RAM, "DuePayableAmount", _amount(document.grand_total))
    if document.preceding_invoice is not None:
        # BG-3 (BT-25, BT-26), after the monetary summation as the XSD orders it
        reference = _sub(parent, RAM, "InvoiceReferencedDocument")
        _sub(reference, RAM, "IssuerAssignedID", document.preceding_invoice.number)
        formatted = _sub(reference, RAM, "FormattedIssueDateTime")
        _sub(formatted, QDT, "DateTimeString", f"{document.preceding_invoice.issue_date:%Y%m%d}").set("format", "102")


def _vat_breakdown(parent: etree._Element, group: VatBreakdown, due_date_code: str | None) -> None:
    _sub(parent, RAM, "CalculatedAmount", _amount(group.amount))
    _sub(parent, RAM, "TypeCode", "VAT")
    if group.vat.exemption_text:
        _sub(parent, RAM, "ExemptionReason", group.vat.exemption_text)
    _sub(parent, RAM, "BasisAmount", _amount(group.basis))
    _sub(parent, RAM, "CategoryCode", group.vat.category)
    if group.vat.exemption_code:
        _sub(parent, RAM, "ExemptionReasonCode", group.vat.exemption_code)
    if due_date_code:
        _sub(parent, RAM, "DueDateTypeCode", due_date_code)  # BT-8, never with BT-7 (BR-CO-03)
    _sub(parent, RAM, "RateApplicablePercent", _percent(group.vat))


def _date_element(parent: etree._Element, name: str, value: date) -> None:
    holder = _sub(parent, RAM, name)
    _sub(holder, UDT, "DateTimeString", f"{value:%Y%m%d}").set("format", "102")


def _sub(parent: etree._Element, namespace: str, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{namespace}}}{name}")
    if text is not None:
        element.text = text
    return element


def _amount(value: Decimal) -> str:
    return f"{value.quantize(CENT):f}"


def _percent(vat: VatTreatment) -> str:
    return f"{vat.percent:f}"


def _plain(value: Decimal) -> str:
    # no exponent, no trailing zeros: "1250", "0.0004"
    return f"{value.normalize():f}"
