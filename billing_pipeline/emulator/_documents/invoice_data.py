"""Qonto's client-invoice JSON turned into the exact figures both documents print.

Everything is computed with ``Decimal`` from the decimal strings of the JSON, with EN 16931
rounding: line net = round(quantity × unit price, 2) − the item's discount (a line allowance,
computed as money.py does: absolute = its value, percentage = round(gross × fraction)); VAT once
per (category, rate) on the summed line nets; totals are sums. The visual PDF and the CII XML are both rendered from
``InvoiceDocument``, so they cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from billing_pipeline.emulator._documents.document_model import (
    InvoiceDataError,
    InvoiceDocument,
    InvoiceLine,
    LegalNotes,
    LineAllowance,
    Party,
    PaymentAccount,
    PostalAddress,
    VatBreakdown,
    VatTreatment,
    round_cents,
)
from billing_pipeline.emulator._documents.json_fields import (
    decimal_places,
    read_compact,
    read_date,
    read_decimal,
    read_digits,
    read_mapping,
    read_optional_date,
    read_text,
)

MAX_QUANTITY_DECIMALS = 4
MAX_PRICE_DECIMALS = 6

# Qonto exemption reason -> (category, BT-120 text, BT-121 code or None).
# S283 is the French reverse charge (art. 283 CGI); S293B the micro-enterprise franchise.
_EXEMPTIONS: dict[str, tuple[str, str, str | None]] = {
    "S283": ("AE", "Autoliquidation", "VATEX-EU-AE"),
    "S293B": ("E", "TVA non applicable, art. 293 B du CGI", "VATEX-FR-FRANCHISE"),
    "S262.1": ("E", "Exonération de TVA, art. 262 I du CGI", None),
    "S259": ("E", "Exonération de TVA, art. 259 du CGI", None),
    "S261": ("E", "Exonération de TVA, art. 261 du CGI", None),
    "S262": ("E", "Exonération de TVA, art. 262 du CGI", None),
    "S263": ("E", "Exonération de TVA, art. 263 du CGI", None),
}
_DEFAULT_EXEMPTION_TEXT = "Exonération de TVA"

# Qonto's free-text units -> UN/ECE Recommendation 20 codes (BT-130). Unknown units are billed
# as "C62" (one, a unit); the printed PDF keeps Qonto's own wording.
_UNIT_CODES: dict[str, str] = {
    "unit": "C62",
    "units": "C62",
    "piece": "C62",
    "pieces": "C62",
    "item": "C62",
    "call": "C62",
    "calls": "C62",
    "request": "C62",
    "requests": "C62",
    "hour": "HUR",
    "hours": "HUR",
    "minute": "MIN",
    "minutes": "MIN",
    "second": "SEC",
    "seconds": "SEC",
    "day": "DAY",
    "days": "DAY",
    "week": "WEE",
    "weeks": "WEE",
    "month": "MON",
    "months": "MON",
    "year": "ANN",
    "years": "ANN",
    "gram": "GRM",
    "kilogram": "KGM",
    "ton": "TNE",
    "meter": "MTR",
    "kilometer": "KMT",
    "square_meter": "MTK",
    "cubic_meter": "MTQ",
    "liter": "LTR",
    "kilowatt_hour": "KWH",
    "megabyte": "4L",
    "gigabyte": "E34",
    "terabyte": "E35",
}
_REC20_CODES = frozenset(_UNIT_CODES.values())

_SIREN = re.compile(r"^\d{9}$")
_SIRET = re.compile(r"^\d{14}$")
_SIREN_ADDRESS = re.compile(r"^\d{9}(_.+)?$")

RECOVERY_INDEMNITY_NOTE = "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 €"
LATE_PENALTIES_NOTE = (
    "Pénalités de retard : trois fois le taux d'intérêt légal, exigibles dès le lendemain de la date d'échéance"
)
NO_EARLY_DISCOUNT_NOTE = "Pas d'escompte pour paiement anticipé"

# Qonto's settings.transaction_type -> (BT-23 cadre de facturation, printed nature of operations):
# B1 goods, S1 services, M1 both — each "invoice to be paid" (the deposit/paid variants are not used)
_TRANSACTION_TYPES: dict[str, tuple[str, str]] = {
    "goods": ("B1", "Nature des opérations : livraisons de biens"),
    "services": ("S1", "Nature des opérations : prestations de services"),
    "goods_and_services": ("M1", "Nature des opérations : livraisons de biens et prestations de services"),
}
DEFAULT_TRANSACTION_TYPE = "services"  # a SaaS bills services
# Qonto's settings.vat_payment_condition -> (BT-8 code or None, printed mention). The mapping is
# the emulator's reading [unconfirmed]: "on_receipts" = VAT due on payment (72, the rule for
# services), "compensated_for_sales" = the supplier opted for VAT on debits (5, invoice date),
# which French law requires to be printed as "option pour le paiement de la taxe d'après les débits".
_VAT_PAYMENT_CONDITIONS: dict[str, tuple[str | None, str]] = {
    "on_receipts": ("72", "TVA exigible sur les encaissements"),
    "compensated_for_sales": ("5", "Option pour le paiement de la taxe d'après les débits"),
    "exempt": (None, "Condition de paiement de la TVA : exonération"),
}


def build_invoice_document(invoice: Mapping[str, Any], organization: Mapping[str, Any]) -> InvoiceDocument:
    """Read the Qonto invoice and organization dicts; raise ``InvoiceDataError`` on bad data."""
    currency = read_text(invoice.get("currency")) or "EUR"
    lines = tuple(_line(position, item) for position, item in enumerate(_items(invoice.get("items")), start=1))
    if not lines:
        raise InvoiceDataError("the invoice has no items")
    if _has_discount(invoice.get("discount")):
        raise InvoiceDataError("invoice-level discounts are not supported by the emulator's documents")
    breakdown = _vat_breakdown(lines)
    line_total = sum((line.net_amount for line in lines), Decimal("0.00"))
    vat_total = sum((group.amount for group in breakdown), Decimal("0.00"))
    issue_date = read_date(invoice.get("issue_date"), "issue_date")
    due_date = read_date(invoice.get("due_date"), "due_date")
    # the settings' transaction type and VAT condition show in the invoice's organization snapshot
    issuer = invoice.get("organization")
    issuer = issuer if isinstance(issuer, Mapping) else {}
    transaction_type = read_text(issuer.get("transaction_type")) or DEFAULT_TRANSACTION_TYPE
    if transaction_type not in _TRANSACTION_TYPES:
        raise InvoiceDataError(f"organization.transaction_type {transaction_type!r} is not goods, services or both")
    business_process, nature = _TRANSACTION_TYPES[transaction_type]
    condition = read_text(issuer.get("vat_payment_condition"))
    if condition is not None and condition not in _VAT_PAYMENT_CONDITIONS:
        raise InvoiceDataError(f"organization.vat_payment_condition {condition!r} is not a Qonto value")
    vat_due_code, vat_mention = _VAT_PAYMENT_CONDITIONS[condition] if condition else (None, None)
    return InvoiceDocument(
        number=read_text(invoice.get("number")),
        status=read_text(invoice.get("status")) or "draft",
        issue_date=issue_date,
        due_date=due_date,
        period_start=read_optional_date(invoice.get("performance_start_date"), "performance_start_date"),
        period_end=read_optional_date(invoice.get("performance_end_date"), "performance_end_date"),
        currency=currency,
        purchase_order=read_text(invoice.get("purchase_order")),
        header=read_text(invoice.get("header")),
        footer=read_text(invoice.get("footer")),
        seller=_seller(organization),
        buyer=_buyer(read_mapping(invoice.get("client"), "client")),
        lines=lines,
        vat_breakdown=breakdown,
        line_total=line_total,
        vat_total=vat_total,
        grand_total=line_total + vat_total,
        payment=_payment(invoice, organization),
        payment_terms=f"Paiement par virement SEPA au plus tard le {due_date:%d/%m/%Y}.",
        notes=LegalNotes(
            recovery_indemnity=read_text(invoice.get("legal_fixed_compensation")) or RECOVERY_INDEMNITY_NOTE,
            late_penalties=read_text(invoice.get("late_payment_penalties")) or LATE_PENALTIES_NOTE,
            early_payment_discount=read_text(invoice.get("discount_conditions")) or NO_EARLY_DISCOUNT_NOTE,
            nature_of_operations=nature,
            vat_payment=vat_mention,
        ),
        business_process=business_process,
        vat_due_date_code=vat_due_code,
    )


def _items(value: object) -> Sequence[Mapping[str, Any]]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvoiceDataError("items must be a list")
    return [read_mapping(item, f"items[{index}]") for index, item in enumerate(value)]


def _line(position: int, item: Mapping[str, Any]) -> InvoiceLine:
    where = f"items[{position - 1}]"
    title = read_text(item.get("title"))
    if not title:
        raise InvoiceDataError(f"{where}.title is missing")
    quantity = read_decimal(item.get("quantity"), f"{where}.quantity")
    unit_price = read_decimal(item.get("unit_price"), f"{where}.unit_price")
    if quantity <= 0:
        raise InvoiceDataError(f"{where}.quantity must be positive")
    if unit_price < 0:
        raise InvoiceDataError(f"{where}.unit_price must not be negative")
    # French CTC limits (BR-FR-DEC-*): rounding here would silently change the money
    if decimal_places(quantity) > MAX_QUANTITY_DECIMALS:
        raise InvoiceDataError(f"{where}.quantity has more than {MAX_QUANTITY_DECIMALS} decimals")
    if decimal_places(unit_price) > MAX_PRICE_DECIMALS:
        raise InvoiceDataError(f"{where}.unit_price has more than {MAX_PRICE_DECIMALS} decimals")
    unit_label = read_text(item.get("unit"))
    gross = round_cents(quantity * unit_price)
    allowance = _allowance(item.get("discount"), gross, where)
    return InvoiceLine(
        position=position,
        title=title,
        description=read_text(item.get("description")),
        quantity=quantity,
        unit_label=unit_label,
        unit_code=_unit_code(unit_label),
        unit_price=unit_price,
        vat=_vat_treatment(item, where),
        net_amount=gross - (allowance.amount if allowance else 0),
        allowance=allowance,
    )


def _allowance(value: object, gross: Decimal, where: str) -> LineAllowance | None:
    """The item's discount ``{type, value[, amount]}`` as a line allowance, from ``type`` and
    ``value`` (always positive, as sent, even on a credit note whose ``amount`` Qonto negates)."""
    if not _has_discount(value):
        return None
    assert isinstance(value, Mapping)
    kind = read_text(value.get("type"))
    amount = read_decimal(value.get("value"), f"{where}.discount.value")
    if kind == "percentage":
        if not Decimal(0) < amount <= Decimal(1):
            raise InvoiceDataError(f"{where}.discount.value must be a fraction above 0 and at most 1")
        return LineAllowance(amount=round_cents(gross * amount), percent=amount * 100, basis=gross)
    if kind != "absolute":
        raise InvoiceDataError(f"{where}.discount.type must be percentage or absolute, not {kind!r}")
    if amount <= 0 or amount > gross or decimal_places(amount) > 2:
        raise InvoiceDataError(f"{where}.discount.value must be in cents, above 0 and at most the line's {gross}")
    return LineAllowance(amount=amount)


def _vat_treatment(item: Mapping[str, Any], where: str) -> VatTreatment:
    rate = read_decimal(item.get("vat_rate"), f"{where}.vat_rate")
    if not Decimal(0) <= rate < Decimal(1):
        raise InvoiceDataError(f"{where}.vat_rate must be a fraction between 0 and 1 (0.2 = 20 %)")
    reason = read_text(item.get("vat_exemption_reason"))
    if rate > 0:
        return VatTreatment("S", rate, None, None)
    if reason is None:
        return VatTreatment("E", rate, _DEFAULT_EXEMPTION_TEXT, None)
    category, text, code = _EXEMPTIONS.get(reason, ("E", f"{_DEFAULT_EXEMPTION_TEXT} ({reason})", None))
    return VatTreatment(category, rate, text, code)


def _vat_breakdown(lines: Sequence[InvoiceLine]) -> tuple[VatBreakdown, ...]:
    # One group per (category, rate), as EN 16931 requires (BR-S-08, BR-E-08, BR-AE-08).
    groups: dict[tuple[str, Decimal], list[InvoiceLine]] = {}
    for line in lines:
        groups.setdefault((line.vat.category, line.vat.percent), []).append(line)
    breakdown = []
    for grouped in groups.values():
        basis = sum((line.net_amount for line in grouped), Decimal("0.00"))
        rate = grouped[0].vat.rate
        texts = list(dict.fromkeys(line.vat.exemption_text for line in grouped if line.vat.exemption_text))
        codes = {line.vat.exemption_code for line in grouped}
        treatment = VatTreatment(
            category=grouped[0].vat.category,
            rate=rate,
            exemption_text="; ".join(texts) or None,
            exemption_code=codes.pop() if len(codes) == 1 else None,
        )
        breakdown.append(VatBreakdown(treatment, basis, round_cents(basis * rate)))
    return tuple(breakdown)


def _seller(organization: Mapping[str, Any]) -> Party:
    name = read_text(organization.get("legal_name"))
    if not name:
        raise InvoiceDataError("organization.legal_name is missing")
    siren = read_digits(organization.get("legal_number"))
    country = read_text(organization.get("address_country")) or read_text(organization.get("legal_country")) or "FR"
    street = read_text(organization.get("address_line_1"))
    if street is None:
        # GET /v2/organization only has a one-line address
        street = read_text(organization.get("legal_address"))
    address = PostalAddress(
        street=street,
        street_more=read_text(organization.get("address_line_2")),
        zip_code=read_text(organization.get("address_zipcode")),
        city=read_text(organization.get("address_city")),
        country_code=country.upper(),
    )
    return Party(
        name=name,
        siren=siren if siren and _SIREN.match(siren) else None,
        siret=None,
        vat_number=read_compact(organization.get("vat_number")),
        address=address,
        email=None,
        electronic_address=("0225", siren) if siren and _SIREN.match(siren) else None,
    )


def _buyer(client: Mapping[str, Any]) -> Party:
    name = read_text(client.get("name"))
    if not name:
        name = " ".join(
            part for part in (read_text(client.get("first_name")), read_text(client.get("last_name"))) if part
        )
    if not name:
        raise InvoiceDataError("client has neither a name nor first/last names")
    tax_id = read_digits(client.get("tax_identification_number"))
    billing = client.get("billing_address")
    billing = billing if isinstance(billing, Mapping) else {}
    country = read_text(billing.get("country_code")) or read_text(client.get("country_code")) or "FR"
    siren = siret = None
    # BT-47 with scheme 0002 is a French SIREN: read only for French buyers
    if country.upper() == "FR":
        if tax_id and _SIRET.match(tax_id):
            siret, siren = tax_id, tax_id[:9]
        elif tax_id and _SIREN.match(tax_id):
            siren = tax_id
        else:
            registered = read_text(client.get("e_invoicing_address")) or ""
            siren = registered[:9] if _SIREN_ADDRESS.match(registered) else None
    address = PostalAddress(
        street=read_text(billing.get("street_address")) or read_text(client.get("address")),
        street_more=None,
        zip_code=read_text(billing.get("zip_code")) or read_text(client.get("zip_code")),
        city=read_text(billing.get("city")) or read_text(client.get("city")),
        country_code=country.upper(),
    )
    email = read_text(client.get("email"))
    return Party(
        name=name,
        siren=siren,
        siret=siret,
        vat_number=read_compact(client.get("vat_number")),
        address=address,
        email=email,
        electronic_address=_buyer_electronic_address(client, siren, email),
    )


def _buyer_electronic_address(
    client: Mapping[str, Any], siren: str | None, email: str | None
) -> tuple[str, str] | None:
    # The French directory address (SIREN-based, scheme 0225) is the one the network routes on.
    registered = read_text(client.get("e_invoicing_address"))
    if registered and _SIREN_ADDRESS.match(registered):
        return ("0225", registered)
    if email:
        return ("EM", email)
    if siren:
        return ("0225", siren)
    return None


def _payment(invoice: Mapping[str, Any], organization: Mapping[str, Any]) -> PaymentAccount | None:
    methods = invoice.get("payment_methods")
    if isinstance(methods, Mapping):  # the request shape {"iban": …}
        methods = [methods]
    for method in methods or ():
        iban = read_compact(method.get("iban")) if isinstance(method, Mapping) else None
        if iban:
            bic = read_compact(method.get("bic")) or _bic_for(iban, organization)
            beneficiary = read_text(method.get("beneficiary_name")) or read_text(organization.get("legal_name"))
            return PaymentAccount(iban=iban, bic=bic, beneficiary=beneficiary)
    return None


def _bic_for(iban: str, organization: Mapping[str, Any]) -> str | None:
    for account in organization.get("bank_accounts") or ():
        if isinstance(account, Mapping) and read_compact(account.get("iban")) == iban:
            return read_compact(account.get("bic"))
    return None


def _unit_code(label: str | None) -> str:
    if label is None:
        return "C62"
    if label in _REC20_CODES:
        return label
    return _UNIT_CODES.get(label.strip().lower().replace(" ", "_"), "C62")


def _has_discount(value: object) -> bool:
    if not isinstance(value, Mapping):
        return False
    raw = value.get("value")
    if raw is None:
        return False
    try:
        return Decimal(str(raw)) != 0
    except InvalidOperation:
        return True
