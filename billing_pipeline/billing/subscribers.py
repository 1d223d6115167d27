"""Pricing a customer billed by subscription rows: one set of lines per row touching the period.

Each row (a *segment* of the period) is priced by its own plan over its own days: fees and the
minimum commitment prorated by days covered, usage with the plan's full tiers and free units, then
the row's coupons still in force. The invoice is every segment's lines, in the rows' order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from billing_pipeline.billing.models import BilledSegment, Customer, InvoicePlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.price_plans import PriceList
from billing_pipeline.billing.pricing import assemble_invoice, plan_lines
from billing_pipeline.billing.subscriptions import Segment


def coupons_in_force(segment: Segment, price_list: PriceList, period: BillingPeriod) -> tuple[str, ...]:
    """The row's coupons that still apply in ``period`` (``duration_periods`` counted from its start)."""
    since = segment.row.periods_since_start(period)
    return tuple(name for name in segment.row.coupons if price_list.coupons[name].applies_in(since))


def price_subscriber(
    customer: Customer,
    segments: Sequence[Segment],
    usage: Sequence[Mapping[str, Decimal]],
    price_list: PriceList,
    *,
    period: BillingPeriod,
    max_unit_price_decimals: int = 2,
) -> InvoicePlan | None:
    """The invoice of a customer with subscription rows (``usage``: quantities per segment), or None."""
    if len(usage) != len(segments):
        raise ValueError(f"{len(segments)} segments but usage for {len(usage)}")
    lines = []
    billed = []
    for segment, used in zip(segments, usage, strict=True):
        plan = price_list.plans[segment.plan]
        names = coupons_in_force(segment, price_list, period)
        lines += plan_lines(
            customer,
            plan,
            used,
            period=period,
            span=segment.span,
            coupons=[price_list.coupons[name] for name in names],
            max_unit_price_decimals=max_unit_price_decimals,
        )
        billed.append(
            BilledSegment(
                plan=segment.plan,
                starts_on=segment.span.first,
                ends_on=segment.span.last,
                days=segment.span.days,
                period_days=period.days,
                coupons=names,
            )
        )
    if not lines:
        return None
    return assemble_invoice(customer, period, lines, tuple(billed))
