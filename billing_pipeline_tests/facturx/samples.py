"""Qonto-shaped invoice and organization dicts for the document and verifier tests.

Identifiers are fictitious but pass their checksums (SIREN Luhn, French VAT key, IBAN + RIB key).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

SELLER_SIREN = "912345675"
SELLER_VAT = "FR65912345675"
BUYER_SIREN = "843123456"
BUYER_SIRET = "84312345600017"
BUYER_VAT = "FR29843123456"
IBAN = "FR7616958000010001234567834"
BIC = "QNTOFRP1XXX"

ORGANIZATION: dict[str, Any] = {
    "id": "3f0e2d34-6a4c-5d3e-9b1a-0c2d4e6f8a10",
    "slug": "emulated-saas-sas-0001",
    "legal_name": "Emulated SaaS SAS (local Qonto emulator)",
    "legal_number": SELLER_SIREN,
    "legal_country": "FR",
    "legal_address": "1 rue de Rivoli, 75001 Paris, France",
    "legal_form": "SAS",
    "vat_number": SELLER_VAT,
    "address_line_1": "1 rue de Rivoli",
    "address_line_2": "Bâtiment B",
    "address_zipcode": "75001",
    "address_city": "Paris",
    "address_country": "FR",
    "bank_accounts": [{"iban": IBAN, "bic": BIC, "main": True, "status": "active", "currency": "EUR"}],
}

_COMPANY_INVOICE: dict[str, Any] = {
    "id": "0b7e9a52-3f1c-4d8e-9a3b-2c1d5e6f7a80",
    "number": "F-2026-00001",
    "status": "unpaid",
    "issue_date": "2026-02-01",
    "due_date": "2026-03-03",
    "performance_start_date": "2026-01-01",
    "performance_end_date": "2026-01-31",
    "currency": "EUR",
    "purchase_order": "BP-2026-01-acme",
    "header": "Usage for January 2026",
    "footer": "Merci de votre confiance.",
    "client": {
        "id": "5a1d7c2e-1111-4e4e-8d8d-222233334444",
        "name": "Acme Industries SAS",
        "kind": "company",
        "type": "company",
        "email": "billing@acme.example",
        "vat_number": BUYER_VAT,
        "tax_identification_number": BUYER_SIRET,
        "billing_address": {
            "street_address": "12 avenue de l'Europe",
            "city": "Lyon",
            "zip_code": "69002",
            "country_code": "FR",
        },
    },
    "items": [
        {
            "title": "API calls",
            "description": "1 250 000 calls × 0.0004 EUR",
            "quantity": "1250000",
            "unit": "unit",
            "unit_price": {"value": "0.0004", "currency": "EUR"},
            "vat_rate": "0.2",
            "vat_exemption_reason": None,
        },
        {
            "title": "Storage",
            "description": "GB-months",
            "quantity": "123.4567",
            "unit": "gigabyte",
            "unit_price": {"value": "0.023", "currency": "EUR"},
            "vat_rate": "0.2",
        },
        {
            "title": "Support (reverse charge)",
            "quantity": "3",
            "unit": "hour",
            "unit_price": {"value": "150", "currency": "EUR"},
            "vat_rate": "0",
            "vat_exemption_reason": "S283",
        },
        {
            "title": "Documentation pack",
            "quantity": "1",
            "unit": "unit",
            "unit_price": {"value": "19.99", "currency": "EUR"},
            "vat_rate": "0.055",
        },
    ],
    "total_amount": {"value": "1074.50", "currency": "EUR"},
    "vat_amount": {"value": "101.67", "currency": "EUR"},
    "payment_methods": [{"beneficiary_name": "Emulated SaaS SAS", "bic": BIC, "iban": IBAN, "type": "transfer"}],
}

# what the sample must give, worked out by hand:
# 1 250 000 × 0.0004 = 500.00; 123.4567 × 0.023 = 2.8395041 -> 2.84; 3 × 150 = 450.00; 19.99
# S 20 %: basis 502.84, VAT 100.568 -> 100.57; S 5.5 %: basis 19.99, VAT 1.09945 -> 1.10; AE: 450.00
EXPECTED_NET = Decimal("972.83")
EXPECTED_VAT = Decimal("101.67")
EXPECTED_TOTAL = Decimal("1074.50")


def company_invoice(**changes: Any) -> dict[str, Any]:
    invoice = copy.deepcopy(_COMPANY_INVOICE)
    invoice.update(changes)
    return invoice


def draft_invoice() -> dict[str, Any]:
    return company_invoice(number=None, status="draft")


def individual_invoice() -> dict[str, Any]:
    """B2C: no SIREN, no VAT number; legacy root-level address fields."""
    client = {
        "first_name": "Élodie",
        "last_name": "Nguyễn",
        "kind": "individual",
        "type": "individual",
        "email": "elodie@example.org",
        "address": "3 place Bellecour",
        "zip_code": "69002",
        "city": "Lyon",
        "country_code": "FR",
    }
    items = [
        {
            "title": "Starter plan",
            "quantity": "1",
            "unit": "month",
            "unit_price": {"value": "9.90", "currency": "EUR"},
            "vat_rate": "0.2",
        }
    ]
    return company_invoice(number="F-2026-00002", client=client, items=items, purchase_order=None, header=None)


def franchise_invoice() -> dict[str, Any]:
    """Micro-enterprise VAT franchise (art. 293 B CGI): category E with its VATEX code."""
    items = [
        {
            "title": "Consulting",
            "quantity": "2.5",
            "unit": "day",
            "unit_price": {"value": "480", "currency": "EUR"},
            "vat_rate": "0",
            "vat_exemption_reason": "S293B",
        }
    ]
    return company_invoice(number="F-2026-00003", items=items)


def long_invoice(lines: int = 70) -> dict[str, Any]:
    items = [
        {
            "title": f"Metered feature {index:02d}",
            "description": f"Usage of feature {index} during January 2026",
            "quantity": str(index * 7),
            "unit": "unit",
            "unit_price": {"value": "0.125", "currency": "EUR"},
            "vat_rate": "0.2",
        }
        for index in range(1, lines + 1)
    ]
    return company_invoice(number="F-2026-00004", items=items)


def credit_note(**changes: Any) -> dict[str, Any]:
    """A Qonto-shaped credit note on ``company_invoice()``: the lines negated, as Qonto presents them.

    It credits the whole invoice (1074.50 EUR), plus the ``corrected_invoice`` the emulator adds for
    its renderer (number, issue date, period, French notes of the invoice).
    """
    invoice = company_invoice()
    items = [dict(item, quantity=f"-{item['quantity']}") for item in invoice["items"]]
    note: dict[str, Any] = {
        "id": "9c1b2a3d-0000-4a4a-9b9b-111122223333",
        "invoice_id": invoice["id"],
        "number": "AV-2026-00001",
        "issue_date": "2026-02-10",
        "invoice_issue_date": invoice["issue_date"],
        "reason": "Usage billed twice",
        "currency": "EUR",
        "client": invoice["client"],
        "items": items,
        "total_amount": {"value": "-1074.50", "currency": "EUR"},
        "vat_amount": {"value": "-101.67", "currency": "EUR"},
        "corrected_invoice": {
            "number": invoice["number"],
            "issue_date": invoice["issue_date"],
            "performance_start_date": invoice["performance_start_date"],
            "performance_end_date": invoice["performance_end_date"],
        },
    }
    note.update(changes)
    return note
