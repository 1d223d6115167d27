"""The figures both documents print, as the emulator's renderers receive them.

``invoice_data.build_invoice_document`` fills an ``InvoiceDocument`` from Qonto's invoice JSON; the
visual PDF (``layout.py``) and the CII XML (``cii.py``) are both rendered from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)

EMULATOR_NOTICE = "Produced by the local Qonto emulator — not a real invoice"


class InvoiceDataError(ValueError):
    """The invoice JSON cannot be turned into a correct document."""


@dataclass(frozen=True)
class PostalAddress:
    street: str | None
    street_more: str | None
    zip_code: str | None
    city: str | None
    country_code: str


@dataclass(frozen=True)
class Party:
    name: str
    siren: str | None
    siret: str | None
    vat_number: str | None
    address: PostalAddress
    email: str | None
    # (scheme id, value): BT-34 / BT-49
    electronic_address: tuple[str, str] | None


@dataclass(frozen=True)
class VatTreatment:
    category: str  # UNCL 5305: S, AE, E
    rate: Decimal  # fraction, 0.2 = 20 %
    exemption_text: str | None
    exemption_code: str | None

    @property
    def percent(self) -> Decimal:
        return (self.rate * HUNDRED).quantize(CENT)


@dataclass(frozen=True)
class LineAllowance:
    """A Qonto item discount as a line allowance (BG-27): BT-136 ``amount``; for a percentage
    discount also BT-138 ``percent`` (20 = 20 %) of BT-137 ``basis`` (quantity × unit price)."""

    amount: Decimal
    percent: Decimal | None = None
    basis: Decimal | None = None


@dataclass(frozen=True)
class InvoiceLine:
    position: int
    title: str
    description: str | None
    quantity: Decimal
    unit_label: str | None
    unit_code: str
    unit_price: Decimal
    vat: VatTreatment
    net_amount: Decimal  # BT-131: quantity × unit price rounded, less the allowance
    allowance: LineAllowance | None = None


@dataclass(frozen=True)
class VatBreakdown:
    vat: VatTreatment
    basis: Decimal
    amount: Decimal


@dataclass(frozen=True)
class PaymentAccount:
    iban: str
    bic: str | None
    beneficiary: str | None


@dataclass(frozen=True)
class LegalNotes:
    recovery_indemnity: str  # PMT
    late_penalties: str  # PMD
    early_payment_discount: str  # AAB
    # "Nature des opérations" (décret 2022-1299), printed; its XML form is BT-23
    nature_of_operations: str | None = None
    # the VAT payment condition as printed (e.g. the "option … d'après les débits" mention)
    vat_payment: str | None = None


@dataclass(frozen=True)
class PrecedingInvoice:
    """BG-3: the invoice a credit note corrects (BT-25 number, BT-26 issue date)."""

    number: str
    issue_date: date


COMMERCIAL_INVOICE = "380"
CREDIT_NOTE = "381"


@dataclass(frozen=True)
class InvoiceDocument:
    number: str | None
    status: str
    issue_date: date
    due_date: date
    period_start: date | None
    period_end: date | None
    currency: str
    purchase_order: str | None
    header: str | None
    footer: str | None
    seller: Party
    buyer: Party
    lines: tuple[InvoiceLine, ...]
    vat_breakdown: tuple[VatBreakdown, ...]
    line_total: Decimal
    vat_total: Decimal
    grand_total: Decimal
    payment: PaymentAccount | None
    payment_terms: str
    notes: LegalNotes
    type_code: str = COMMERCIAL_INVOICE  # BT-3
    business_process: str = "S1"  # BT-23, the French "cadre de facturation"
    vat_due_date_code: str | None = None  # BT-8 (UNTDID 2475: 5 invoice date, 29 delivery, 72 payment)
    preceding_invoice: PrecedingInvoice | None = None
    reason: str | None = None  # why a credit note was issued

    @property
    def is_credit_note(self) -> bool:
        return self.type_code == CREDIT_NOTE

    @property
    def title(self) -> str:
        if self.number is None:
            return "Brouillon de facture"
        return f"{'Avoir' if self.is_credit_note else 'Facture'} {self.number}"

    def correction_rows(self) -> list[tuple[str, str]]:
        """The references a credit note prints: the invoice it corrects and why."""
        rows = []
        if self.preceding_invoice is not None:
            preceding = self.preceding_invoice
            rows.append(("Facture d'origine", f"{preceding.number} du {preceding.issue_date:%d/%m/%Y}"))
        if self.reason:
            rows.append(("Motif", self.reason))
        return rows


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
