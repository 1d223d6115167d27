from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_pipeline.billing.charges import (
    LUMP_SUM_UNIT,
    PACK_UNIT,
    charge_components,
    graduated_slices,
    started_packages,
    volume_tier,
)
from billing_pipeline.billing.money import exact_product, exact_sum
from billing_pipeline.billing.price_list import GraduatedCharge, PackageCharge, PerUnitCharge, Tier, VolumeCharge

D = Decimal
TIERS = [
    Tier(up_to=D(100), unit_price=D("0.10")),
    Tier(up_to=D(1000), unit_price=D("0.05"), flat_fee=D("2.00")),
    Tier(up_to=None, unit_price=D("0.01")),
]
COMMON = {"title": "API calls", "unit": "call", "vat_rate": D("0.2")}


def test_graduated_prices_each_tier_separately() -> None:
    charge = GraduatedCharge(model="graduated", tiers=TIERS, **COMMON)
    components = charge_components(charge, D(1500))
    assert [(c.title, c.quantity, c.unit, c.unit_price) for c in components] == [
        ("API calls (tier 1)", D(100), "call", D("0.10")),
        ("API calls (tier 2)", D(900), "call", D("0.05")),
        ("API calls (tier 2 fee)", D(1), LUMP_SUM_UNIT, D("2.00")),
        ("API calls (tier 3)", D(500), "call", D("0.01")),
    ]
    assert components[1].description == "Tier 2, above 100 up to 1 000: 900 × 0.05 EUR per call"
    assert components[3].description == "Tier 3, above 1 000: 500 × 0.01 EUR per call"


def test_graduated_stops_at_the_tier_reached() -> None:
    assert [s.units for s in graduated_slices(D(100), TIERS)] == [D(100)]
    assert [s.units for s in graduated_slices(D("100.5"), TIERS)] == [D(100), D("0.5")]
    assert graduated_slices(D(0), TIERS) == []


def test_volume_prices_everything_at_the_tier_reached() -> None:
    charge = VolumeCharge(model="volume", tiers=TIERS, **COMMON)
    assert volume_tier(D(100), TIERS)[0] == 1
    assert volume_tier(D("100.01"), TIERS)[0] == 2
    components = charge_components(charge, D(1000))
    assert [(c.quantity, c.unit_price) for c in components] == [(D(1000), D("0.05")), (D(1), D("2.00"))]
    assert "volume tier 2, above 100 up to 1 000" in components[0].description


def test_package_bills_started_blocks() -> None:
    charge = PackageCharge(model="package", package_size=D(100), package_price=D("6.00"), **COMMON)
    assert started_packages(D(100), D(100)) == 1
    assert started_packages(D("100.000001"), D(100)) == 2
    component = charge_components(charge, D(250))[0]
    assert (component.quantity, component.unit, component.unit_price) == (D(3), PACK_UNIT, D("6.00"))
    assert component.description == "250 call: 3 started packs of 100 call × 6.00 EUR"


def test_free_units_are_deducted_first() -> None:
    charge = PerUnitCharge(model="per_unit", unit_price=D("0.0004"), free_units=D(10000), **COMMON)
    assert charge_components(charge, D(9999)) == []
    component = charge_components(charge, D(1260000))[0]
    assert component.quantity == D(1250000)
    assert component.description == "1 250 000 × 0.0004 EUR per call (1 260 000 used, 10 000 free)"


quantities = st.decimals(min_value=0, max_value=10**7, places=3, allow_nan=False, allow_infinity=False)
bounds = st.lists(st.integers(min_value=1, max_value=10**6), min_size=0, max_size=5, unique=True).map(sorted)
prices = st.decimals(min_value=0, max_value=10, places=5, allow_nan=False, allow_infinity=False)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[Tier]:
    ups = draw(bounds)
    tiers = [Tier(up_to=D(up), unit_price=draw(prices)) for up in ups]
    return [*tiers, Tier(up_to=None, unit_price=draw(prices))]


@given(quantity=quantities, tiers=tier_lists())
def test_graduated_slices_cover_the_quantity_exactly(quantity: Decimal, tiers: list[Tier]) -> None:
    slices = graduated_slices(quantity, tiers)
    assert exact_sum([s.units for s in slices]) == quantity
    assert all(s.units > 0 for s in slices)
    for piece in slices:
        assert piece.upper is None or piece.lower + piece.units <= piece.upper
    # slices are contiguous and start at 0
    lower = D(0)
    for piece in slices:
        assert piece.lower == lower
        lower = piece.lower + piece.units


@given(quantity=quantities, extra=quantities, tiers=tier_lists())
def test_graduated_amount_never_decreases_with_usage(quantity: Decimal, extra: Decimal, tiers: list[Tier]) -> None:
    def cost(q: Decimal) -> Decimal:
        return exact_sum([exact_product(s.units, s.tier.unit_price) for s in graduated_slices(q, tiers)])

    assert cost(quantity + extra) >= cost(quantity)


@given(quantity=quantities.filter(lambda q: q > 0), tiers=tier_lists())
def test_volume_tier_holds_the_quantity(quantity: Decimal, tiers: list[Tier]) -> None:
    number, tier = volume_tier(quantity, tiers)
    assert tier.up_to is None or quantity <= tier.up_to
    if number > 1:
        assert quantity > (tiers[number - 2].up_to or 0)


@given(quantity=quantities, size=st.decimals(min_value="0.5", max_value=1000, places=2))
def test_started_packages_is_the_ceiling(quantity: Decimal, size: Decimal) -> None:
    packs = started_packages(quantity, size)
    assert packs == packs.to_integral_value()
    assert (packs - 1) * size < quantity <= packs * size or (quantity == 0 and packs == 0)


@pytest.mark.parametrize("used", [D(0), D(5)])
def test_nothing_billable_gives_no_component(used: Decimal) -> None:
    charge = PerUnitCharge(model="per_unit", unit_price=D("1.00"), free_units=D(5), **COMMON)
    assert charge_components(charge, used) == []
