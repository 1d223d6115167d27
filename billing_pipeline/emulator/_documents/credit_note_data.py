"""Qonto's credit-note JSON turned into the figures of a Factur-X credit note (CII type 381).

Qonto presents a credit note negatively (quantities and amounts below zero). EN 16931 expresses a
credit note the other way round: type code 381 *is* the sign, so every quantity and amount in the
document is positive. Keeping them positive also sidesteps the Schematron's XPath ``round()``,
which rounds halves towards +∞ and would disagree with half-up rounding on negative amounts.

The credit note is read as the invoice it mirrors (same parties, lines, VAT arithmetic and French
notes), then marked as a credit note referring to the corrected invoice (BG-3: BT-25, BT-26).
No payment instructions: the money flows back to the buyer, so the seller's IBAN has no place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from billing_pipeline.emulator._documents.document_model import (
    CREDIT_NOTE,
    InvoiceDataError,
    InvoiceDocument,
    PrecedingInvoice,
)
from billing_pipeline.emulator._documents.invoice_data import build_invoice_document
from billing_pipeline.emulator._documents.json_fields import read_date, read_decimal, read_mapping, read_text

CORRECTED_INVOICE_KEY = "corrected_invoice"
_INVOICE_NOTES = ("legal_fixed_compensation", "late_payment_penalties", "discount_conditions")


def build_credit_note_document(credit_note: Mapping[str, Any], organization: Mapping[str, Any]) -> InvoiceDocument:
    """Read the credit note (with its ``corrected_invoice``); raise ``InvoiceDataError`` on bad data."""
    invoice = read_mapping(credit_note.get(CORRECTED_INVOICE_KEY), CORRECTED_INVOICE_KEY)
    invoice_number = read_text(invoice.get("number"))
    if invoice_number is None:
        raise InvoiceDataError(f"{CORRECTED_INVOICE_KEY}.number is missing: a credit note must name its invoice")
    preceding = PrecedingInvoice(
        number=invoice_number, issue_date=read_date(invoice.get("issue_date"), f"{CORRECTED_INVOICE_KEY}.issue_date")
    )
    number = read_text(credit_note.get("number"))
    if number is None:
        raise InvoiceDataError("a Factur-X credit note needs its number")
    mirrored: dict[str, Any] = {
        "number": number,
        "status": "unpaid",
        "currency": credit_note.get("currency"),
        "issue_date": credit_note.get("issue_date"),
        # the credit is available at once: BT-9 = BT-2 (BR-FR-CO-07 accepts an equal date)
        "due_date": credit_note.get("issue_date"),
        "performance_start_date": invoice.get("performance_start_date"),
        "performance_end_date": invoice.get("performance_end_date"),
        "client": credit_note.get("client"),
        "items": [_positive_item(item, index) for index, item in enumerate(_items(credit_note.get("items")))],
        **{name: invoice.get(name) for name in _INVOICE_NOTES},
    }
    document = build_invoice_document(mirrored, organization)
    return replace(
        document,
        type_code=CREDIT_NOTE,
        preceding_invoice=preceding,
        reason=read_text(credit_note.get("reason")),
        payment=None,
        payment_terms=(
            f"Avoir sur la facture {preceding.number} du {preceding.issue_date:%d/%m/%Y}, "
            "à déduire de cette facture ou remboursé par virement."
        ),
    )


def _items(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value:
        raise InvoiceDataError("the credit note has no items")
    return [read_mapping(item, f"items[{index}]") for index, item in enumerate(value)]


def _positive_item(item: Mapping[str, Any], index: int) -> dict[str, Any]:
    quantity = read_decimal(item.get("quantity"), f"items[{index}].quantity")
    if quantity >= 0:
        # Qonto presents credit-note quantities negated; a positive one means the data is not Qonto's
        raise InvoiceDataError(f"items[{index}].quantity must be negative, as Qonto presents a credit note")
    return {**item, "quantity": format(-quantity, "f")}
