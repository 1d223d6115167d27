"""The emulator's invoice arithmetic — an assumption, since Qonto does not document it.

* item ``subtotal``  = round(quantity × unit_price) − discount amount, half-up to the cent
  (EN 16931 BT-131: the line net after its allowance);
* item discount amount: ``absolute`` → its value; ``percentage`` → round(round(quantity ×
  unit_price) × value), half-up to the cent — the emulator's assumption: Qonto documents the
  percentage as a fraction but not how it rounds the amount (hence we send absolute discounts);
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
from typing import Any, Literal

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
class ItemDiscount:
    """An item's discount as sent: a fraction for ``percentage``, an amount for ``absolute``."""

    type: Literal["percentage", "absolute"]
    value: Decimal

    @classmethod
    def from_storage(cls, stored: Any) -> ItemDiscount | None:
        if not stored:
            return None
        kind = "percentage" if stored["type"] == "percentage" else "absolute"
        return cls(type=kind, value=Decimal(stored["value"]))

    def amount(self, gross: Decimal) -> Decimal:
        """What the discount takes off a line whose quantity × unit_price rounds to ``gross``."""
        if self.type == "percentage":
            return round_cents(gross * self.value)
        return self.value


@dataclass(frozen=True)
class LineAmounts:
    subtotal: Decimal
    total_vat: Decimal
    total_amount: Decimal
    discount: Decimal = ZERO  # the amount the item's discount took off (zero without one)


@dataclass(frozen=True)
class InvoiceAmounts:
    lines: tuple[LineAmounts, ...]
    subtotal: Decimal
    vat: Decimal
    total: Decimal


def line_amounts(
    quantity: Decimal, unit_price: Decimal, vat_rate: Decimal, discount: ItemDiscount | None = None
) -> LineAmounts:
    gross = round_cents(quantity * unit_price)
    taken_off = discount.amount(gross) if discount is not None else ZERO
    subtotal = gross - taken_off
    total_vat = round_cents(subtotal * vat_rate)
    return LineAmounts(subtotal=subtotal, total_vat=total_vat, total_amount=subtotal + total_vat, discount=taken_off)


ItemTerms = tuple[Decimal, Decimal, Decimal] | tuple[Decimal, Decimal, Decimal, ItemDiscount | None]


def invoice_amounts(items: Iterable[ItemTerms]) -> InvoiceAmounts:
    """``items`` are (quantity, unit_price, vat_rate[, discount]) tuples."""
    lines = []
    basis_by_rate: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    for terms in items:
        quantity, unit_price, vat_rate = terms[0], terms[1], terms[2]
        line = line_amounts(quantity, unit_price, vat_rate, terms[3] if len(terms) > 3 else None)
        lines.append(line)
        basis_by_rate[vat_rate.normalize()] += line.subtotal
    subtotal = sum((line.subtotal for line in lines), ZERO)
    vat = sum((round_cents(basis * rate) for rate, basis in basis_by_rate.items()), ZERO)
    return InvoiceAmounts(lines=tuple(lines), subtotal=subtotal, vat=vat, total=subtotal + vat)


def stored_invoice_amounts(items: Iterable[Any]) -> InvoiceAmounts:
    """The amounts of items as the state file keeps them (``schemas.item_to_storage``)."""
    return invoice_amounts(
        (
            Decimal(item["quantity"]),
            Decimal(item["unit_price"]),
            Decimal(item["vat_rate"]),
            ItemDiscount.from_storage(item.get("discount")),
        )
        for item in items
    )


def discount_json(stored: Any, line: LineAmounts, currency: str, *, sign: int = 1) -> dict[str, Any] | None:
    """An item's ``discount`` as Qonto documents it on responses: ``{type, value, amount}``.

    ``value`` is what was sent; ``amount`` (its shape is not documented: the emulator answers a
    money object, like every other amount) is what it took off the line, with the line's sign.
    """
    if not stored:
        return None
    discount = ItemDiscount.from_storage(stored)
    assert discount is not None
    value = format_number(discount.value) if discount.type == "percentage" else format_amount(discount.value)
    return {"type": discount.type, "value": value, "amount": money(sign * line.discount, currency)}


def money_fields(name: str, amount: Decimal, currency: str) -> dict[str, Any]:
    """``{name: {value, currency}, name_cents: int}`` as on every Qonto amount."""
    return {name: money(amount, currency), f"{name}_cents": to_cents(amount)}
