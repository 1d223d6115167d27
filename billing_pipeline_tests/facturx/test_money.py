"""Our exact arithmetic on single lines: EN 16931's line net and net price, with their tolerances."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing_pipeline.facturx import FacturXInvoice, verify_xml
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.money import check_money


@pytest.fixture(scope="module")
def invoice(german_xml: bytes) -> FacturXInvoice:
    read = verify_xml(german_xml).invoice
    assert read is not None
    return read


def _line_rules(invoice: FacturXInvoice, **line: object) -> dict[str, str]:
    """The BP-MONEY rules broken by the second line with these values (its net kept consistent)."""
    changed = invoice.lines[1].model_copy(update=line)
    findings = Findings()
    check_money(invoice.model_copy(update={"lines": [changed]}), findings)
    return {
        finding.rule: finding.message for finding in findings.errors if finding.rule in {"BP-MONEY-01", "BP-MONEY-10"}
    }


@pytest.mark.parametrize(
    ("gross", "discount", "net"),
    [
        ("12.00", "0.50", "11.50"),
        ("12.00", "0.50", "11.5"),
        ("10.00", "0.333", "9.667"),
        ("10.00", "0.333", "9.67"),  # rounded to the precision it is written with
        ("11.50", None, "11.50"),
    ],
)
def test_net_price_is_gross_minus_discount(invoice: FacturXInvoice, gross: str, discount: str | None, net: str) -> None:
    net_price = Decimal(net)
    total = (Decimal(250) * net_price / 100).quantize(Decimal("0.01"))
    rules = _line_rules(
        invoice,
        gross_price=Decimal(gross),
        price_discount=Decimal(discount) if discount else None,
        unit_price=net_price,
        net_amount=total,
    )

    assert rules == {}


@pytest.mark.parametrize(
    ("gross", "discount", "net", "message"),
    [
        ("10.00", "0.333", "9.66", "= 10.00 − 0.333 = 9.667 but the net price (BT-146) is 9.66"),
        # written without decimals, a net price still has to be right to the cent
        ("4.30", None, "4", "= 4.30 = 4.3 but the net price (BT-146) is 4"),
    ],
)
def test_a_net_price_off_its_gross_price_is_named(
    invoice: FacturXInvoice, gross: str, discount: str | None, net: str, message: str
) -> None:
    net_price = Decimal(net)
    rules = _line_rules(
        invoice,
        gross_price=Decimal(gross),
        price_discount=Decimal(discount) if discount else None,
        unit_price=net_price,
        net_amount=(Decimal(250) * net_price / 100).quantize(Decimal("0.01")),
    )

    assert set(rules) == {"BP-MONEY-10"}
    assert rules["BP-MONEY-10"].startswith("line 2: gross price − price discount (BT-148 − BT-147) ")
    assert rules["BP-MONEY-10"].endswith(message)


def test_gross_and_net_prices_per_different_base_quantities(invoice: FacturXInvoice) -> None:
    # gross 12.00 per 100 pieces, discount 0.50 per 100, net 0.115 per piece
    rules = _line_rules(invoice, base_quantity=None, gross_base_quantity=Decimal(100), unit_price=Decimal("0.115"))

    assert rules == {}


def test_line_net_adds_charges_and_subtracts_allowances(invoice: FacturXInvoice) -> None:
    line = {"gross_price": None, "price_discount": None, "base_quantity": None, "quantity": Decimal(2)}
    consistent = _line_rules(
        invoice,
        **line,
        unit_price=Decimal(10),
        charges=Decimal("1.50"),
        allowances=Decimal("0.50"),
        net_amount=Decimal("21.00"),
    )
    charge_forgotten = _line_rules(
        invoice,
        **line,
        unit_price=Decimal(10),
        charges=Decimal("1.50"),
        allowances=Decimal("0.50"),
        net_amount=Decimal("19.50"),
    )

    assert consistent == {}
    assert charge_forgotten == {
        "BP-MONEY-01": "line 2: 2 × 10 + 1.50 − 0.50 = 21.00 but the line net (BT-131) is 19.50"
    }
