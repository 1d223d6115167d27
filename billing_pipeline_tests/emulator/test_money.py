"""The emulator's documented arithmetic: half-up cents per line, VAT once per rate (EN 16931)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from billing_pipeline.emulator.money import format_amount, invoice_amounts, line_amounts, to_cents

from .helpers import create_invoice, item

D = Decimal


@pytest.mark.parametrize(
    ("quantity", "price", "rate", "subtotal", "vat"),
    [
        ("1250000", "0.0004", "0.2", "500.00", "100.00"),
        ("1", "0.005", "0.2", "0.01", "0.00"),  # 0.005 half-up, not banker's
        ("3", "0.125", "0.055", "0.38", "0.02"),  # 0.375 -> 0.38; 0.0209 -> 0.02
        ("0.5", "10.01", "0.1", "5.01", "0.50"),  # 5.005 -> 5.01; 0.501 -> 0.50
    ],
)
def test_line_rounding(quantity: str, price: str, rate: str, subtotal: str, vat: str) -> None:
    line = line_amounts(D(quantity), D(price), D(rate))

    assert (line.subtotal, line.total_vat) == (D(subtotal), D(vat))
    assert line.total_amount == D(subtotal) + D(vat)


def test_vat_is_computed_once_per_rate_not_summed_per_line() -> None:
    amounts = invoice_amounts([(D("1"), D("0.03"), D("0.2"))] * 3 + [(D("1"), D("10"), D("0.055"))])

    assert sum(line.total_vat for line in amounts.lines) == D("0.58")  # 0.01 * 3 + 0.55
    assert amounts.vat == D("0.57")  # round(0.09 * 0.2) + round(10 * 0.055) = 0.02 + 0.55
    assert amounts.subtotal == D("10.09")
    assert amounts.total == D("10.66")


@pytest.mark.parametrize(
    ("amount", "text"),
    [("12.5", "12.50"), ("0.0004", "0.0004"), ("1E+3", "1000.00"), ("12.500", "12.50"), ("7", "7.00")],
)
def test_format_amount(amount: str, text: str) -> None:
    assert format_amount(D(amount)) == text


def test_cents() -> None:
    assert to_cents(D("12.345")) == 1235
    assert to_cents(D("0.0004")) == 0


def test_the_api_applies_the_per_rate_rule(api: httpx.Client) -> None:
    cheap = item(quantity="1", unit_price={"value": "0.03", "currency": "EUR"})

    invoice = create_invoice(api, items=[cheap, cheap, cheap])

    assert [line["total_vat"]["value"] for line in invoice["items"]] == ["0.01"] * 3
    assert invoice["vat_amount"] == {"value": "0.02", "currency": "EUR"}
    assert invoice["total_amount"] == {"value": "0.11", "currency": "EUR"}
