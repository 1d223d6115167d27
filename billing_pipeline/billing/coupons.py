"""Coupons on a subscription row's lines: which lines each one reduces, and by how much, to the cent.

A line's discount is the sum of what each of its row's coupons takes from it, in the row's order:
a ``percent_off`` coupon takes the line's net × p / 100 (half-up to the cent); an ``amount_off``
coupon takes up to its amount from its eligible lines in invoice order. Nothing ever takes a line
below zero, so a 100 % coupon bills zero and never a negative line. The discount goes to Qonto as
the item's absolute ``discount`` (``InvoiceLine.discount``) and into the Factur-X as a line
allowance; the line's description names the coupons and what they took.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from billing_pipeline.billing.line_drafts import LineDraft
from billing_pipeline.billing.models import DESCRIPTION_MAX_LENGTH
from billing_pipeline.billing.money import amount_text, exact_product, round_cents
from billing_pipeline.billing.price_plans import Coupon


def eligible(coupon: Coupon, draft: LineDraft) -> bool:
    scope = coupon.applies_to
    if scope == "all":
        return True
    if scope == "fees":
        return draft.is_fee
    if scope == "usage":
        return not draft.is_fee
    return draft.metric == scope


def coupon_takes(lines: Sequence[LineDraft], coupons: Sequence[Coupon]) -> list[list[tuple[Coupon, Decimal]]]:
    """For each line, what each coupon takes from it (only the coupons that take something)."""
    left = [draft.net_amount for draft in lines]
    takes: list[list[tuple[Coupon, Decimal]]] = [[] for _ in lines]
    for coupon in coupons:
        budget = coupon.amount_off
        for index, draft in enumerate(lines):
            if not eligible(coupon, draft) or left[index] <= 0:
                continue
            if coupon.percent_off is not None:
                share = round_cents(exact_product(draft.net_amount, coupon.percent_off).scaleb(-2))
                taken = min(share, left[index])
            else:
                assert budget is not None  # a coupon has exactly one of percent_off / amount_off
                taken = min(budget, left[index])
                budget -= taken
            if taken > 0:
                left[index] -= taken
                takes[index].append((coupon, taken))
    return takes


def apply_coupons(lines: Sequence[LineDraft], coupons: Sequence[Coupon]) -> None:
    """Take the coupons' discounts off the lines (in place: drafts not yet validated, see
    ``line_drafts``); a line no coupon touches is left as it is."""
    for draft, taken in zip(lines, coupon_takes(lines, coupons), strict=True):
        if not taken:
            continue
        discount = sum((amount for _, amount in taken), Decimal("0.00"))
        parts = ", ".join(f"{coupon.label} {amount_text(amount)} EUR" for coupon, amount in taken)
        draft.description = f"{draft.description}; discount: {parts}"[:DESCRIPTION_MAX_LENGTH]
        draft.discount = discount
        draft.discount_reason = "; ".join(coupon.label for coupon, _ in taken)
        draft.net_amount -= discount


__all__ = ["apply_coupons", "coupon_takes", "eligible"]
