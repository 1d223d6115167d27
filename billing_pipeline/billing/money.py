"""Exact decimal arithmetic and the textual forms of amounts, quantities and rates."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation, Overflow

CENT = Decimal("0.01")

# Every product of a quantity and a price is computed without any rounding: a trap on Inexact
# turns a silently rounded intermediate result into a crash instead of a wrong invoice.
_EXACT = Context(prec=120, traps=[Inexact, InvalidOperation, Overflow])
# Same precision, but rounding allowed: used where a rounding is the point (cents, normal forms).
_EXACT_ROUNDING = Context(prec=120, traps=[InvalidOperation, Overflow])


def exact_product(left: Decimal, right: Decimal) -> Decimal:
    return _EXACT.multiply(left, right)


def exact_sum(values: list[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total = _EXACT.add(total, value)
    return total


def round_cents(value: Decimal) -> Decimal:
    """Round half-up (away from zero) to the cent, the EN 16931 convention used by Qonto."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=_EXACT_ROUNDING)


def decimal_places(value: Decimal) -> int:
    """Number of decimals needed to write ``value`` exactly (``1.50`` needs 1, ``100`` needs 0)."""
    exponent = value.normalize(_EXACT_ROUNDING).as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite number")
    return max(0, -exponent)


def plain(value: Decimal) -> str:
    """Shortest exact decimal text without exponent: ``1250000``, ``0.0004``, ``0.2``."""
    return format(value.normalize(_EXACT_ROUNDING), "f")


def amount_text(value: Decimal) -> str:
    """An amount as Qonto and Factur-X want it: exactly two decimals, point, no grouping."""
    return f"{round_cents(value):f}"


def price_text(value: Decimal) -> str:
    """A unit price: at least 2 decimals (``19.00``), more only when needed (``0.0004``)."""
    return amount_text(value) if decimal_places(value) <= 2 else plain(value)


def grouped(value: Decimal) -> str:
    """Human form for descriptions: thousands separated by spaces, ``1 250 000`` or ``12 345.5``."""
    # the format mini-language groups the integer part only (a ``,`` we turn into spaces); the
    # exact normal form keeps every digit beyond the default 28-digit context
    return format(value.normalize(_EXACT_ROUNDING), ",f").replace(",", " ")


def percent_text(rate: Decimal) -> str:
    """``0.2`` -> ``20%``, ``0.055`` -> ``5.5%``."""
    return f"{plain(exact_product(rate, Decimal(100)))}%"
