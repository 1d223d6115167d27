"""Typed reads of Qonto's invoice JSON: every bad value names the field it came from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from billing_pipeline.emulator._documents.document_model import InvoiceDataError


def decimal_places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def read_mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvoiceDataError(f"{where} must be an object")
    return value


def read_decimal(value: object, where: str) -> Decimal:
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


def read_date(value: object, where: str) -> date:
    parsed = read_optional_date(value, where)
    if parsed is None:
        raise InvoiceDataError(f"{where} is missing")
    return parsed


def read_optional_date(value: object, where: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise InvoiceDataError(f"{where} is not an ISO date: {value!r}") from exc


def read_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_compact(value: object) -> str | None:
    text = read_text(value)
    return text.replace(" ", "").upper() if text else None


def read_digits(value: object) -> str | None:
    text = read_text(value)
    return re.sub(r"[\s.]", "", text) if text else None
