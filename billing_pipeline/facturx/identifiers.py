"""Checksums of the identifiers no Schematron checks: SIREN/SIRET (Luhn), VAT ids, IBAN, BIC."""

from __future__ import annotations

from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.eu import vat as stdnum_eu_vat
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.models import FacturXInvoice

_EU_VAT_PREFIXES = frozenset(code.upper() for code in stdnum_eu_vat.MEMBER_STATES) | {"EL"}
_RIB_LETTERS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "12345678912345678923456789")


def check_identifiers(invoice: FacturXInvoice, findings: Findings) -> None:
    parties = (
        (
            "seller",
            invoice.seller_legal_id,
            invoice.seller_legal_id_scheme,
            invoice.seller_vat_id,
            "BP-ID-01",
            "BP-ID-03",
            "BT-30",
            "BT-31",
        ),
        (
            "buyer",
            invoice.buyer_legal_id,
            invoice.buyer_legal_id_scheme,
            invoice.buyer_vat_id,
            "BP-ID-02",
            "BP-ID-04",
            "BT-47",
            "BT-48",
        ),
    )
    for role, legal_id, scheme, vat_id, siren_rule, vat_rule, legal_term, vat_term in parties:
        siren = None
        if legal_id is not None and scheme == "0002":
            if stdnum_siren.is_valid(legal_id):
                siren = stdnum_siren.compact(legal_id)
            else:
                findings.add(siren_rule, f"the {role} SIREN ({legal_term}) {legal_id!r} is not a valid SIREN")
        elif legal_id is not None and scheme == "0009":
            if stdnum_siret.is_valid(legal_id):
                siren = stdnum_siret.to_siren(legal_id)
            else:
                findings.add("BP-ID-08", f"the {role} SIRET ({legal_term}) {legal_id!r} is not a valid SIRET")
        if vat_id is not None:
            _check_vat_id(role, vat_id, siren, vat_rule, vat_term, findings)
    if invoice.iban is not None:
        problem = _iban_problem(invoice.iban)
        if problem:
            findings.add("BP-ID-06", f"the IBAN (BT-84) {invoice.iban!r} {problem}")
    if invoice.bic is not None and not stdnum_bic.is_valid(invoice.bic):
        findings.add("BP-ID-07", f"the BIC (BT-86) {invoice.bic!r} is not a valid BIC")


def _check_vat_id(role: str, vat_id: str, siren: str | None, rule: str, term: str, findings: Findings) -> None:
    compact = vat_id.replace(" ", "").upper()
    prefix = compact[:2]
    if prefix not in _EU_VAT_PREFIXES:
        return  # outside the EU: no checksum we can rely on
    if not stdnum_eu_vat.is_valid(compact):
        findings.add(rule, f"the {role} VAT identifier ({term}) {vat_id!r} is not valid")
        return
    if prefix == "FR" and siren is not None and compact[4:].isdigit() and compact[4:] != siren:
        findings.add(
            "BP-ID-05",
            f"the {role} VAT identifier {vat_id!r} belongs to SIREN {compact[4:]}, not to {siren}",
        )


def _iban_problem(iban: str) -> str | None:
    if not stdnum_iban.is_valid(iban):
        return "has wrong check digits or format"
    compact = stdnum_iban.compact(iban)
    # stdnum checks the IBAN check digits only; French (and Monaco) BBANs carry their own RIB key
    if compact[:2] in {"FR", "MC"} and len(compact) == 27:
        bank, branch, account, key = compact[4:9], compact[9:14], compact[14:25], compact[25:27]
        if not (bank + branch + key).isdigit():
            return "has a malformed French BBAN"
        expected = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account.translate(_RIB_LETTERS))) % 97
        if int(key) != expected:
            return f"has a wrong RIB key {key} (expected {expected:02d})"
    return None
