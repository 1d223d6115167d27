"""What ``billing-pipeline preview`` prints: the JSON contract and a table for people."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from billing_pipeline.billing.models import BilledSegment, InputProblem, InvoicePlan, PeriodPlan
from billing_pipeline.billing.money import amount_text, grouped, percent_text, plain, price_text


def to_preview_json(plan: PeriodPlan) -> dict[str, Any]:
    """The plan in the preview JSON shape (a stable contract): every amount a decimal string."""
    return {
        "period": plan.period.key,
        "currency": plan.currency,
        "invoices": [
            {
                "customer_id": invoice.customer.customer_id,
                "lines": [
                    {
                        "title": line.title,
                        "description": line.description,
                        "quantity": plain(line.quantity),
                        "unit": line.unit,
                        "unit_price": price_text(line.unit_price),
                        "vat_rate": plain(line.vat_rate),
                        "net_amount": amount_text(line.net_amount),
                        # keys added by subscriptions and coupons appear only where they apply
                        **(
                            {"discount": amount_text(line.discount), "discount_reason": line.discount_reason}
                            if line.discount is not None
                            else {}
                        ),
                    }
                    for line in invoice.lines
                ],
                "net_total": amount_text(invoice.net_total),
                "vat_total": amount_text(invoice.vat_total),
                "total": amount_text(invoice.total),
                **({"segments": [_segment_json(s) for s in invoice.segments]} if invoice.segments else {}),
            }
            for invoice in plan.invoices
        ],
        "totals": {
            "net": amount_text(plan.net_total),
            "vat": amount_text(plan.vat_total),
            "total": amount_text(plan.total),
        },
        **({"warnings": list(plan.warnings)} if plan.warnings else {}),
    }


def _segment_json(segment: BilledSegment) -> dict[str, Any]:
    return {
        "plan": segment.plan,
        "starts_on": segment.starts_on.isoformat(),
        "ends_on": segment.ends_on.isoformat(),
        "days": segment.days,
        "coupons": list(segment.coupons),
    }


def _segment_text(segment: BilledSegment) -> str:
    coupons = f", coupons {', '.join(segment.coupons)}" if segment.coupons else ""
    return (
        f"  plan {segment.plan} from {segment.starts_on.isoformat()} to {segment.ends_on.isoformat()} "
        f"({segment.days} of {segment.period_days} days){coupons}"
    )


def errors_json(problems: Iterable[InputProblem]) -> dict[str, Any]:
    return {"errors": [problem.model_dump(mode="json") for problem in problems]}


def _vat_label(rate: Any, reason: str | None) -> str:
    return reason if reason else percent_text(rate)


def _invoice_table(invoice: InvoicePlan) -> list[str]:
    customer = invoice.customer
    discounts = any(line.discount is not None for line in invoice.lines)
    rows = [("Title", "Quantity", "Unit", "Unit price", "VAT", *(("Discount",) if discounts else ()), "Net")]
    for line in invoice.lines:
        discount = (amount_text(-line.discount) if line.discount is not None else "",) if discounts else ()
        rows.append(
            (
                line.title,
                grouped(line.quantity),
                line.unit,
                price_text(line.unit_price),
                _vat_label(line.vat_rate, line.vat_exemption_reason),
                *discount,
                amount_text(line.net_amount),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    aligned = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
        cells += [cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=True)]
        aligned.append("  " + "  ".join(cells))
    vat = ", ".join(
        f"{_vat_label(row.vat_rate, row.vat_exemption_reason)} on {amount_text(row.base)} "
        f"= {amount_text(row.vat_amount)}"
        for row in invoice.vat_breakdown
    )
    names = [segment.plan for segment in invoice.segments] or [customer.plan]
    plans = f"plan{'s' if len(names) > 1 else ''} {' → '.join(names)}"
    return [
        f"{customer.customer_id}  {customer.display_name} ({customer.country_code}, {plans})",
        *(_segment_text(segment) for segment in invoice.segments),
        *aligned,
        f"  net {amount_text(invoice.net_total)} EUR + VAT {amount_text(invoice.vat_total)} EUR "
        f"= {amount_text(invoice.total)} EUR  (VAT: {vat})",
        "",
    ]


def render_table(plan: PeriodPlan) -> str:
    period = plan.period
    stats = plan.usage_stats
    lines = [
        f"Billing period {plan.period} ({period.label}), time zone {plan.timezone}. Dry run: nothing is sent to Qonto.",
        "",
    ]
    for invoice in plan.invoices:
        lines.extend(_invoice_table(invoice))
    lines.append(
        f"{len(plan.invoices)} invoices: net {amount_text(plan.net_total)} EUR, VAT {amount_text(plan.vat_total)} "
        f"EUR, total {amount_text(plan.total)} EUR"
    )
    lines.append(
        f"Usage: {stats.files} files, {grouped_int(stats.rows_read)} rows read, "
        f"{grouped_int(stats.rows_in_period)} in the period, {grouped_int(stats.duplicate_events)} duplicates "
        f"dropped; {stats.customers_billed} customers billed, {stats.customers_skipped} without anything to bill"
    )
    lines.extend(f"Warning: {warning}" for warning in plan.warnings)
    return "\n".join(lines)


def grouped_int(value: int) -> str:
    return f"{value:,}".replace(",", " ")
