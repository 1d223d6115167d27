"""What ``billing-pipeline preview`` prints: the JSON contract and a table for people."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from billing_pipeline.billing.models import InputProblem, InvoicePlan, PeriodPlan
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
                    }
                    for line in invoice.lines
                ],
                "net_total": amount_text(invoice.net_total),
                "vat_total": amount_text(invoice.vat_total),
                "total": amount_text(invoice.total),
            }
            for invoice in plan.invoices
        ],
        "totals": {
            "net": amount_text(plan.net_total),
            "vat": amount_text(plan.vat_total),
            "total": amount_text(plan.total),
        },
    }


def errors_json(problems: Iterable[InputProblem]) -> dict[str, Any]:
    return {"errors": [problem.model_dump(mode="json") for problem in problems]}


def _vat_label(rate: Any, reason: str | None) -> str:
    return reason if reason else percent_text(rate)


def _invoice_table(invoice: InvoicePlan) -> list[str]:
    customer = invoice.customer
    rows = [("Title", "Quantity", "Unit", "Unit price", "VAT", "Net")]
    for line in invoice.lines:
        rows.append(
            (
                line.title,
                grouped(line.quantity),
                line.unit,
                price_text(line.unit_price),
                _vat_label(line.vat_rate, line.vat_exemption_reason),
                amount_text(line.net_amount),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    aligned = []
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            row[1].rjust(widths[1]),
            row[2].ljust(widths[2]),
            row[3].rjust(widths[3]),
            row[4].rjust(widths[4]),
            row[5].rjust(widths[5]),
        ]
        aligned.append("  " + "  ".join(cells))
    vat = ", ".join(
        f"{_vat_label(row.vat_rate, row.vat_exemption_reason)} on {amount_text(row.base)} "
        f"= {amount_text(row.vat_amount)}"
        for row in invoice.vat_breakdown
    )
    return [
        f"{customer.customer_id}  {customer.display_name} ({customer.country_code}, plan {customer.plan})",
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
    return "\n".join(lines)


def grouped_int(value: int) -> str:
    return f"{value:,}".replace(",", " ")
