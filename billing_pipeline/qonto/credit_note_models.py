"""Qonto payloads of credit notes (qonto-api.md §8.5).

A credit note corrects one finalized invoice. It is sent with **positive** quantities; Qonto
presents it negatively (negative item quantities, and — our reading, see docs/qonto-client.md —
negative subtotals, VAT and totals). ``CreditNote.credited_amount`` gives the positive amount
credited, whatever sign the answer carries.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, field_validator, model_validator

from billing_pipeline.qonto.invoice_models import InvoiceClientRef, InvoiceItem, InvoiceItemInput
from billing_pipeline.qonto.wire import Money, RequestModel, ResponseModel, Timestamp

MAX_REASON_LENGTH = 500
MAX_NUMBER_LENGTH = 40
MAX_TERMS_LENGTH = 525


def _items_list(value: object) -> object:
    return [] if value is None else value


class CreditNoteCreate(RequestModel):
    """Body of ``POST /v2/credit_notes``.

    ``items`` carry positive quantities (``InvoiceItemInput`` refuses others): Qonto negates them.
    ``reason`` is required here although Qonto's docs only give its length: sending it always
    is harmless, and a credit note without a reason is useless to whoever reads it. ``number`` only
    when the organization numbers by hand (Qonto numbers automatically by default).
    """

    invoice_id: str = Field(min_length=1)
    issue_date: date
    reason: str = Field(min_length=1, max_length=MAX_REASON_LENGTH)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    items: list[InvoiceItemInput] = Field(min_length=1)
    number: str | None = Field(default=None, min_length=1, max_length=MAX_NUMBER_LENGTH)
    terms_and_conditions: str | None = Field(default=None, max_length=MAX_TERMS_LENGTH)
    contact_email: str | None = None

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("reason must not be blank")
        return value

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError(f"contact_email {value!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _currencies(self) -> Self:
        for index, item in enumerate(self.items):
            if item.unit_price.currency != self.currency:
                raise ValueError(
                    f"items[{index}].unit_price currency {item.unit_price.currency} != credit note currency "
                    f"{self.currency}"
                )
        return self

    def to_payload(self) -> dict[str, Any]:
        # currency always travels: Qonto checks it against the invoice's
        payload = self.model_dump(mode="json", exclude_none=True, exclude={"items"})
        payload["items"] = [item.to_payload() for item in self.items]
        return payload


class CreditNote(ResponseModel):
    """A credit note as Qonto returns it (lenient: unknown fields kept, most fields optional)."""

    id: str
    invoice_id: str | None = None
    attachment_id: str | None = None
    number: str | None = None
    issue_date: date | None = None
    invoice_issue_date: date | None = None
    reason: str | None = None
    currency: str | None = None
    total_amount: Money | None = None
    total_amount_cents: int | None = None
    vat_amount: Money | None = None
    vat_amount_cents: int | None = None
    items: Annotated[list[InvoiceItem], BeforeValidator(_items_list)] = Field(default_factory=list)
    client: InvoiceClientRef | None = None
    terms_and_conditions: str | None = None
    header: str | None = None
    footer: str | None = None
    contact_email: str | None = None
    invoice_url: str | None = None
    einvoicing_status: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    finalized_at: Timestamp | None = None

    @property
    def credited_amount(self) -> Decimal | None:
        """The amount credited, VAT included, as a positive number (Qonto shows it negative)."""
        return abs(self.total_amount.value) if self.total_amount is not None else None
