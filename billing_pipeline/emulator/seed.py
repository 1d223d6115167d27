"""The one organization the emulator serves: a French SAS that is obviously not real.

Identifiers are fictitious but pass their checksums (SIREN Luhn, French VAT key, IBAN mod 97 with a
valid RIB key), so documents built from them validate. The bank code and BIC are Qonto's own, as on
real Qonto accounts.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from typing import Any

from .clock import format_utc
from .config import EMULATOR_OAUTH_REFRESH_TOKEN
from .store import set_meta

ORGANIZATION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://qonto-emulator.invalid/organization"))
LEGAL_NAME = "Emulated SaaS SAS (local Qonto emulator)"
SIREN = "900000019"
VAT_NUMBER = "FR25900000019"
BIC = "QNTOFRP1XXX"
MAIN_IBAN = "FR7616958000010000000010131"
SECOND_IBAN = "FR7616958000010000000020219"

ADDRESS_LINE_1 = "1 rue de l'Émulateur"
ADDRESS_ZIPCODE = "75002"
ADDRESS_CITY = "Paris"
ADDRESS_COUNTRY = "FR"

REFRESH_TOKEN_LIFETIME_MS = 90 * 24 * 3600 * 1000
SIGNING_KEY_META = "url_signing_key"
SEEDED_META = "seeded_at"


def organization_document(now_ms: int) -> dict[str, Any]:
    """``GET /v2/organization``'s object, plus the address fields invoices print."""
    updated_at = format_utc(now_ms)
    return {
        "id": ORGANIZATION_ID,
        "slug": "emulated-saas-sas-0001",
        "legal_name": LEGAL_NAME,
        "legal_number": SIREN,
        "legal_sector": "6201Z",
        "legal_registration_date": "2020-01-15",
        "legal_address": f"{ADDRESS_LINE_1}, {ADDRESS_ZIPCODE} {ADDRESS_CITY}, France",
        "legal_form": "SAS",
        "legal_country": ADDRESS_COUNTRY,
        "legal_share_capital": 10000,
        "locale": "fr",
        "contract_signed_at": "2020-01-20 09:30:00.000000",
        "vat_number": VAT_NUMBER,
        "address_line_1": ADDRESS_LINE_1,
        "address_line_2": None,
        "address_zipcode": ADDRESS_ZIPCODE,
        "address_city": ADDRESS_CITY,
        "address_country": ADDRESS_COUNTRY,
        "bank_accounts": [
            _bank_account("main", "Compte principal (émulé)", MAIN_IBAN, main=True, updated_at=updated_at),
            _bank_account("reserve", "Compte réserve (émulé)", SECOND_IBAN, main=False, updated_at=updated_at),
        ],
    }


def _bank_account(suffix: str, name: str, iban: str, *, main: bool, updated_at: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://qonto-emulator.invalid/bank-account/{suffix}")),
        "slug": f"emulated-saas-sas-bank-account-{suffix}",
        "iban": iban,
        "bic": BIC,
        "currency": "EUR",
        "balance": 0.0,
        "balance_cents": 0,
        "authorized_balance": 0.0,
        "authorized_balance_cents": 0,
        "name": name,
        "updated_at": updated_at,
        "status": "active",
        "main": main,
    }


def seed(connection: sqlite3.Connection, now_ms: int) -> None:
    """Fill an empty state: the organization, the initial OAuth refresh token, a URL signing key."""
    connection.execute(
        "INSERT INTO organization (id, data) VALUES (?, ?)",
        (ORGANIZATION_ID, json.dumps(organization_document(now_ms))),
    )
    connection.execute(
        "INSERT INTO oauth_refresh_tokens (token, issued_at, first_used_at, expires_at) VALUES (?, ?, NULL, ?)",
        (EMULATOR_OAUTH_REFRESH_TOKEN, now_ms, now_ms + REFRESH_TOKEN_LIFETIME_MS),
    )
    set_meta(connection, SIGNING_KEY_META, secrets.token_hex(32))
    set_meta(connection, SEEDED_META, str(now_ms))


def load_organization(connection: sqlite3.Connection) -> dict[str, Any]:
    row = connection.execute("SELECT data FROM organization WHERE id = ?", (ORGANIZATION_ID,)).fetchone()
    if row is None:
        raise RuntimeError("the emulator state has no organization (not seeded)")
    organization: dict[str, Any] = json.loads(row["data"])
    return organization


def organization_ibans(organization: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Active accounts by IBAN."""
    return {account["iban"]: account for account in organization["bank_accounts"] if account.get("status") != "closed"}
