"""Payments — transfers matched to invoices (``payments``), then receivables and reminders (``receivables``).

Not partitioned: a payment pays an invoice of any period. Fed by ``payments_sensor`` (new credit
transactions) and a daily schedule (invoices become overdue without any new transaction). Both
declare what they are about — the finalized invoices and the corrections' credit notes — so the
lineage reads usage → … → invoices → payments → receivables; the dependence is for lineage only (no
value is loaded), so a payment pass never waits for any period's partition.
"""

from decimal import Decimal
from typing import Any

import dagster as dg

from billing_pipeline.defs.errors import reported_as_failure
from billing_pipeline.defs.metadata import COMMON_ASSET_ARGS, QONTO_CURRENCY, amount_rank, money, table
from billing_pipeline.defs.resources import BillingResource, QontoResource, run_async
from billing_pipeline.defs.stage import StageContext
from billing_pipeline.invoicing.payments.receivables import BUCKETS, ReceivablesReport, parse_stages, receivables_pass
from billing_pipeline.invoicing.payments.service import PaymentReport, payment_pass

# the invoice documents a payment settles: finalized invoices, and the corrections' replacement
# invoices and credit notes (a credit note lowers what is due)
INVOICE_ASSETS = ["finalized_invoices", "invoice_corrections"]


async def _payment_pass(qonto: QontoResource, billing: BillingResource) -> PaymentReport:
    async with qonto.connection().open() as client:
        return await payment_pass(client, billing.ledger(), timezone=billing.timezone)


def payment_metadata(report: PaymentReport) -> dict[str, Any]:
    """Counts, totals with their currency, and one typed table per outcome (largest amounts first)."""
    matched = sum((Decimal(r.amount) for r in report.matched), Decimal("0.00"))
    unmatched = sum((Decimal(r.amount) for r in report.unmatched), Decimal("0.00"))
    return {
        "transactions_listed": report.seen,
        "matched_count": len(report.matched),
        "paid_by_third_party_count": sum(1 for r in report.matched if r.paid_by_third_party),
        "unmatched_count": len(report.unmatched),
        "matched_total": money(matched),
        "unmatched_total": money(unmatched),
        "matched": table(
            ({**r.model_dump(), "invoice_numbers": ", ".join(r.invoice_numbers)} for r in report.matched),
            ["transaction_id", "invoice_numbers", "amount", "paid_by_third_party"],
            currency=QONTO_CURRENCY,
            amounts=["amount"],
            rank=amount_rank("amount"),
        ),
        "partial": table(
            (r.model_dump() for r in report.partial),
            ["invoice_number", "paid", "remaining"],
            currency=QONTO_CURRENCY,
            amounts=["paid", "remaining"],
            rank=amount_rank("remaining"),
        ),
        "overpaid": table(
            (r.model_dump() for r in report.overpaid),
            ["invoice_number", "excess"],
            currency=QONTO_CURRENCY,
            amounts=["excess"],
            rank=amount_rank("excess"),
        ),
        "unmatched": table(
            (r.model_dump() for r in report.unmatched),
            ["transaction_id", "amount", "label", "reference", "reason"],
            currency=QONTO_CURRENCY,
            amounts=["amount"],
            rank=amount_rank("amount"),
        ),
        "marked_paid": table(
            (r.model_dump() for r in report.marked), ["invoice_number", "paid_at", "completed_by", "state", "error"]
        ),
    }


def receivables_metadata(report: ReceivablesReport) -> dict[str, Any]:
    """Ageing with amounts in their currency: the largest debtors and the most overdue items first."""
    return {
        "as_of": report.as_of.isoformat(),
        "open_invoices": len(report.items),
        "total_outstanding": money(report.total),
        "by_customer": table(
            ({"customer": c.customer, **c.buckets, "total": c.total} for c in report.customers),
            ["customer", *BUCKETS, "total"],
            currency=QONTO_CURRENCY,
            rank=amount_rank("total"),
        ),
        "totals": table([{**report.totals, "total": report.total}], [*BUCKETS, "total"], currency=QONTO_CURRENCY),
        "open_items": table(
            (i.model_dump() for i in report.items),
            ["customer", "invoice_number", "due_date", "outstanding", "paid", "days_overdue", "bucket"],
            currency=QONTO_CURRENCY,
            rank=lambda row: (row["days_overdue"], row["outstanding"]),
        ),
        "reminders": table(
            (r.model_dump() for r in report.reminders),
            ["invoice_number", "days_after_due", "state", "recipients", "error"],
            rank=lambda row: row["state"] == "unknown",  # the ones a person must check come first
        ),
    }


def _payments(
    context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource
) -> dg.MaterializeResult:
    context.log.info(qonto.connection().describe())
    report = run_async(_payment_pass(qonto, billing))
    metadata = payment_metadata(report)
    context.log.info(
        f"{report.seen} credit transaction(s) listed; {len(report.matched)} counted "
        f"({metadata['matched_total'].value}), {len(report.unmatched)} unmatched, {len(report.partial)} partial, "
        f"{len(report.overpaid)} overpaid"
    )
    return dg.MaterializeResult(value=report, metadata=metadata)


async def _receivables_pass(qonto: QontoResource, billing: BillingResource) -> ReceivablesReport:
    async with qonto.connection().open() as client:
        return await receivables_pass(
            client, billing.ledger(), timezone=billing.timezone, stages=parse_stages(billing.reminder_days)
        )


def _receivables(
    context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource
) -> dg.MaterializeResult:
    report = run_async(_receivables_pass(qonto, billing))
    unknown = [r for r in report.reminders if r.state == "unknown"]
    if unknown:
        context.log.warning(
            f"reminder(s) of unknown outcome, check with the customer: {[r.invoice_number for r in unknown]}"
        )
    return dg.MaterializeResult(value=report, metadata=receivables_metadata(report))


def build_assets(ctx: StageContext) -> list[dg.AssetsDefinition]:
    # not partitioned (ctx.partitions unused): a payment pays an invoice of any period
    @dg.asset(
        deps=INVOICE_ASSETS,
        description=(
            "One payment pass: the completed credit transfers of the main Qonto account not yet counted are "
            "matched to invoices by the invoice numbers in their reference or label (case, spaces, dashes and "
            "dots ignored; several numbers pay several invoices), confirmed by amount and, where known, the "
            "payer's name; instalments accumulate. Each transfer is counted once (ledger first); an invoice "
            "paid in full is marked paid in Qonto with paid_at = the settlement date of the transfer that "
            "completed it. A transfer from another payer (a parent company, an accountant) counts when its "
            "reference carries exactly one invoice number and the exact amount still due: reported as paid by a "
            "third party. Under-, overpayments, unknown numbers and ambiguous transfers are reported, never "
            "guessed. Debits are ignored."
        ),
        kinds={"python"},
        pool="qonto_writes",
        code_version="1",
        **COMMON_ASSET_ARGS,
    )
    def payments(context: dg.AssetExecutionContext, qonto: QontoResource, billing: BillingResource):
        with reported_as_failure("payment matching"):
            return _payments(context, qonto, billing)

    @dg.asset(
        deps=["payments"],
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
        with reported_as_failure("receivables"):
            return _receivables(context, qonto, billing)

    return [payments, receivables]
