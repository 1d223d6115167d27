"""Pydantic models at the boundary of the Factur-X verifier."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from billing_pipeline.facturx.rules import UNREADABLE_RULES

COMMERCIAL_INVOICE_TYPE_CODE = "380"
CREDIT_NOTE_TYPE_CODE = "381"


class Finding(BaseModel):
    """One problem: an official rule id (``BR-CO-15``, ``BR-FR-12_BT-49``…) or one of ours (``BP-…``)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    message: str
    # the verdict layer it belongs to (``Layer`` value); not part of the JSON shape ``{rule, message}``
    layer: str | None = Field(default=None, exclude=True)


class Checks(BaseModel):
    """The verdict per layer: True passed, False failed, None not applicable (or not reached)."""

    model_config = ConfigDict(frozen=True)

    pdf: bool | None = None  # PDF/A-3 container, XMP, /AF (None for an XML file)
    xml_schema: bool | None = None  # well-formed, safe, CII or UBL, XSD, readable values
    en16931: bool | None = None  # the official EN 16931 rules of the syntax
    profile: bool | None = None  # the Factur-X / ZUGFeRD profile rules (None for UBL and other CIUS)
    france: bool | None = None  # BR-FR Flux 2 (None unless seller and buyer are in France, or --rules france)
    arithmetic: bool | None = None  # our exact money and check-digit computations

    @property
    def all_applicable_pass(self) -> bool:
        return all(value is not False for value in self.model_dump().values())


class Totals(BaseModel):
    model_config = ConfigDict(frozen=True)

    net: Decimal  # BT-109, total without VAT
    vat: Decimal  # BT-110
    total: Decimal  # BT-112, total with VAT
    due: Decimal  # BT-115, amount due for payment


class InvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: str | None  # BT-126
    name: str | None  # BT-153
    quantity: Decimal | None  # BT-129
    unit_code: str | None  # BT-130
    unit_price: Decimal | None  # BT-146 (net price)
    base_quantity: Decimal | None  # BT-149
    net_amount: Decimal | None  # BT-131
    vat_category: str | None  # BT-151
    vat_rate: Decimal | None  # BT-152, a percentage: 20 = 20 %
    allowances: Decimal = Decimal(0)  # Σ BT-136
    charges: Decimal = Decimal(0)  # Σ BT-141
    gross_price: Decimal | None = None  # BT-148
    price_discount: Decimal | None = None  # BT-147 (gross price allowances − charges)
    gross_base_quantity: Decimal | None = None  # the gross price's own base quantity, when written


class VatBreakdownEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str | None  # BT-118
    rate: Decimal | None  # BT-119, a percentage
    basis: Decimal | None  # BT-116
    amount: Decimal | None  # BT-117
    exemption_reason: str | None = None  # BT-120
    exemption_reason_code: str | None = None  # BT-121
    due_date_code: str | None = None  # BT-8 (VAT point date code: 5 invoice date, 29 delivery, 72 payment)


class DocumentAllowanceCharge(BaseModel):
    """A document-level allowance (BG-20) or charge (BG-21)."""

    model_config = ConfigDict(frozen=True)

    is_charge: bool
    amount: Decimal | None
    vat_category: str | None
    vat_rate: Decimal | None


