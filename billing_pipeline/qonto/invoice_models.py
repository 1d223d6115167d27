"""Qonto payloads of client invoices (lines, payment methods) and of their attachments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)
from stdnum import iban as iban_checker
from stdnum.exceptions import ValidationError as StdnumValidationError

from billing_pipeline.qonto.wire import (
    InvoiceStatus,
    Money,
    RequestModel,
    ResponseModel,
    Timestamp,
    WireDecimal,
)

# --- invoices -----------------------------------------------------------------------------------

CENT = Decimal("0.01")
DiscountType = Literal["percentage", "absolute"]


def _discount_amount(value: object) -> object:
    # Qonto documents the item discount as ``{type, value, amount}`` without the shape of ``amount``:
    # read a money object ``{value, currency}`` as well as a bare decimal
    if isinstance(value, dict):
        return value.get("value")
    return value


def _no_discount(value: object) -> object:
    # an item without a discount may come back with ``discount: null`` or an empty object
    if isinstance(value, dict) and value.get("type") is None and value.get("value") is None:
        return None
    return value


class ItemDiscount(ResponseModel):
    """An item's discount as Qonto returns it: ``value`` as sent (a fraction for ``percentage``,
    an amount for ``absolute``) and ``amount``, what it took off the line (negative on a credit
    note, whose lines Qonto presents negated)."""

    type: str | None = None
    value: Decimal | None = None
    amount: Annotated[Decimal | None, BeforeValidator(_discount_amount)] = None

    @property
    def taken_off(self) -> Decimal | None:
        """The positive amount taken off the line; for a percentage, known only from ``amount``."""
        if self.amount is not None:
            return abs(self.amount)
        if self.type == "absolute" and self.value is not None:
            return abs(self.value)
        return None


class ItemDiscountInput(RequestModel):
    """An item's ``discount``: ``percentage`` with a fraction (``"0.1"`` = 10 %) or ``absolute``
    with an amount in the invoice's currency, taken off ``quantity × unit_price`` before VAT.

    We send ``absolute`` only (see ``invoicing/payloads.py``); ``percentage`` is modelled because
    Qonto documents it.
    """

    type: DiscountType
    value: WireDecimal = Field(gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _value(self) -> Self:
        if self.type == "percentage" and self.value > 1:
            raise ValueError(f"a percentage discount is a fraction (0.1 = 10 %), not {self.value}")
        if self.type == "absolute" and self.value != self.value.quantize(CENT):
            raise ValueError(f"an absolute discount is an amount in cents, not {self.value}")
        return self


class InvoiceItem(ResponseModel):
    """A line as Qonto returns it, with its computed amounts."""

    title: str | None = None
    description: str | None = None
    quantity: Decimal
    unit: str | None = None
    unit_price: Money
    unit_price_cents: int | None = None
    vat_rate: Decimal
    vat_exemption_reason: str | None = None
    discount: Annotated[ItemDiscount | None, BeforeValidator(_no_discount)] = None
    subtotal: Money | None = None
    subtotal_cents: int | None = None
    total_vat: Money | None = None
    total_vat_cents: int | None = None
    total_amount: Money | None = None
    total_amount_cents: int | None = None


class InvoiceItemInput(RequestModel):
    """A line to send. ``vat_rate`` is a fraction (``0.2`` = 20 %), ``unit_price`` excludes VAT."""

    title: str = Field(min_length=1)
    description: str | None = None
    quantity: WireDecimal = Field(gt=0, allow_inf_nan=False)
    unit: str | None = None
    unit_price: Money
    vat_rate: WireDecimal = Field(ge=0, lt=1, allow_inf_nan=False)
    vat_exemption_reason: str | None = None
    discount: ItemDiscountInput | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value

    @model_validator(mode="after")
    def _discount_within_line(self) -> Self:
        # an absolute discount larger than the line would make a negative line: refused before Qonto sees it
        if self.discount is not None and self.discount.type == "absolute":
            gross = (self.quantity * self.unit_price.value).quantize(CENT, rounding=ROUND_HALF_UP)
            if self.discount.value > gross:
                raise ValueError(f"discount {self.discount.value} is more than the line's {gross}")
        return self

    def to_payload(self) -> dict[str, Any]:
        # no discount, no key: the bodies of undiscounted lines stay what they were
        return self.model_dump(mode="json", exclude_none=True)


class PaymentMethod(ResponseModel):
    """Response form: one entry of the ``payment_methods`` array."""

    type: str | None = None
    iban: str | None = None
    bic: str | None = None
    beneficiary_name: str | None = None


class PaymentMethodsInput(RequestModel):
    """Request form: ``{"iban": ...}`` — an IBAN of one of the organization's Qonto accounts."""

    iban: str

    @field_validator("iban")
    @classmethod
    def _valid_iban(cls, value: str) -> str:
        try:
            return str(iban_checker.validate(value))
        except StdnumValidationError as exc:
            raise ValueError(f"invalid IBAN {value!r}: {exc}") from exc


class InvoiceClientRef(ResponseModel):
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


class EInvoicingLifecycleEvent(ResponseModel):
    """One step of the French e-invoicing lifecycle (200 submitted, 201 issued, 202 received, …,
    210 refused, 212 paid); ``status_code`` is an integer in Qonto's example."""

    status_code: int
    reason: str | None = None
    reason_message: str | None = None
    timestamp: Timestamp | None = None


class ClientInvoice(ResponseModel):
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
    contact_email: str | None = None
    amount_paid: Money | None = None
    # mandatory mentions Qonto prints, from the invoice's `settings`
    discount_conditions: str | None = None
    late_payment_penalties: str | None = None
    legal_fixed_compensation: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    finalized_at: Timestamp | None = None
    paid_at: Timestamp | None = None
    einvoicing_status: str | None = None
    einvoicing_lifecycle_events: Annotated[list[EInvoicingLifecycleEvent], BeforeValidator(_items_list)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _client_id_from_snapshot(self) -> Self:
        if self.client_id is None and self.client is not None:
            self.client_id = self.client.id
        return self

    @property
    def is_finalized(self) -> bool:
        return self.status in InvoiceStatus.FINALIZED


class _InvoiceFields(RequestModel):
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


class Attachment(ResponseModel):
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
