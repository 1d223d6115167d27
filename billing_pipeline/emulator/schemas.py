"""Request bodies, validated strictly so that a client bug surfaces here and not at Qonto.

Strictness beyond Qonto's documented rules (each error names the field through a JSON pointer):
unknown fields are rejected; decimals must be JSON strings; documented fields the emulator does
not model (the invoice-level discount, Italian fields, uploads) are refused with
``not_supported_by_emulator`` instead of being silently ignored. Item discounts are modelled
(``ItemDiscountIn``; their arithmetic is in money.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .config import EmulatorConfig
from .money import round_cents

FRENCH_VAT_RATES = frozenset(Decimal(rate).normalize() for rate in ("0", "0.021", "0.055", "0.085", "0.1", "0.2"))
# Qonto's enum for vat_exemption_reason, the non-Italian part (a French organization)
VAT_EXEMPTION_REASONS = frozenset(
    "S293B S262.1 S259 S283 S261 S262 S263 S19.1 S4.1B S4.1A S4 S13B S122 S25 S21 S69 S20 S84.1.2".split()
)
LOCALES = frozenset({"fr", "en", "de", "it", "es", "nl", "pt"})
INVOICE_CURRENCY = "EUR"

_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_E_INVOICING_ADDRESS = re.compile(r"^\d{9}(_\d{14}(_[A-Za-z0-9]+)?|_[A-Za-z0-9]+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _decimal_string(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str) or not _DECIMAL.match(value.strip()):
        raise PydanticCustomError("invalid_decimal", 'must be a decimal string such as "12.50"')
    return Decimal(value.strip())


def _iso_date(value: object) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise PydanticCustomError("invalid_date", "must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_date", "is not a valid calendar date") from exc


def _email(value: object) -> str:
    if not isinstance(value, str) or len(value) > 250 or not _EMAIL.match(value):
        raise PydanticCustomError("invalid_email", "is not a valid email address")
    return value


def _country_code(value: object) -> str:
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise PydanticCustomError("invalid_country_code", "must be an ISO 3166-1 alpha-2 code such as FR")
    return value.upper()


def _unsupported(value: object) -> None:
    if value is not None:
        raise PydanticCustomError("not_supported_by_emulator", "is a Qonto field the emulator does not model")
    return None


@dataclass(frozen=True)
class MoneyValue:
    value: Decimal
    currency: str


def _money(value: object) -> MoneyValue:
    if not isinstance(value, dict) or set(value) != {"value", "currency"}:
        raise PydanticCustomError("invalid_money", 'must be {"value": "12.50", "currency": "EUR"}')
    amount = _decimal_string(value["value"])
    if amount < 0:
        raise PydanticCustomError("invalid_money", "value must not be negative")
    if value["currency"] != INVOICE_CURRENCY:
        raise PydanticCustomError("not_in_list", "currency must be EUR, the only invoicing currency")
    return MoneyValue(amount, INVOICE_CURRENCY)


DecimalString = Annotated[Decimal, PlainValidator(_decimal_string)]
IsoDate = Annotated[date, PlainValidator(_iso_date)]
Email = Annotated[str, PlainValidator(_email)]
CountryCode = Annotated[str, PlainValidator(_country_code)]
Money = Annotated[MoneyValue, PlainValidator(_money)]
Unsupported = Annotated[None, PlainValidator(_unsupported)]


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _config(info: ValidationInfo) -> EmulatorConfig:
    context = info.context or {}
    config = context.get("config")
    return config if isinstance(config, EmulatorConfig) else EmulatorConfig()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---- clients -----------------------------------------------------------------------------------

ClientKind = Literal["individual", "company", "freelancer"]


class AddressIn(_Strict):
    street_address: str | None = Field(default=None, max_length=250)
    city: str | None = Field(default=None, max_length=50)
    zip_code: str | None = Field(default=None, max_length=20)
    province_code: str | None = Field(default=None, max_length=2)
    country_code: CountryCode | None = None


class PhoneIn(_Strict):
    country_code: str = Field(pattern=r"^\+\d{1,4}$")
    number: str = Field(pattern=r"^\d{4,15}$")


class ClientIn(_Strict):
    """Body of POST and PATCH /v2/clients (the cross-field rules live in clients.py)."""

    kind: ClientKind | None = None
    type: ClientKind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=250)
    first_name: str | None = Field(default=None, min_length=1, max_length=60)
    last_name: str | None = Field(default=None, min_length=1, max_length=60)
    email: Email | None = None
    extra_emails: list[Email] | None = Field(default=None, max_length=100)
    phone: PhoneIn | None = None
    e_invoicing_address: str | None = Field(default=None, pattern=_E_INVOICING_ADDRESS.pattern)
    vat_number: str | None = Field(default=None, max_length=20)
    tax_identification_number: str | None = Field(default=None, max_length=30)
    address: str | None = Field(default=None, max_length=250)
    city: str | None = Field(default=None, max_length=50)
    zip_code: str | None = Field(default=None, max_length=20)
    province_code: str | None = Field(default=None, max_length=2)
    country_code: CountryCode | None = None
    billing_address: AddressIn | None = None
    delivery_address: AddressIn | None = None
    recipient_code: str | None = Field(default=None, max_length=7)
    currency: str | None = Field(default=None, pattern=_CURRENCY.pattern)
    locale: str | None = None

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower() not in LOCALES:
            raise PydanticCustomError("not_in_list", "locale must be one of: " + ", ".join(sorted(LOCALES)))
        return value.lower()


# ---- client invoices ---------------------------------------------------------------------------

DISCOUNT_TYPES = ("percentage", "absolute")


def _discount_type(value: object) -> str:
    if value not in DISCOUNT_TYPES:
        raise PydanticCustomError("not_in_list", "type must be one of: percentage, absolute")
    return str(value)


class ItemDiscountIn(_Strict):
    """An item's ``discount`` (qonto-api.md §8.3): ``percentage`` with a fraction (``"0.1"`` = 10 %)
    or ``absolute`` with an amount (a decimal string, as every Qonto amount value). The bound by
    the line's amount is checked in ``ItemIn``, which knows the line."""

    type: Annotated[str, PlainValidator(_discount_type)]
    value: DecimalString

    @field_validator("value")
    @classmethod
    def _positive_value(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if value <= 0:
            raise PydanticCustomError("invalid_discount", "discount value must be positive")
        kind = info.data.get("type")
        if kind == "percentage" and value > 1:
            raise PydanticCustomError(
                "invalid_discount", "a percentage discount value is a fraction at most 1 (0.1 = 10 %)"
            )
        if kind == "absolute" and _decimals(value) > 2:
            raise PydanticCustomError("too_many_decimals", "an absolute discount value has more than 2 decimals")
        return value


class ItemIn(_Strict):
    title: str = Field(min_length=1, max_length=40)
    description: str | None = Field(default=None, max_length=1800)
    quantity: DecimalString
    unit: str | None = Field(default=None, min_length=1, max_length=20)
    unit_price: Money
    vat_rate: DecimalString
    vat_exemption_reason: str | None = Field(default=None, validate_default=True)
    discount: ItemDiscountIn | None = None

    @field_validator("quantity")
    @classmethod
    def _positive_quantity(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if value <= 0:
            raise PydanticCustomError("invalid_quantity", "quantity must be positive")
        limit = _config(info).max_quantity_decimals
        if _decimals(value) > limit:
            raise PydanticCustomError("too_many_decimals", "quantity has more than {limit} decimals", {"limit": limit})
        return value

    @field_validator("unit_price")
    @classmethod
    def _price_precision(cls, value: MoneyValue, info: ValidationInfo) -> MoneyValue:
        limit = _config(info).max_unit_price_decimals
        if _decimals(value.value) > limit:
            raise PydanticCustomError(
                "too_many_decimals", "unit_price value has more than {limit} decimals", {"limit": limit}
            )
        return value

    @field_validator("vat_rate")
    @classmethod
    def _french_rate(cls, value: Decimal) -> Decimal:
        if value.normalize() not in FRENCH_VAT_RATES:
            raise PydanticCustomError(
                "not_in_list",
                "vat_rate must be a French rate as a fraction: 0, 0.021, 0.055, 0.085, 0.1 or 0.2",
            )
        return value

    @field_validator("vat_exemption_reason")
    @classmethod
    def _exemption_matches_rate(cls, value: str | None, info: ValidationInfo) -> str | None:
        rate = info.data.get("vat_rate")
        if rate is None:  # the rate itself is invalid; that error is enough
            return value
        if rate == 0 and value is None:
            raise PydanticCustomError("required", "vat_exemption_reason is required when vat_rate is 0")
        if rate != 0 and value is not None:
            raise PydanticCustomError("not_allowed", "vat_exemption_reason is only allowed when vat_rate is 0")
        if value is not None and value not in VAT_EXEMPTION_REASONS:
            raise PydanticCustomError(
                "not_in_list", "vat_exemption_reason must be one of: " + ", ".join(sorted(VAT_EXEMPTION_REASONS))
            )
        return value

    @field_validator("discount")
    @classmethod
    def _discount_within_line(cls, value: ItemDiscountIn | None, info: ValidationInfo) -> ItemDiscountIn | None:
        quantity, price = info.data.get("quantity"), info.data.get("unit_price")
        if value is None or value.type != "absolute" or quantity is None or price is None:
            return value
        # a discount larger than the line would make a negative subtotal [emulator assumption]
        gross = round_cents(quantity * price.value)
        if value.value > gross:
            raise PydanticCustomError(
                "invalid_discount",
                "discount value {value} is more than the line's quantity × unit_price ({gross})",
                {"value": format(value.value, "f"), "gross": format(gross, "f")},
            )
        return value


class PaymentMethodsIn(_Strict):
    iban: str | None = None


class SettingsIn(_Strict):
    vat_number: str | None = Field(default=None, max_length=20)
    company_leadership: str | None = Field(default=None, max_length=250)
    district_court: str | None = Field(default=None, max_length=250)
    commercial_register_number: str | None = Field(default=None, max_length=250)
    tax_number: str | None = Field(default=None, max_length=250)
    legal_capital_share: Money | None = None
    transaction_type: Literal["goods", "services", "goods_and_services"] | None = None
    vat_payment_condition: Literal["on_receipts", "compensated_for_sales", "exempt"] | None = None
    discount_conditions: str | None = Field(default=None, max_length=525)
    late_payment_penalties: str | None = Field(default=None, max_length=525)
    legal_fixed_compensation: str | None = Field(default=None, max_length=525)


class _InvoiceFields(_Strict):
    number: str | None = Field(default=None, min_length=1, max_length=40)
    purchase_order: str | None = Field(default=None, max_length=100)
    terms_and_conditions: str | None = Field(default=None, max_length=525)
    header: str | None = Field(default=None, max_length=2000)
    footer: str | None = Field(default=None, max_length=2000)
    performance_date: IsoDate | None = None
    performance_start_date: IsoDate | None = None
    performance_end_date: IsoDate | None = None
    settings: SettingsIn | None = None
    upload_id: Unsupported = None
    quote_id: Unsupported = None
    discount: Unsupported = None
    report_einvoicing: Unsupported = None
    payment_reporting: Unsupported = None
    welfare_fund: Unsupported = None
    withholding_tax: Unsupported = None
    stamp_duty_amount: Unsupported = None


class InvoiceCreate(_InvoiceFields):
    client_id: str = Field(min_length=1)
    issue_date: IsoDate
    due_date: IsoDate
    # optional: Qonto's guide sends none, the invoice inherits the client's (an error on
    # /data/attributes/currency only when the client has none)
    currency: Literal["EUR"] | None = None
    payment_methods: PaymentMethodsIn
    items: list[ItemIn] = Field(min_length=1)
    status: Literal["draft", "unpaid"] = "draft"


class InvoicePatch(_InvoiceFields):
    """PATCH: every field optional; ``items`` replaces the whole list (an emulator assumption)."""

    client_id: str | None = Field(default=None, min_length=1)
    issue_date: IsoDate | None = None
    due_date: IsoDate | None = None
    currency: Literal["EUR"] | None = None
    payment_methods: PaymentMethodsIn | None = None
    items: list[ItemIn] | None = Field(default=None, min_length=1)
    # accepted as a no-op so that a full draft body can be re-sent; finalize changes the status
    status: Literal["draft"] | None = None


class CreditNoteCreate(_Strict):
    """Body of POST /v2/credit_notes (qonto-api.md §8.5); the rules against the invoice live in credit_notes.py.

    Items take positive quantities (``ItemIn`` refuses others), as Qonto documents: it presents
    them negated. ``currency`` is required here: Qonto documents that it must match the invoice.
    """

    invoice_id: str = Field(min_length=1)
    issue_date: IsoDate
    currency: str = Field(pattern=_CURRENCY.pattern)
    items: list[ItemIn] = Field(min_length=1)
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    number: str | None = Field(default=None, min_length=1, max_length=40)
    terms_and_conditions: str | None = Field(default=None, max_length=525)
    contact_email: Email | None = None
    discount: Unsupported = None
    welfare_fund: Unsupported = None
    withholding_tax: Unsupported = None
    stamp_duty_amount: Unsupported = None


class SendIn(_Strict):
    """Body of POST /v2/client_invoices/{id}/send (``SendRequestPayload``, qonto-api.md §8.3 [3rd]).

    Length limits are the emulator's own [unconfirmed]; ``copy_to_self`` defaults to true as in
    the transcribed schema.
    """

    send_to: list[Email] = Field(min_length=1, max_length=100)
    email_title: str = Field(min_length=1, max_length=255)
    email_body: str | None = Field(default=None, max_length=10000)
    copy_to_self: bool = True


class MarkAsPaidIn(_Strict):
    paid_at: IsoDate | None = None


def item_to_storage(item: ItemIn) -> dict[str, Any]:
    """The normalized item kept in the state file (decimals as strings)."""
    stored: dict[str, Any] = {
        "title": item.title,
        "description": item.description,
        "quantity": str(item.quantity),
        "unit": item.unit,
        "unit_price": str(item.unit_price.value),
        "vat_rate": str(item.vat_rate),
        "vat_exemption_reason": item.vat_exemption_reason,
    }
    if item.discount is not None:  # only when given: state files of undiscounted items are unchanged
        stored["discount"] = {"type": item.discount.type, "value": str(item.discount.value)}
    return stored
