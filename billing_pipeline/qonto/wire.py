"""What every Qonto payload model shares: lenient responses, strict requests, exact money, aware times.

Responses are lenient, as Qonto's versioning policy requires: unknown fields are kept
(``extra="allow"``), enumerations are plain strings (known values listed as constants), numbers
that may come as strings are coerced. Requests are strict: unknown fields are refused and only the
fields actually given are sent. Money is ``Decimal`` end to end and goes on the wire as a plain
decimal string (never exponent notation, never a float).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)


def _plain_decimal(value: Decimal) -> str:
    return format(value, "f")


def _aware(value: datetime) -> datetime:
    # Qonto documents offsets on every timestamp; a naive one is read as UTC rather than rejected
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


WireDecimal = Annotated[Decimal, PlainSerializer(_plain_decimal, return_type=str, when_used="json")]
"""A Decimal that serializes as a plain decimal string (``"0.0004"``, never ``"4E-4"``)."""

Timestamp = Annotated[datetime, AfterValidator(_aware)]
"""A timezone-aware instant (naive input is taken as UTC)."""


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class RequestModel(BaseModel):
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


MAX_PER_PAGE: Final = 100
"""Qonto's largest ``per_page`` on every list endpoint (qonto-api.md §4: min 1, max 100, default 100).

The one definition in the client: every list call's default and bound come from here."""


class PageMeta(ResponseModel):
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
