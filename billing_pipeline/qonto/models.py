"""Pydantic models of the Qonto payloads the pipeline uses.

Responses are lenient, as Qonto's versioning policy requires: unknown fields are kept
(``extra="allow"``), enumerations are plain strings (known values listed as constants), numbers
that may come as strings are coerced. Requests are strict: unknown fields are refused and only the
fields actually given are sent. Money is ``Decimal`` end to end and goes on the wire as a plain
decimal string (never exponent notation, never a float).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Generic, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)
from stdnum import iban as iban_checker
from stdnum.exceptions import ValidationError as StdnumValidationError


def _plain_decimal(value: Decimal) -> str:
    return format(value, "f")


def _aware(value: datetime) -> datetime:
    # Qonto documents offsets on every timestamp; a naive one is read as UTC rather than rejected
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


WireDecimal = Annotated[Decimal, PlainSerializer(_plain_decimal, return_type=str, when_used="json")]
"""A Decimal that serializes as a plain decimal string (``"0.0004"``, never ``"4E-4"``)."""

Timestamp = Annotated[datetime, AfterValidator(_aware)]
"""A timezone-aware instant (naive input is taken as UTC)."""


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_payload(self) -> dict[str, Any]:
        """The JSON body: only fields that were given, decimals as strings."""
        return self.model_dump(mode="json", exclude_unset=True)


# --- enumerations (plain strings so that new values from Qonto never break parsing) -------------


class InvoiceStatus:
    DRAFT: Final = "draft"
    UNPAID: Final = "unpaid"
    PAID: Final = "paid"
    CANCELED: Final = "canceled"
    KNOWN: Final = frozenset({DRAFT, UNPAID, PAID, CANCELED})
    FINALIZED: Final = frozenset({UNPAID, PAID})


class ClientKind:
    INDIVIDUAL: Final = "individual"
    COMPANY: Final = "company"
    FREELANCER: Final = "freelancer"
    KNOWN: Final = frozenset({INDIVIDUAL, COMPANY, FREELANCER})


class BankAccountStatus:
    ACTIVE: Final = "active"
    CLOSED: Final = "closed"


# --- shared -------------------------------------------------------------------------------------


class Money(BaseModel):
    """An amount in a currency; ``value`` is exact and travels as a decimal string."""

    model_config = ConfigDict(extra="allow", frozen=True)

    value: WireDecimal = Field(allow_inf_nan=False)
    currency: str = Field(min_length=3, max_length=3)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class Address(BaseModel):
    """A postal address (Qonto's ``billing_address`` / ``delivery_address``)."""

    model_config = ConfigDict(extra="allow")

    street_address: str | None = None
    city: str | None = None
    zip_code: str | None = None
    province_code: str | None = None
    country_code: str | None = None


class Phone(BaseModel):
    model_config = ConfigDict(extra="allow")

    country_code: str | None = None
    number: str | None = None


class PageMeta(_Response):
    current_page: int = 1
    next_page: int | None = None
    prev_page: int | None = None
    total_pages: int | None = None
    total_count: int | None = None
    per_page: int | None = None


T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    """One page of a list endpoint: the items and Qonto's pagination ``meta``."""

    items: list[T]
    meta: PageMeta


# --- organization -------------------------------------------------------------------------------


class BankAccount(_Response):
    id: str | None = None
    slug: str | None = None
    iban: str
    bic: str | None = None
    currency: str | None = None
    name: str | None = None
    status: str | None = None
    main: bool = False
    balance: Decimal | None = None
    balance_cents: int | None = None
    authorized_balance: Decimal | None = None
    authorized_balance_cents: int | None = None
    is_external_account: bool | None = None
    updated_at: Timestamp | None = None

    @property
    def is_closed(self) -> bool:
        return self.status == BankAccountStatus.CLOSED


class Organization(_Response):
    id: str
    slug: str | None = None
    legal_name: str | None = None
    legal_number: str | None = None
    legal_sector: str | None = None
    legal_registration_date: date | None = None
    legal_address: str | None = None
    legal_form: str | None = None
    legal_country: str | None = None
    legal_share_capital: Decimal | None = None
    locale: str | None = None
    # documented as "2022-12-01 08:57:00.123047" (not ISO 8601): kept verbatim
    contract_signed_at: str | None = None
    bank_accounts: list[BankAccount] = Field(default_factory=list)

    @field_validator("contract_signed_at", mode="before")
    @classmethod
    def _verbatim(cls, value: object) -> object:
        return None if value is None else str(value)

    def main_account(self) -> BankAccount:
        """The account to be paid on: the main one unless closed, else the first open one.

        Raises ``LookupError`` when the organization has no open account.
        """
        open_accounts = [a for a in self.bank_accounts if not a.is_closed]
        for account in open_accounts:
            if account.main:
                return account
        if open_accounts:
            return open_accounts[0]
        raise LookupError(f"Qonto organization {self.id} has no open bank account to be paid on")


# --- clients ------------------------------------------------------------------------------------


class Client(_Response):
    id: str
    kind: str | None = None
    type: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    extra_emails: list[str] | None = None
    phone: Phone | None = None
    phone_number: str | None = None
    vat_number: str | None = None
    tax_identification_number: str | None = None
    e_invoicing_address: str | None = None
    e_invoicing_reachable: bool | None = None
    currency: str | None = None
    locale: str | None = None
    billing_address: Address | None = None
    delivery_address: Address | None = None
    address: str | None = None
    city: str | None = None
    zip_code: str | None = None
    province_code: str | None = None
    country_code: str | None = None
    recipient_code: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class _ClientFields(_Request):
    name: str | None = Field(default=None, max_length=250)
    first_name: str | None = Field(default=None, max_length=60)
    last_name: str | None = Field(default=None, max_length=60)
    email: str | None = None
    extra_emails: list[str] | None = None
    phone: Phone | None = None
    vat_number: str | None = Field(default=None, max_length=20)
    tax_identification_number: str | None = Field(default=None, max_length=30)
    e_invoicing_address: str | None = None
    billing_address: Address | None = None
    delivery_address: Address | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    locale: str | None = None
    recipient_code: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and ("@" not in value or value != value.strip()):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value


class ClientCreate(_ClientFields):
    """Body of ``POST /v2/clients``. Invoicing also needs currency, locale and a billing address."""

    kind: Literal["individual", "company", "freelancer"]

    @model_validator(mode="after")
    def _names(self) -> Self:
        if self.kind == ClientKind.COMPANY and not (self.name and self.name.strip()):
            raise ValueError("a company client needs a name")
        if self.kind != ClientKind.COMPANY and not (self.first_name and self.last_name):
            raise ValueError(f"an {self.kind} client needs first_name and last_name")
        return self


class ClientUpdate(_ClientFields):
    """Body of ``PATCH /v2/clients/{id}``: only the fields given are changed."""

    kind: Literal["individual", "company", "freelancer"] | None = None


# --- invoices -----------------------------------------------------------------------------------


class InvoiceItem(_Response):
    """A line as Qonto returns it, with its computed amounts."""

    title: str | None = None
    description: str | None = None
    quantity: Decimal
    unit: str | None = None
    unit_price: Money
    unit_price_cents: int | None = None
    vat_rate: Decimal
    vat_exemption_reason: str | None = None
    discount: dict[str, Any] | None = None
    subtotal: Money | None = None
    subtotal_cents: int | None = None
    total_vat: Money | None = None
    total_vat_cents: int | None = None
    total_amount: Money | None = None
    total_amount_cents: int | None = None


class InvoiceItemInput(_Request):
    """A line to send. ``vat_rate`` is a fraction (``0.2`` = 20 %), ``unit_price`` excludes VAT."""

    title: str = Field(min_length=1)
    description: str | None = None
    quantity: WireDecimal = Field(gt=0, allow_inf_nan=False)
    unit: str | None = None
    unit_price: Money
    vat_rate: WireDecimal = Field(ge=0, lt=1, allow_inf_nan=False)
    vat_exemption_reason: str | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class PaymentMethod(_Response):
    """Response form: one entry of the ``payment_methods`` array."""

    type: str | None = None
    iban: str | None = None
    bic: str | None = None
    beneficiary_name: str | None = None


class PaymentMethodsInput(_Request):
    """Request form: ``{"iban": ...}`` — an IBAN of one of the organization's Qonto accounts."""

    iban: str

    @field_validator("iban")
    @classmethod
    def _valid_iban(cls, value: str) -> str:
        try:
            return str(iban_checker.validate(value))
        except StdnumValidationError as exc:
            raise ValueError(f"invalid IBAN {value!r}: {exc}") from exc


class InvoiceClientRef(_Response):
    """The client snapshot embedded in an invoice."""

    id: str | None = None
    name: str | None = None
    email: str | None = None


def _payment_methods_list(value: object) -> object:
    if isinstance(value, dict):
        return [value]
    return [] if value is None else value


def _items_list(value: object) -> object:
    # an item-less draft may come back with "items": null
    return [] if value is None else value


class ClientInvoice(_Response):
    id: str
    organization_id: str | None = None
    attachment_id: str | None = None
    number: str | None = None
    status: str
    client_id: str | None = None
    client: InvoiceClientRef | None = None
    currency: str | None = None
    total_amount: Money | None = None
    total_amount_cents: int | None = None
    vat_amount: Money | None = None
    vat_amount_cents: int | None = None
    issue_date: date | None = None
    due_date: date | None = None
    performance_start_date: date | None = None
    performance_end_date: date | None = None
    purchase_order: str | None = None
    header: str | None = None
    footer: str | None = None
    terms_and_conditions: str | None = None
    items: Annotated[list[InvoiceItem], BeforeValidator(_items_list)] = Field(default_factory=list)
    payment_methods: Annotated[list[PaymentMethod], BeforeValidator(_payment_methods_list)] = Field(
        default_factory=list
    )
    invoice_url: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    finalized_at: Timestamp | None = None
    paid_at: Timestamp | None = None

    @model_validator(mode="after")
    def _client_id_from_snapshot(self) -> Self:
        if self.client_id is None and self.client is not None:
            self.client_id = self.client.id
        return self

    @property
    def is_finalized(self) -> bool:
        return self.status in InvoiceStatus.FINALIZED


class _InvoiceFields(_Request):
    purchase_order: str | None = None
    header: str | None = None
    footer: str | None = None
    terms_and_conditions: str | None = None
    settings: dict[str, Any] | None = None


class ClientInvoiceCreate(_InvoiceFields):
    """Body of ``POST /v2/client_invoices`` (a draft unless ``status="unpaid"`` is asked for)."""

    client_id: str = Field(min_length=1)
    issue_date: date
    due_date: date
    performance_start_date: date | None = None
    performance_end_date: date | None = None
    status: Literal["draft", "unpaid"] = "draft"
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    payment_methods: PaymentMethodsInput
    items: list[InvoiceItemInput] = Field(min_length=1)

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.due_date < self.issue_date:
            raise ValueError(f"due_date {self.due_date} is before issue_date {self.issue_date}")
        start, end = self.performance_start_date, self.performance_end_date
        if start is not None and end is not None and end < start:
            raise ValueError(f"performance_end_date {end} is before performance_start_date {start}")
        for index, item in enumerate(self.items):
            if item.unit_price.currency != self.currency:
                raise ValueError(
                    f"items[{index}].unit_price currency {item.unit_price.currency} != invoice currency {self.currency}"
                )
        return self

    def to_payload(self) -> dict[str, Any]:
        # status and currency always travel: Qonto's default status is undocumented
        payload = self.model_dump(mode="json", exclude_none=True, exclude={"items"})
        payload["items"] = [item.to_payload() for item in self.items]
        return payload


class ClientInvoiceUpdate(_InvoiceFields):
    """Body of ``PATCH /v2/client_invoices/{id}`` (drafts only). ``items`` replaces the list."""

    client_id: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    performance_start_date: date | None = None
    performance_end_date: date | None = None
    payment_methods: PaymentMethodsInput | None = None
    items: list[InvoiceItemInput] | None = Field(default=None, min_length=1)

    def to_payload(self) -> dict[str, Any]:
        payload = self.model_dump(mode="json", exclude_unset=True, exclude={"items"})
        if self.items is not None:
            payload["items"] = [item.to_payload() for item in self.items]
        return payload


# --- attachments --------------------------------------------------------------------------------


def _size_to_int(value: object) -> object:
    if isinstance(value, str):
        return int(value.strip()) if value.strip() else None
    return value


def _now_utc() -> datetime:
    return datetime.now(UTC)


class Attachment(_Response):
    """The invoice PDF. ``url`` is pre-signed and valid 30 minutes from ``fetched_at``."""

    id: str
    file_name: str | None = None
    file_size: Annotated[int | None, BeforeValidator(_size_to_int)] = None
    file_content_type: str | None = None
    url: str
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    probative_attachment: dict[str, Any] | None = None
    # not from Qonto: when the client fetched this (and so when the signed URL was minted)
    fetched_at: Timestamp = Field(default_factory=_now_utc)
