"""Qonto's client-invoice JSON turned into the exact figures both documents print.

Everything is computed with ``Decimal`` from the decimal strings of the JSON, with EN 16931
rounding: line net = round(quantity × unit price, 2); VAT once per (category, rate) on the summed
line nets; totals are sums. The visual PDF and the CII XML are both rendered from
``InvoiceDocument``, so they cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MAX_QUANTITY_DECIMALS = 4
MAX_PRICE_DECIMALS = 6

EMULATOR_NOTICE = "Produced by the local Qonto emulator — not a real invoice"

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
class InvoiceLine:
    position: int
    title: str
    description: str | None
    quantity: Decimal
    unit_label: str | None
    unit_code: str
    unit_price: Decimal
    vat: VatTreatment
    net_amount: Decimal


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


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def build_invoice_document(invoice: Mapping[str, Any], organization: Mapping[str, Any]) -> InvoiceDocument:
    """Read the Qonto invoice and organization dicts; raise ``InvoiceDataError`` on bad data."""
    currency = _text(invoice.get("currency")) or "EUR"
    lines = tuple(_line(position, item) for position, item in enumerate(_items(invoice.get("items")), start=1))
    if not lines:
        raise InvoiceDataError("the invoice has no items")
    if _has_discount(invoice.get("discount")):
        raise InvoiceDataError("invoice-level discounts are not supported by the emulator's documents")
    breakdown = _vat_breakdown(lines)
    line_total = sum((line.net_amount for line in lines), Decimal("0.00"))
    vat_total = sum((group.amount for group in breakdown), Decimal("0.00"))
    issue_date = _date(invoice.get("issue_date"), "issue_date")
    due_date = _date(invoice.get("due_date"), "due_date")
    return InvoiceDocument(
        number=_text(invoice.get("number")),
        status=_text(invoice.get("status")) or "draft",
        issue_date=issue_date,
        due_date=due_date,
        period_start=_optional_date(invoice.get("performance_start_date"), "performance_start_date"),
        period_end=_optional_date(invoice.get("performance_end_date"), "performance_end_date"),
        currency=currency,
        purchase_order=_text(invoice.get("purchase_order")),
        header=_text(invoice.get("header")),
        footer=_text(invoice.get("footer")),
        seller=_seller(organization),
        buyer=_buyer(_mapping(invoice.get("client"), "client")),
        lines=lines,
        vat_breakdown=breakdown,
        line_total=line_total,
        vat_total=vat_total,
        grand_total=line_total + vat_total,
        payment=_payment(invoice, organization),
        payment_terms=f"Paiement par virement SEPA au plus tard le {due_date:%d/%m/%Y}.",
        notes=LegalNotes(
            recovery_indemnity=_text(invoice.get("legal_fixed_compensation")) or RECOVERY_INDEMNITY_NOTE,
            late_penalties=_text(invoice.get("late_payment_penalties")) or LATE_PENALTIES_NOTE,
            early_payment_discount=_text(invoice.get("discount_conditions")) or NO_EARLY_DISCOUNT_NOTE,
        ),
    )


def _items(value: object) -> Sequence[Mapping[str, Any]]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvoiceDataError("items must be a list")
    return [_mapping(item, f"items[{index}]") for index, item in enumerate(value)]


def _line(position: int, item: Mapping[str, Any]) -> InvoiceLine:
    where = f"items[{position - 1}]"
    title = _text(item.get("title"))
    if not title:
        raise InvoiceDataError(f"{where}.title is missing")
    if _has_discount(item.get("discount")):
        raise InvoiceDataError(f"{where}: item discounts are not supported by the emulator's documents")
    quantity = _decimal(item.get("quantity"), f"{where}.quantity")
    unit_price = _decimal(item.get("unit_price"), f"{where}.unit_price")
    if quantity <= 0:
        raise InvoiceDataError(f"{where}.quantity must be positive")
    if unit_price < 0:
        raise InvoiceDataError(f"{where}.unit_price must not be negative")
    # French CTC limits (BR-FR-DEC-*): rounding here would silently change the money
    if _decimals(quantity) > MAX_QUANTITY_DECIMALS:
        raise InvoiceDataError(f"{where}.quantity has more than {MAX_QUANTITY_DECIMALS} decimals")
    if _decimals(unit_price) > MAX_PRICE_DECIMALS:
        raise InvoiceDataError(f"{where}.unit_price has more than {MAX_PRICE_DECIMALS} decimals")
    unit_label = _text(item.get("unit"))
    return InvoiceLine(
        position=position,
        title=title,
        description=_text(item.get("description")),
        quantity=quantity,
        unit_label=unit_label,
        unit_code=_unit_code(unit_label),
        unit_price=unit_price,
        vat=_vat_treatment(item, where),
        net_amount=round_cents(quantity * unit_price),
    )


def _vat_treatment(item: Mapping[str, Any], where: str) -> VatTreatment:
    rate = _decimal(item.get("vat_rate"), f"{where}.vat_rate")
    if not Decimal(0) <= rate < Decimal(1):
        raise InvoiceDataError(f"{where}.vat_rate must be a fraction between 0 and 1 (0.2 = 20 %)")
    reason = _text(item.get("vat_exemption_reason"))
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
    name = _text(organization.get("legal_name"))
    if not name:
        raise InvoiceDataError("organization.legal_name is missing")
    siren = _digits(organization.get("legal_number"))
    country = _text(organization.get("address_country")) or _text(organization.get("legal_country")) or "FR"
    street = _text(organization.get("address_line_1"))
    if street is None:
        # GET /v2/organization only has a one-line address
        street = _text(organization.get("legal_address"))
    address = PostalAddress(
        street=street,
        street_more=_text(organization.get("address_line_2")),
        zip_code=_text(organization.get("address_zipcode")),
        city=_text(organization.get("address_city")),
        country_code=country.upper(),
    )
    return Party(
        name=name,
        siren=siren if siren and _SIREN.match(siren) else None,
        siret=None,
        vat_number=_compact(organization.get("vat_number")),
        address=address,
        email=None,
        electronic_address=("0225", siren) if siren and _SIREN.match(siren) else None,
    )


def _buyer(client: Mapping[str, Any]) -> Party:
    name = _text(client.get("name"))
    if not name:
        name = " ".join(part for part in (_text(client.get("first_name")), _text(client.get("last_name"))) if part)
    if not name:
        raise InvoiceDataError("client has neither a name nor first/last names")
    tax_id = _digits(client.get("tax_identification_number"))
    siren = siret = None
    if tax_id and _SIRET.match(tax_id):
        siret, siren = tax_id, tax_id[:9]
    elif tax_id and _SIREN.match(tax_id):
        siren = tax_id
    billing = client.get("billing_address")
    billing = billing if isinstance(billing, Mapping) else {}
    country = _text(billing.get("country_code")) or _text(client.get("country_code")) or "FR"
    address = PostalAddress(
        street=_text(billing.get("street_address")) or _text(client.get("address")),
        street_more=None,
        zip_code=_text(billing.get("zip_code")) or _text(client.get("zip_code")),
        city=_text(billing.get("city")) or _text(client.get("city")),
        country_code=country.upper(),
    )
    email = _text(client.get("email"))
    return Party(
        name=name,
        siren=siren,
        siret=siret,
        vat_number=_compact(client.get("vat_number")),
        address=address,
        email=email,
        electronic_address=_buyer_electronic_address(client, siren, email),
    )


def _buyer_electronic_address(
    client: Mapping[str, Any], siren: str | None, email: str | None
) -> tuple[str, str] | None:
    # The French directory address (SIREN-based, scheme 0225) is the one the network routes on.
    registered = _text(client.get("e_invoicing_address"))
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
        iban = _compact(method.get("iban")) if isinstance(method, Mapping) else None
        if iban:
            bic = _compact(method.get("bic")) or _bic_for(iban, organization)
            beneficiary = _text(method.get("beneficiary_name")) or _text(organization.get("legal_name"))
            return PaymentAccount(iban=iban, bic=bic, beneficiary=beneficiary)
    return None


def _bic_for(iban: str, organization: Mapping[str, Any]) -> str | None:
    for account in organization.get("bank_accounts") or ():
        if isinstance(account, Mapping) and _compact(account.get("iban")) == iban:
            return _compact(account.get("bic"))
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


def _decimals(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvoiceDataError(f"{where} must be an object")
    return value


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, Mapping):  # money objects {"value": "12.50", "currency": "EUR"}
        value = value.get("value")
    if value is None or isinstance(value, bool | float):
        raise InvoiceDataError(f"{where} must be a decimal string")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvoiceDataError(f"{where} is not a decimal number: {value!r}") from exc
    if not number.is_finite():
        raise InvoiceDataError(f"{where} is not a finite number: {value!r}")
    return number


def _date(value: object, where: str) -> date:
    parsed = _optional_date(value, where)
    if parsed is None:
        raise InvoiceDataError(f"{where} is missing")
    return parsed


def _optional_date(value: object, where: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise InvoiceDataError(f"{where} is not an ISO date: {value!r}") from exc


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _compact(value: object) -> str | None:
    text = _text(value)
    return text.replace(" ", "").upper() if text else None


def _digits(value: object) -> str | None:
    text = _text(value)
    return re.sub(r"[\s.]", "", text) if text else None
