"""Charge models: how a used quantity of one metric becomes priced components.

A component is what one invoice line will say (before the line's final representation and its
VAT are chosen in ``pricing.py``). Quantities and prices are exact decimals; nothing is rounded
here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing_pipeline.billing.money import amount_text, grouped, plain
from billing_pipeline.billing.price_plans import (
    GraduatedCharge,
    PackageCharge,
    PerUnitCharge,
    Tier,
    VolumeCharge,
    tier_title,
)

LUMP_SUM_UNIT = "forfait"  # a quantity of 1 standing for a whole amount (UN/ECE Rec 20: LS)
PACK_UNIT = "pack"

Charge = PerUnitCharge | GraduatedCharge | VolumeCharge | PackageCharge


@dataclass(frozen=True)
class Component:
    title: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal


@dataclass(frozen=True)
class TierSlice:
    number: int  # 1-based, as printed
    lower: Decimal  # exclusive
    upper: Decimal | None  # inclusive; None = unbounded
    units: Decimal
    tier: Tier


def billable_quantity(used: Decimal, free_units: Decimal) -> Decimal:
    """Free units are deducted before any charge model applies."""
    return max(Decimal(0), used - free_units)


def graduated_slices(quantity: Decimal, tiers: list[Tier]) -> list[TierSlice]:
    """The units falling in each tier (lower bound exclusive, upper inclusive), used tiers only."""
    slices = []
    lower = Decimal(0)
    for number, tier in enumerate(tiers, start=1):
        if quantity <= lower:
            break
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        slices.append(TierSlice(number, lower, tier.up_to, top - lower, tier))
        if tier.up_to is None:
            break
        lower = tier.up_to
    return slices


def volume_tier(quantity: Decimal, tiers: list[Tier]) -> tuple[int, Tier]:
    """The tier the whole quantity reaches (1-based number): the first whose bound holds it."""
    for number, tier in enumerate(tiers, start=1):
        if tier.up_to is None or quantity <= tier.up_to:
            return number, tier
    raise ValueError("the last tier of a volume charge must be unbounded")


def started_packages(quantity: Decimal, package_size: Decimal) -> Decimal:
    whole, rest = divmod(quantity, package_size)
    return whole + 1 if rest else whole


def _range_text(lower: Decimal, upper: Decimal | None) -> str:
    if upper is None:
        return f"above {grouped(lower)}"
    if lower == 0:
        return f"up to {grouped(upper)}"
    return f"above {grouped(lower)} up to {grouped(upper)}"


def _free_note(used: Decimal, free_units: Decimal) -> str:
    return f" ({grouped(used)} used, {grouped(free_units)} free)" if free_units else ""


def charge_components(charge: Charge, used: Decimal) -> list[Component]:
    """Priced components for ``used`` units; none when nothing is billable."""
    quantity = billable_quantity(used, charge.free_units)
    if quantity == 0:
        return []
    free = _free_note(used, charge.free_units)
    per = f"EUR per {charge.unit}"
    if isinstance(charge, PerUnitCharge):
        text = f"{grouped(quantity)} × {plain(charge.unit_price)} {per}{free}"
        return [Component(charge.title, text, quantity, charge.unit, charge.unit_price)]
    if isinstance(charge, GraduatedCharge):
        components = []
        for piece in graduated_slices(quantity, charge.tiers):
            span = _range_text(piece.lower, piece.upper)
            text = f"Tier {piece.number}, {span}: {grouped(piece.units)} × {plain(piece.tier.unit_price)} {per}"
            components.append(
                Component(
                    tier_title(charge.title, piece.number),
                    text + (free if piece.number == 1 else ""),
                    piece.units,
                    charge.unit,
                    piece.tier.unit_price,
                )
            )
            if piece.tier.flat_fee:
                components.append(
                    Component(
                        tier_title(charge.title, piece.number, fee=True),
                        f"Flat fee of tier {piece.number} ({span}), reached with {grouped(quantity)}",
                        Decimal(1),
                        LUMP_SUM_UNIT,
                        piece.tier.flat_fee,
                    )
                )
        return components
    if isinstance(charge, VolumeCharge):
        number, tier = volume_tier(quantity, charge.tiers)
        lower = Decimal(0) if number == 1 else charge.tiers[number - 2].up_to or Decimal(0)
        span = _range_text(lower, tier.up_to)
        text = f"{grouped(quantity)} × {plain(tier.unit_price)} {per} (volume tier {number}, {span}){free}"
        components = [Component(charge.title, text, quantity, charge.unit, tier.unit_price)]
        if tier.flat_fee:
            components.append(
                Component(
                    tier_title(charge.title, number, fee=True),
                    f"Flat fee of volume tier {number} ({span})",
                    Decimal(1),
                    LUMP_SUM_UNIT,
                    tier.flat_fee,
                )
            )
        return components
    packs = started_packages(quantity, charge.package_size)
    text = (
        f"{grouped(quantity)} {charge.unit}: {grouped(packs)} started pack{'s' if packs > 1 else ''} of "
        f"{grouped(charge.package_size)} {charge.unit} × {amount_text(charge.package_price)} EUR{free}"
    )
    return [Component(charge.title, text, packs, PACK_UNIT, charge.package_price)]
