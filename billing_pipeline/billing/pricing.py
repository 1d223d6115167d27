"""Pricing one customer's period: components → exact invoice lines → VAT → totals."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from billing_pipeline.billing.charges import LUMP_SUM_UNIT, Component, charge_components
from billing_pipeline.billing.models import Customer, InvoiceLine, InvoicePlan
from billing_pipeline.billing.money import amount_text, decimal_places, exact_product, exact_sum, round_cents
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.price_plans import Plan
from billing_pipeline.billing.vat import VatTreatment, line_vat, vat_breakdown, vat_treatment

# BR-FR-DEC: invoice quantities have at most 4 decimals.
MAX_QUANTITY_DECIMALS = 4
MONTH_UNIT = "month"


def invoice_line(
    component: Component,
    vat_rate: Decimal,
    vat_exemption_reason: str | None,
    *,
    max_unit_price_decimals: int = 2,
) -> InvoiceLine | None:
    """The line for a component, or None when it bills nothing.

    A line must satisfy net = quantity × unit price rounded half-up to the cent. When the exact
    unit price needs more decimals than Qonto is trusted to keep (or the quantity more than 4),
    the line becomes 1 "forfait" at the rounded net, and its description keeps the real quantity
    and unit price. A line priced 0 is left out: EN 16931 (BR-FR-DEC) wants prices above 0.
    """
    if component.quantity <= 0 or component.unit_price <= 0:
        return None
    net = round_cents(exact_product(component.quantity, component.unit_price))
    rate = vat_rate.normalize() if vat_rate else Decimal(0)
    exact = (
        decimal_places(component.unit_price) <= max_unit_price_decimals
        and decimal_places(component.quantity) <= MAX_QUANTITY_DECIMALS
    )
    if exact:
        quantity, unit, unit_price = component.quantity, component.unit, component.unit_price
    elif net > 0:
        quantity, unit, unit_price = Decimal(1), LUMP_SUM_UNIT, net
    else:
        return None
    return InvoiceLine(
        title=component.title,
        description=component.description,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        vat_rate=rate,
        vat_exemption_reason=vat_exemption_reason,
        net_amount=net,
    )


def price_customer(
    customer: Customer,
    plan: Plan,
    usage: Mapping[str, Decimal],
    *,
    period: BillingPeriod,
    max_unit_price_decimals: int = 2,
) -> InvoicePlan | None:
    """The invoice for one customer and period (``usage``: used quantity per metric), or None.

    Lines: the flat monthly fee, then each charged metric in price-list order, then the minimum
    commitment true-up. None when there is nothing to bill.
    """
    if max_unit_price_decimals < 2:
        raise ValueError("max_unit_price_decimals must be at least 2 (lump-sum lines carry cents)")
    treatment = vat_treatment(customer)
    lines: list[InvoiceLine] = []

    def add(component: Component, rate: Decimal, reason: str | None) -> None:
        line = invoice_line(
            component, *line_vat(treatment, rate, reason), max_unit_price_decimals=max_unit_price_decimals
        )
        if line is not None:
            lines.append(line)

    fee = plan.monthly_fee
    if fee is not None:
        component = Component(fee.title, f"Monthly fee, {period.label}", Decimal(1), MONTH_UNIT, fee.amount)
        add(component, fee.vat_rate, fee.vat_exemption_reason)
    for metric, charge in plan.charges.items():
        used = usage.get(metric, Decimal(0))
        for component in charge_components(charge, used):
            add(component, charge.vat_rate, charge.vat_exemption_reason)
    commitment = plan.minimum_commitment
    if commitment is not None:
        billed = exact_sum([line.net_amount for line in lines])
        if billed < commitment.amount:
            text = (
                f"Minimum commitment of {amount_text(commitment.amount)} EUR for {period.label}; "
                f"fees and usage came to {amount_text(billed)} EUR"
            )
            component = Component(commitment.title, text, Decimal(1), LUMP_SUM_UNIT, commitment.amount - billed)
            add(component, commitment.vat_rate, commitment.vat_exemption_reason)
    if not lines:
        return None
    return assemble_invoice(customer, period, lines)


def assemble_invoice(customer: Customer, period: BillingPeriod, lines: list[InvoiceLine]) -> InvoicePlan:
    breakdown = vat_breakdown(lines)
    net_total = exact_sum([line.net_amount for line in lines])
    vat_total = exact_sum([row.vat_amount for row in breakdown])
    return InvoicePlan(
        customer=customer,
        period=period.key,
        currency="EUR",
        lines=lines,
        vat_breakdown=breakdown,
        net_total=net_total,
        vat_total=vat_total,
        total=net_total + vat_total,
    )


__all__ = ["VatTreatment", "assemble_invoice", "invoice_line", "price_customer"]
