"""Typed money at the ledger's boundary: exact decimals in, ``Money`` out, never a float.

Amounts are stored as the exact decimal text ``str(Decimal)`` writes (``"27.60"``, ``"-12.00"``) in
VARCHAR(32) columns: that is what every release wrote, so old rows read back unchanged, and no
database rounds or reformats them (a NUMERIC column would, differently on SQLite and PostgreSQL).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy.types import TypeDecorator

AMOUNT_TEXT_LENGTH = 32
_CENT = Decimal("0.01")
_CURRENCY = re.compile(r"[A-Z]{3}")


def parse_amount(value: Any) -> Decimal:
    """An exact, finite Decimal from a Decimal, an int or a decimal string; a float is refused (a
    binary fraction is not the amount anyone typed)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"amounts are exact decimals, not {type(value).__name__} ({value!r})")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int | str):
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal amount") from None
    else:
        raise TypeError(f"amounts are exact decimals, not {type(value).__name__} ({value!r})")
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite amount")
    return amount


def amount_text(amount: Decimal) -> str:
    """How an amount is stored: ``str(Decimal)``, exactly what the previous releases wrote."""
    return str(amount)


class Money(BaseModel):
    """An amount in a currency. ``str()`` is ``"27.60 EUR"``: at least two decimals, never rounded."""

    model_config = ConfigDict(frozen=True)
    amount: Decimal
    currency: str

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Decimal:
        try:
            return parse_amount(value)
        except TypeError as wrong_type:
            raise ValueError(str(wrong_type)) from None  # pydantic reports ValueErrors, not TypeErrors

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value):
            raise ValueError(f"currency {value!r} is not an ISO 4217 code such as EUR")
        return value

    def __str__(self) -> str:
        exponent = self.amount.as_tuple().exponent
        assert isinstance(exponent, int)  # finite, see _exact
        # cents always shown ("27.60"); a sub-cent amount keeps all its digits, never rounded
        shown = self.amount.quantize(_CENT) if exponent >= -2 else self.amount
        return f"{shown:f} {self.currency}"

    @classmethod
    def from_stored(cls, text: str, currency: str) -> Money:
        """Money from an amount column's text (``"27.60"``) and the currency the record is in."""
        return cls(amount=parse_amount(text), currency=currency)


def money_or_none(text: str | None, currency: str) -> Money | None:
    """``Money.from_stored`` for a nullable amount column."""
    return None if text is None else Money.from_stored(text, currency)


class DecimalString(TypeDecorator[Decimal]):
    """A Decimal stored as its exact text in a VARCHAR (the previous releases' format); reads back a
    Decimal. Writes accept a Decimal, an int or a decimal string; a float is refused."""

    impl = sa.String(AMOUNT_TEXT_LENGTH)
    cache_ok = True

    def __init__(self, length: int = AMOUNT_TEXT_LENGTH) -> None:
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        text = amount_text(parse_amount(value))
        # PostgreSQL would refuse it anyway, SQLite would store it whole: refuse it on both
        if len(text) > self.length:
            raise ValueError(f"amount {text} is longer than its column's {self.length} characters")
        return text

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else parse_amount(value)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal
