"""French company identifiers (SIREN, SIRET) as the e-invoicing directory reads them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SIREN = re.compile(r"^\d{9}$")
_SIREN_PREFIX = re.compile(r"^(\d{9})(_|$)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_valid_siren(value: str) -> bool:
    """9 digits whose Luhn key is right (INSEE's rule for SIREN numbers)."""
    return bool(_SIREN.match(value)) and luhn_valid(value)


def client_siren(client: Mapping[str, Any]) -> str | None:
    """The client's valid SIREN: from ``e_invoicing_address`` (the routing address) first, else from
    ``tax_identification_number`` (a SIREN, or a SIRET whose first 9 digits are the SIREN)."""
    address = str(client.get("e_invoicing_address") or "").strip()
    match = _SIREN_PREFIX.match(address)
    if match and is_valid_siren(match.group(1)):
        return match.group(1)
    tax_id = re.sub(r"[\s.]", "", str(client.get("tax_identification_number") or ""))
    if len(tax_id) in (9, 14) and tax_id.isdigit() and is_valid_siren(tax_id[:9]):
        return tax_id[:9]
    return None


def client_country(client: Mapping[str, Any]) -> str | None:
    billing = client.get("billing_address") or {}
    country = billing.get("country_code") or client.get("country_code")
    return str(country).upper() if country else None


def e_invoicing_reachable(client: Mapping[str, Any], unreachable: frozenset[str]) -> bool:
    """A French company with a valid SIREN is in the directory (the emulator's Annuaire), unless
    the server was started with its SIREN in ``--einvoicing-unreachable``; nobody else is."""
    if client.get("kind") != "company" or client_country(client) != "FR":
        return False
    siren = client_siren(client)
    return siren is not None and siren not in unreachable
