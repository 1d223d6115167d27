"""The emulator's invoice arithmetic — an assumption, since Qonto does not document it.

* item ``subtotal``  = round(quantity × unit_price), half-up to the cent (EN 16931 BT-131);
* item ``total_vat`` = round(subtotal × vat_rate) — informative per line;
* invoice VAT        = Σ over each VAT rate of round(Σ subtotals at that rate × rate), the
  EN 16931 per-rate rule, so it equals the embedded XML's BT-110 (the per-line VATs may sum to a
  cent more or less);
* invoice total      = Σ subtotals + invoice VAT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(amount: Decimal) -> int:
    return int(round_cents(amount) * 100)


def format_amount(amount: Decimal) -> str:
    """Plain decimal notation with at least two decimals: ``12.50``, ``0.0004``, never ``4E-4``."""
    normalized = amount.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        normalized = normalized.quantize(CENT)
    return format(normalized, "f")


def format_number(value: Decimal) -> str:
    """Quantities and rates as Qonto prints them: ``1250000``, ``0.5``, ``0.2``."""
    return format(value.normalize(), "f")


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"value": format_amount(amount), "currency": currency}


@dataclass(frozen=True)
class LineAmounts:
    subtotal: Decimal
    total_vat: Decimal
    total_amount: Decimal


@dataclass(frozen=True)
class InvoiceAmounts:
    lines: tuple[LineAmounts, ...]
    subtotal: Decimal
    vat: Decimal
    total: Decimal


def line_amounts(quantity: Decimal, unit_price: Decimal, vat_rate: Decimal) -> LineAmounts:
    subtotal = round_cents(quantity * unit_price)
    total_vat = round_cents(subtotal * vat_rate)
    return LineAmounts(subtotal=subtotal, total_vat=total_vat, total_amount=subtotal + total_vat)


def invoice_amounts(items: Iterable[tuple[Decimal, Decimal, Decimal]]) -> InvoiceAmounts:
    """``items`` are (quantity, unit_price, vat_rate) triples."""
    lines = []
    basis_by_rate: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for quantity, unit_price, vat_rate in items:
        line = line_amounts(quantity, unit_price, vat_rate)
        lines.append(line)
        basis_by_rate[vat_rate.normalize()] += line.subtotal
    subtotal = sum((line.subtotal for line in lines), ZERO)
    vat = sum((round_cents(basis * rate) for rate, basis in basis_by_rate.items()), ZERO)
    return InvoiceAmounts(lines=tuple(lines), subtotal=subtotal, vat=vat, total=subtotal + vat)


def money_fields(name: str, amount: Decimal, currency: str) -> dict[str, Any]:
    """``{name: {value, currency}, name_cents: int}`` as on every Qonto amount."""
    return {name: money(amount, currency), f"{name}_cents": to_cents(amount)}
