"""Independent arithmetic and change checks on priced plans (used by the asset checks).

These re-derive every figure from the lines with ``Decimal`` instead of trusting the totals the
pricing engine computed, so that a pricing bug cannot hide behind its own numbers.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from pydantic import BaseModel

from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.billing.money import exact_product, round_cents
from billing_pipeline.invoicing.ledger import FINAL_STATES, Ledger


def plan_arithmetic_problems(plan: PeriodPlan) -> list[str]:
    problems: list[str] = []
    for invoice in plan.invoices:
        who = invoice.customer.customer_id
        vat_bases: dict[tuple[Decimal, str | None], Decimal] = defaultdict(Decimal)
        for number, line in enumerate(invoice.lines, start=1):
            gross = round_cents(exact_product(line.quantity, line.unit_price))
            discount = line.discount or Decimal("0")
            expected = gross - discount
            if line.net_amount != expected:
                less = f" − discount {discount}" if line.discount is not None else ""
                problems.append(
                    f"{who} line {number} ({line.title}): net {line.net_amount} != "
                    f"{line.quantity} × {line.unit_price}{less} = {expected}"
                )
            if line.discount is not None and not Decimal("0") < line.discount <= gross:
                problems.append(f"{who} line {number} ({line.title}): discount {line.discount} is not within 0–{gross}")
            vat_bases[(line.vat_rate, line.vat_exemption_reason)] += line.net_amount
        net = sum((line.net_amount for line in invoice.lines), Decimal("0"))
        vat = sum((round_cents(exact_product(base, rate)) for (rate, _), base in vat_bases.items()), Decimal("0"))
        if invoice.net_total != net:
            problems.append(f"{who}: net total {invoice.net_total} != sum of lines {net}")
        if invoice.vat_total != vat:
            problems.append(f"{who}: VAT total {invoice.vat_total} != VAT per rate on the line sums {vat}")
        if invoice.total != invoice.net_total + invoice.vat_total:
            problems.append(f"{who}: total {invoice.total} != net {invoice.net_total} + VAT {invoice.vat_total}")
        if invoice.total < 0:
            problems.append(f"{who}: negative total {invoice.total}")
    for name, expected in (
        ("net", sum((i.net_total for i in plan.invoices), Decimal("0"))),
        ("VAT", sum((i.vat_total for i in plan.invoices), Decimal("0"))),
        ("total", sum((i.total for i in plan.invoices), Decimal("0"))),
    ):
        actual = {"net": plan.net_total, "VAT": plan.vat_total, "total": plan.total}[name]
        if actual != expected:
            problems.append(f"period {name} {actual} != sum over invoices {expected}")
    return problems


class LateChange(BaseModel):
    customer_id: str
    invoice_number: str | None
    finalized_total: str | None
    current_total: str | None
    change: str


def late_changes(plan: PeriodPlan, ledger: Ledger) -> list[LateChange]:
    """Per customer: how the period's usage differs from what was finalized (finalized = immutable)."""
    records = ledger.invoices(plan.period.key)
    finalized = {r.customer_id: r for r in records if r.state in FINAL_STATES}
    if not finalized:
        return []
    # open invoices still follow the plan; abandoned and canceled ones are reported elsewhere
    still_open = {r.customer_id for r in records if r.state not in FINAL_STATES}
    planned = {i.customer.customer_id: i for i in plan.invoices}
    changes: list[LateChange] = []
    for customer_id in sorted((finalized.keys() | planned.keys()) - still_open):
        record, invoice = finalized.get(customer_id), planned.get(customer_id)
        if record is None and invoice is not None:
            change = "billable usage appeared after the period was finalized"
        elif invoice is None and record is not None:
            change = "nothing billable any more, but an invoice was finalized"
        elif record is not None and invoice is not None and record.content_digest != invoice.content_digest():
            change = f"amount changed by {invoice.total - (record.total.amount if record.total else Decimal('0'))}"
        else:
            continue
        changes.append(
            LateChange(
                customer_id=customer_id,
                invoice_number=record.number if record else None,
                finalized_total=str(record.total.amount) if record and record.total else None,
                current_total=str(invoice.total) if invoice else None,
                change=change,
            )
        )
    return changes
