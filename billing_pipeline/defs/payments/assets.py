"""Payments — transfers matched to invoices (``payments``), then receivables and reminders (``receivables``).

Not partitioned: a payment pays an invoice of any period. Fed by ``payments_sensor`` (new credit
transactions) and a daily schedule (invoices become overdue without any new transaction).
"""

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import dagster as dg

from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.invoicing.payments.receivables import BUCKETS, ReceivablesReport, parse_stages, receivables_pass
from billing_pipeline.invoicing.payments.service import PaymentReport, payment_pass

MAX_ROWS = 200  # metadata tables stay readable and small; the asset's value holds everything


def table(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> dg.MetadataValue:
    """A Dagster table with a schema (every cell a string: amounts are exact decimals), bounded."""
    records = [dg.TableRecord({c: "" if r.get(c) is None else str(r.get(c)) for c in columns}) for r in rows]
    return dg.MetadataValue.table(
        records=records[:MAX_ROWS],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in columns]),
    )


async def _payment_pass(qonto: QontoResource, billing: BillingResource) -> PaymentReport:
    async with qonto.connection().open() as client:
        return await payment_pass(client, billing.ledger(), timezone=billing.timezone)


@dg.asset(
    description=(
        "One payment pass: the completed credit transfers of the main Qonto account not yet counted are "
        "matched to invoices by the invoice numbers in their reference or label (case, spaces, dashes and "
        "dots ignored; several numbers pay several invoices), confirmed by amount and, where known, the "
        "payer's name; instalments accumulate. Each transfer is counted once (ledger first); an invoice "
        "paid in full is marked paid in Qonto with paid_at = the settlement date of the transfer that "
        "completed it. Under-, overpayments, unknown numbers and ambiguous transfers are reported, never "
        "guessed. Debits are ignored."
    ),
    kinds={"python"},
    pool="qonto_writes",
    code_version="1",
    **COMMON_ASSET_ARGS,
)
def payments(context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource):
    context.log.info(qonto.connection().describe())
    report = run_async(_payment_pass(qonto, billing))
    amount = sum((Decimal(r.amount) for r in report.matched), Decimal("0.00"))
    unmatched_amount = sum((Decimal(r.amount) for r in report.unmatched), Decimal("0.00"))
    context.log.info(
        f"{report.seen} credit transaction(s) listed; {len(report.matched)} counted ({amount}), "
        f"{len(report.unmatched)} unmatched, {len(report.partial)} partial, {len(report.overpaid)} overpaid"
    )
    return dg.MaterializeResult(
        value=report,
        metadata={
            "transactions_listed": report.seen,
            "matched_count": len(report.matched),
            "unmatched_count": len(report.unmatched),
            "matched_total": dg.MetadataValue.text(str(amount)),
            "unmatched_total": dg.MetadataValue.text(str(unmatched_amount)),
            "matched": table(
                ({**r.model_dump(), "invoice_numbers": ", ".join(r.invoice_numbers)} for r in report.matched),
                ["transaction_id", "invoice_numbers", "amount"],
            ),
            "partial": table((r.model_dump() for r in report.partial), ["invoice_number", "paid", "remaining"]),
            "overpaid": table((r.model_dump() for r in report.overpaid), ["invoice_number", "excess"]),
            "unmatched": table(
                (r.model_dump() for r in report.unmatched), ["transaction_id", "amount", "label", "reference", "reason"]
            ),
            "marked_paid": table(
                (r.model_dump() for r in report.marked), ["invoice_number", "paid_at", "completed_by", "state", "error"]
            ),
        },
    )


async def _receivables(qonto: QontoResource, billing: BillingResource) -> ReceivablesReport:
    async with qonto.connection().open() as client:
        return await receivables_pass(
            client, billing.ledger(), timezone=billing.timezone, stages=parse_stages(billing.reminder_days)
        )


@dg.asset(
    deps=[payments],
    description=(
        "Open invoices by customer (unpaid in Qonto, minus credit notes and counted transfers), aged by days "
        "past the due date: not due, 1–30, 31–60, 61–90, over 90 days, with totals. Sends the payment "
        "reminders that are due (BILLING_REMINDER_DAYS after the due date, by email through Qonto), each "
        "once: a reminder whose answer was lost is reported as unknown, never sent again."
    ),
    kinds={"python"},
    pool="qonto_writes",
    code_version="1",
    **COMMON_ASSET_ARGS,
)
def receivables(context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource):
    report = run_async(_receivables(qonto, billing))
    unknown = [r for r in report.reminders if r.state == "unknown"]
    if unknown:
        context.log.warning(
            f"reminder(s) of unknown outcome, check with the customer: {[r.invoice_number for r in unknown]}"
        )
    return dg.MaterializeResult(
        value=report,
        metadata={
            "as_of": report.as_of.isoformat(),
            "open_invoices": len(report.items),
            "total_outstanding": dg.MetadataValue.text(str(report.total)),
            "by_customer": table(
                ({"customer": c.customer, **c.buckets, "total": c.total} for c in report.customers),
                ["customer", *BUCKETS, "total"],
            ),
            "totals": table([{**report.totals, "total": report.total}], [*BUCKETS, "total"]),
            "open_items": table(
                (i.model_dump() for i in report.items),
                ["customer", "invoice_number", "due_date", "outstanding", "paid", "days_overdue", "bucket"],
            ),
            "reminders": table(
                (r.model_dump() for r in report.reminders),
                ["invoice_number", "days_after_due", "state", "recipients", "error"],
            ),
        },
    )


PAYMENT_ASSETS = [payments, receivables]
