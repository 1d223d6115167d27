from __future__ import annotations

from decimal import Decimal, Inexact

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_pipeline.billing.money import (
    amount_text,
    decimal_places,
    exact_product,
    grouped,
    percent_text,
    plain,
    price_text,
    round_cents,
)


@pytest.mark.parametrize(
    ("value", "rounded"),
    [("0.005", "0.01"), ("0.0049", "0.00"), ("2.675", "2.68"), ("-0.005", "-0.01"), ("500", "500.00")],
)
def test_round_cents_is_half_up(value: str, rounded: str) -> None:
    assert str(round_cents(Decimal(value))) == rounded


def test_texts() -> None:
    assert plain(Decimal("1250000.000000")) == "1250000"
    assert plain(Decimal("0.00040")) == "0.0004"
    assert plain(Decimal("1E+3")) == "1000"
    assert amount_text(Decimal("19")) == "19.00"
    assert price_text(Decimal("19")) == "19.00"
    assert price_text(Decimal("0.00040")) == "0.0004"
    assert grouped(Decimal("1250000")) == "1 250 000"
    assert grouped(Decimal("12345.50")) == "12 345.5"
    assert percent_text(Decimal("0.055")) == "5.5%"
    assert decimal_places(Decimal("1.50")) == 1
    assert decimal_places(Decimal("100")) == 0


def test_exact_product_never_rounds() -> None:
    big = Decimal("12345678901234567890.123456")
    assert exact_product(big, Decimal("0.0004")) == Decimal("4938271560493827.1560493824")
    with pytest.raises(Inexact):
        exact_product(Decimal("1." + "1" * 100), Decimal("1." + "1" * 100))


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_round_cents_is_within_half_a_cent(value: Decimal) -> None:
    rounded = round_cents(value)
    assert rounded.as_tuple().exponent == -2
    assert abs(rounded - value) <= Decimal("0.005")
    assert Decimal(plain(value)) == value


def test_round_cents_is_exact_beyond_the_default_decimal_precision() -> None:
    # 33 significant digits: the default 28-digit context would refuse to quantize this
    huge = Decimal("1" * 30 + ".005")
    assert round_cents(huge) == Decimal("1" * 30 + ".01")


def test_billing_and_facturx_round_to_the_cent_with_the_one_function() -> None:
    import ast
    from pathlib import Path

    from billing_pipeline.facturx import money as facturx_money

    assert facturx_money.round_cents is round_cents
    package = Path(__file__).resolve().parents[2] / "billing_pipeline"
    others = []
    for folder in ("billing", "facturx"):
        for path in (package / folder).rglob("*.py"):
            if path == package / "billing" / "money.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "quantize":
                    call_text = ast.unparse(node.value)
                    others.append(f"{path.relative_to(package)}: {call_text}.quantize")
    # usage_columns checks a quantity's scale (not money): its quantize is to 10^-QUANTITY_SCALE
    assert [o for o in others if not o.startswith("billing/usage_columns.py")] == []


@given(st.decimals(min_value=-(10**40), max_value=10**40, places=8, allow_nan=False, allow_infinity=False))
def test_grouped_is_the_exact_number_in_groups_of_three(value: Decimal) -> None:
    text = grouped(value)
    integer = text.lstrip("-").partition(".")[0].split(" ")
    assert Decimal(text.replace(" ", "")) == value  # every digit kept, beyond 28 significant ones
    assert text.replace(" ", "") == plain(value)
    assert 1 <= len(integer[0]) <= 3 and all(len(group) == 3 for group in integer[1:])
