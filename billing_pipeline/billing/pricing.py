"""Pricing one customer's period: components → exact invoice lines → VAT → totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Context, Decimal

from billing_pipeline.billing.charges import LUMP_SUM_UNIT, Component, charge_components
from billing_pipeline.billing.coupons import apply_coupons
from billing_pipeline.billing.coverage import DaySpan
from billing_pipeline.billing.line_drafts import LineDraft
from billing_pipeline.billing.models import BilledSegment, Customer, InvoiceLine, InvoicePlan
from billing_pipeline.billing.money import amount_text, decimal_places, exact_product, exact_sum, round_cents
from billing_pipeline.billing.periods import MONTH_NAMES, BillingPeriod
from billing_pipeline.billing.price_plans import Coupon, Plan
from billing_pipeline.billing.vat import VatTreatment, line_vat, vat_breakdown, vat_treatment

# BR-FR-DEC: invoice quantities have at most 4 decimals.
MAX_QUANTITY_DECIMALS = 4
MONTH_UNIT = "month"
# Proration divides by the days of a month: rounded to the cent after 120 digits, which is exact
# for every tie (a half cent is a finite decimal, so the division produced it exactly).
_FRACTIONS = Context(prec=120)


def line_draft(
    component: Component,
    vat_rate: Decimal,
    vat_exemption_reason: str | None,
    metric: str | None,
    *,
    max_unit_price_decimals: int = 2,
) -> LineDraft | None:
    """The line for a component (``metric``: what it bills, None for a fee), or None when it bills nothing.

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
    return LineDraft(
        component.title, component.description, quantity, unit, unit_price, rate, vat_exemption_reason, net, metric
    )


def _prorated(amount: Decimal, span: DaySpan | None, period: BillingPeriod) -> Decimal:
    """``amount`` × days covered ÷ days in the period, to the cent (the whole amount without a span).

    Computed as the amount's share up to the span's last day minus its share before its first day,
    each rounded half-up: for a span starting on the 1st or ending on the last day (a start, a
    churn, an upgrade) this *is* ``round(amount × days ÷ days in period)``, and the shares of
    rows partitioning the month add up to the amount exactly — never a cent more or less.
    """
    if span is None:
        return amount
    days_in_period = Decimal(period.days)

    def share(days: int) -> Decimal:
        return round_cents(_FRACTIONS.divide(exact_product(amount, Decimal(days)), days_in_period))

    return share(span.last.day) - share(span.first.day - 1)


def span_text(span: DaySpan, period: BillingPeriod) -> str:
    """``16–31 Oct 2026, 16 of 31 days``: the service days of a subscription row's lines."""
    first, last = span.first, span.last
    return f"{first.day}–{last.day} {MONTH_NAMES[last.month][:3]} {last.year}, {span.days} of {period.days} days"


def plan_lines(
    customer: Customer,
    plan: Plan,
    usage: Mapping[str, Decimal],
    *,
    period: BillingPeriod,
    span: DaySpan | None = None,
    coupons: Sequence[Coupon] = (),
    max_unit_price_decimals: int = 2,
) -> list[InvoiceLine]:
    """The lines of one plan for the days of ``span`` (None: the whole period, no proration).

    Lines: the flat monthly fee (prorated by days covered), then each charged metric in price-list
    order (usage is never prorated: each span has the plan's full tiers and free units), then the
    minimum commitment true-up (the commitment prorated like the fee); then ``coupons`` take their
    discounts off them (``coupons.py``: the commitment is met before any discount).
    """
    if max_unit_price_decimals < 2:
        raise ValueError("max_unit_price_decimals must be at least 2 (lump-sum lines carry cents)")
    treatment = vat_treatment(customer)
    partial = span is not None and span.days != period.days
    days = f"; {span_text(span, period)}" if partial and span is not None else ""
    lines: list[LineDraft] = []

    def add(component: Component, rate: Decimal, reason: str | None, metric: str | None) -> None:
        draft = line_draft(
            component, *line_vat(treatment, rate, reason), metric, max_unit_price_decimals=max_unit_price_decimals
        )
        if draft is not None:
            lines.append(draft)

    fee = plan.monthly_fee
    if fee is not None:
        if partial:
            amount = _prorated(fee.amount, span, period)
            text = f"Monthly fee, {period.label}{days}: {amount_text(fee.amount)} EUR prorated"
            component = Component(fee.title, text, Decimal(1), LUMP_SUM_UNIT, amount)
        else:
            component = Component(fee.title, f"Monthly fee, {period.label}", Decimal(1), MONTH_UNIT, fee.amount)
        add(component, fee.vat_rate, fee.vat_exemption_reason, None)
    for metric, charge in plan.charges.items():
        used = usage.get(metric, Decimal(0))
        first = len(lines)
        for component in charge_components(charge, used):
            add(component, charge.vat_rate, charge.vat_exemption_reason, metric)
        if days:  # the segment's service days end each of its usage lines' descriptions
            for draft in lines[first:]:
                draft.description += days
    commitment = plan.minimum_commitment
    if commitment is not None:
        committed = _prorated(commitment.amount, span, period)
        billed = exact_sum([draft.net_amount for draft in lines])
        if billed < committed:
            prorated = f" ({amount_text(commitment.amount)} EUR prorated{days})" if partial else ""
            text = (
                f"Minimum commitment of {amount_text(committed)} EUR for {period.label}{prorated}; "
                f"fees and usage came to {amount_text(billed)} EUR"
            )
            component = Component(commitment.title, text, Decimal(1), LUMP_SUM_UNIT, committed - billed)
            add(component, commitment.vat_rate, commitment.vat_exemption_reason, None)
    if coupons:
        apply_coupons(lines, coupons)
    return [draft.line() for draft in lines]


def price_customer(
    customer: Customer,
    plan: Plan,
    usage: Mapping[str, Decimal],
    *,
    period: BillingPeriod,
    max_unit_price_decimals: int = 2,
) -> InvoicePlan | None:
    """The invoice for one customer and period on its ``customers.csv`` plan, or None.

    ``usage``: used quantity per metric. None when there is nothing to bill.
    """
    lines = plan_lines(customer, plan, usage, period=period, max_unit_price_decimals=max_unit_price_decimals)
    if not lines:
        return None
    return assemble_invoice(customer, period, lines)


def assemble_invoice(
    customer: Customer,
    period: BillingPeriod,
    lines: list[InvoiceLine],
    segments: tuple[BilledSegment, ...] = (),
) -> InvoicePlan:
    breakdown = vat_breakdown(lines)
    net_total = exact_sum([line.net_amount for line in lines])
    vat_total = exact_sum([row.vat_amount for row in breakdown])
    return InvoicePlan(
        customer=customer,
        period=period,
        currency="EUR",
        lines=lines,
        vat_breakdown=breakdown,
        net_total=net_total,
        vat_total=vat_total,
        total=net_total + vat_total,
        segments=segments,
    )


__all__ = ["VatTreatment", "assemble_invoice", "line_draft", "plan_lines", "price_customer"]
