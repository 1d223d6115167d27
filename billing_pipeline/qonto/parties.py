"""Qonto payloads of the organization (its bank accounts) and of clients."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from billing_pipeline.qonto.wire import (
    Address,
    BankAccountStatus,
    ClientKind,
    Phone,
    RequestModel,
    ResponseModel,
    Timestamp,
)

# --- organization -------------------------------------------------------------------------------


class BankAccount(ResponseModel):
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


class Organization(ResponseModel):
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


class Client(ResponseModel):
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


class _ClientFields(RequestModel):
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