class FacturXInvoice(BaseModel):
    """The business terms of an embedded ``factur-x.xml`` that our checks and comparisons use."""

    model_config = ConfigDict(frozen=True)

    profile: str | None  # "EN 16931", "BASIC", … (from BT-24)
    guideline_id: str | None  # BT-24 as written
    business_process: str | None  # BT-23
    number: str | None  # BT-1
    type_code: str | None  # BT-3
    issue_date: date | None  # BT-2
    due_date: date | None  # BT-9
    currency: str | None  # BT-5
    buyer_reference: str | None  # BT-10
    purchase_order: str | None  # BT-13
    seller_name: str | None  # BT-27
    seller_siren: str | None  # BT-30 (schemeID 0002)
    seller_legal_id: str | None  # BT-30 whatever its scheme
    seller_legal_id_scheme: str | None
    seller_vat_id: str | None  # BT-31
    seller_country: str | None  # BT-40
    buyer_name: str | None  # BT-44
    buyer_siren: str | None  # BT-47 (schemeID 0002)
    buyer_legal_id: str | None
    buyer_legal_id_scheme: str | None
    buyer_vat_id: str | None  # BT-48
    buyer_country: str | None  # BT-55
    payment_means_code: str | None  # BT-81
    iban: str | None  # BT-84
    bic: str | None  # BT-86
    period_start: date | None  # BT-73
    period_end: date | None  # BT-74
    lines: list[InvoiceLine]
    vat_breakdown: list[VatBreakdownEntry]
    allowances_charges: list[DocumentAllowanceCharge]
    line_total: Decimal | None  # BT-106
    allowance_total: Decimal | None  # BT-107
    charge_total: Decimal | None  # BT-108
    tax_basis_total: Decimal | None  # BT-109
    vat_total: Decimal | None  # BT-110
    grand_total: Decimal | None  # BT-112
    prepaid_amount: Decimal | None  # BT-113
    rounding_amount: Decimal | None  # BT-114
    due_payable_amount: Decimal | None  # BT-115
    # BG-3, the first preceding invoice reference: what a credit note (BT-3 381) corrects
    preceding_invoice_number: str | None = None  # BT-25
    preceding_invoice_date: date | None = None  # BT-26
    # BG-1 notes by subject code (BT-21 → BT-22): PMD, PMT, AAB are the French mandatory mentions
    notes: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def is_credit_note(self) -> bool:
        """BT-3 is 381: every amount is positive and means money owed back to the buyer."""
        return self.type_code == CREDIT_NOTE_TYPE_CODE

    def totals(self) -> Totals | None:
        net, vat, total, due = self.tax_basis_total, self.vat_total, self.grand_total, self.due_payable_amount
        if net is None or vat is None or total is None or due is None:
            return None
        return Totals(net=net, vat=vat, total=total, due=due)


class VerificationReport(BaseModel):
    """The verdict on one file. ``valid`` is true only when ``errors`` is empty, which is when every
    applicable layer of ``checks`` is true."""

    model_config = ConfigDict(frozen=True)

    file: str | None
    valid: bool
    profile: str | None
    invoice_number: str | None
    errors: list[Finding]
    warnings: list[Finding]
    totals: Totals | None
    invoice: FacturXInvoice | None
    syntax: str | None = None  # "CII" or "UBL"; None when the XML could not be read as either
    checks: Checks = Field(default_factory=Checks)

    @property
    def unreadable(self) -> bool:
        """The input is not a PDF or XML document we could read at all, or is corrupt (exit status 2)."""
        return any(finding.rule in UNREADABLE_RULES for finding in self.errors)

    def has_rule(self, rule: str) -> bool:
        """True when an error or warning carries ``rule`` or starts with ``rule`` + ``_`` (BR-FR ids)."""
        return any(
            finding.rule == rule or finding.rule.startswith(f"{rule}_") for finding in (*self.errors, *self.warnings)
        )

    def to_json_dict(self) -> dict[str, object]:
        """The CLI's JSON shape (amounts as decimal strings)."""
        return {
            "file": self.file,
            "valid": self.valid,
            "syntax": self.syntax,
            "profile": self.profile,
            "invoice_number": self.invoice_number,
            "errors": [finding.model_dump() for finding in self.errors],
            "warnings": [finding.model_dump() for finding in self.warnings],
            "totals": ({key: str(value) for key, value in self.totals.model_dump().items()} if self.totals else None),
            "checks": self.checks.model_dump(),
        }


class ExpectedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal  # a fraction, as in Qonto's API: 0.2 = 20 %
    net_amount: Decimal
    # the line's discount, a line allowance in the XML (Σ BT-136); None = no allowance expected
    discount: Decimal | None = None


class ExpectedInvoice(BaseModel):
    """What we billed (the billing plan, or Qonto's invoice object), to compare with the XML."""

    model_config = ConfigDict(frozen=True)

    number: str | None
    currency: str
    net_total: Decimal
    vat_total: Decimal
    total: Decimal
    lines: list[ExpectedLine] | None = None
    period_start: date | None = None
    period_end: date | None = None
    buyer_siren: str | None = None
    # "381" for a credit note; None skips the check
    type_code: str | None = None
    # the invoice a credit note corrects (BT-25); None skips the check
    preceding_invoice_number: str | None = None
    # the mandatory mentions asked of Qonto (its invoice ``settings``); None skips the check
    mentions: dict[str, str] | None = None
