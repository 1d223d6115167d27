"""One payment pass: new credit transfers matched to invoices, fully paid invoices marked paid once.

The order makes every step safe to interrupt (``ledger_payments.py`` holds the exactly-once state):

1. under the ``payments`` lock, read Qonto: the finalized invoices, their credit notes, and the
   completed credit transactions of the main account updated since the last pass (minus a day of
   overlap: a transfer already in the ledger is skipped, so re-reading one is harmless);
2. each transaction not yet in the ledger is decided by the matcher (settlement order) and recorded
   in one database transaction with its allocations and the markings it makes due — *before* any
   call to Qonto;
3. every marking still ``marking`` (this pass's, or one a killed pass left) is sent to Qonto with
   ``paid_at`` = the settlement date of the transfer that completed it; ``mark_as_paid`` is safe to
   repeat, so a marking whose answer was lost is simply sent again.

A lost ledger is rebuilt by the next pass: every transfer is examined again and counted against the
invoices; an invoice Qonto already shows as paid is not marked again (its ``paid_at`` stays as Qonto
has it — ours, or a person's who marked it by hand).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.payments.matching import (
    ZERO,
    BankCredit,
    Matcher,
    OpenInvoice,
    apply_allocations,
)
from billing_pipeline.invoicing.payments.records import CountedTransaction, Marking, MarkingState, TransactionOutcome
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.errors import QontoError
from billing_pipeline.qonto.transactions import Transaction, TransactionSide, TransactionStatus

logger = logging.getLogger(__name__)

LOCK = "payments"
CURSOR = "transactions_updated_at"
OVERLAP = timedelta(days=1)  # a transaction whose updated_at lags a little is still listed again
FINALIZED = ("unpaid", "paid", "canceled")


class MatchedRow(BaseModel):
    transaction_id: str
    invoice_numbers: list[str]
    amount: str
    paid_by_third_party: str | None = None  # the payer's name when it is not the client


class PartialRow(BaseModel):
    invoice_number: str
    paid: str
    remaining: str


class OverpaidRow(BaseModel):
    invoice_number: str
    excess: str


class UnmatchedRow(BaseModel):
    transaction_id: str
    amount: str
    label: str | None
    reference: str | None
    reason: str = ""


class MarkedRow(BaseModel):
    invoice_number: str
    paid_at: str
    completed_by: str | None
    state: str
    error: str | None = None


class PaymentReport(BaseModel):
    """What this pass did: the transfers it examined and the invoices they touched."""

    matched: list[MatchedRow] = []
    partial: list[PartialRow] = []
    overpaid: list[OverpaidRow] = []
    unmatched: list[UnmatchedRow] = []
    marked: list[MarkedRow] = []
    seen: int = 0  # credit transactions listed (new or not)

    def contract_json(self) -> dict[str, list[dict[str, object]]]:
        """The shape of ``billing-pipeline payments --format json`` (contracts.md)."""
        return {
            # the payer of a third party's payment is an extra key; a client's row keeps the contract's three
            "matched": [
                r.model_dump(exclude=None if r.paid_by_third_party else {"paid_by_third_party"}) for r in self.matched
            ],
            "partial": [r.model_dump() for r in self.partial],
            "overpaid": [r.model_dump() for r in self.overpaid],
            "unmatched": [r.model_dump(exclude={"reason"}) for r in self.unmatched],
        }


def bank_credit(transaction: Transaction, timezone: str) -> BankCredit:
    settled = transaction.settled_at
    return BankCredit(
        transaction_id=transaction.id,
        amount=transaction.amount,
        currency=transaction.currency,
        settled_on=settled.astimezone(ZoneInfo(timezone)).date() if settled else None,
        label=transaction.label,
        reference=transaction.reference,
        counterparty=transaction.clean_counterparty_name,
    )


async def open_invoices(qonto: QontoClient) -> list[OpenInvoice]:
    """Every finalized invoice with its total and what credit notes took off it."""
    credited: dict[str, Decimal] = defaultdict(lambda: ZERO)
    async for note in qonto.iter_credit_notes():
        if note.invoice_id and note.credited_amount is not None:
            credited[note.invoice_id] += note.credited_amount
    invoices = []
    async for invoice in qonto.iter_client_invoices(status=list(FINALIZED)):
        if not invoice.number or invoice.total_amount is None:
            continue
        invoices.append(
            OpenInvoice(
                invoice_id=invoice.id,
                number=invoice.number,
                total=invoice.total_amount.value,
                credited=credited[invoice.id],
                status=invoice.status,
                client_name=invoice.client.name if invoice.client else None,
                issue_date=invoice.issue_date,
                due_date=invoice.due_date,
                client_id=invoice.client_id,
                client_email=invoice.client.email if invoice.client else None,
            )
        )
    return invoices


async def new_credits(
    qonto: QontoClient, ledger: Ledger, since: str | None
) -> tuple[list[Transaction], int, str | None]:
    """Completed credit transactions of the main account updated since ``since`` (an ISO instant, minus
    a day of overlap) and not yet in the ledger, oldest settled first; also how many were listed and
    the new high-water mark of ``updated_at``."""
    organization = await qonto.get_organization()
    account = organization.main_account()
    listed = [
        t
        async for t in qonto.iter_transactions(
            bank_account_id=account.id,
            iban=account.iban,
            side=TransactionSide.CREDIT,
            status=[TransactionStatus.COMPLETED],
            updated_at_from=datetime.fromisoformat(since) - OVERLAP if since else None,
            sort_by="settled_at:asc",
        )
    ]
    credits = [t for t in listed if t.is_credit and t.status == TransactionStatus.COMPLETED]
    known = ledger.known_transactions(t.id for t in credits)
    marks = [t.updated_at for t in listed if t.updated_at is not None]
    high = max(marks).isoformat() if marks else since
    fresh = [t for t in credits if t.id not in known]
    fresh.sort(key=lambda t: (t.settled_at or datetime.max.replace(tzinfo=ZoneInfo("UTC")), t.id))
    return fresh, len(credits), high


async def payment_pass(qonto: QontoClient, ledger: Ledger, *, timezone: str) -> PaymentReport:
    with ledger.period_lock(LOCK):
        invoices = await open_invoices(qonto)
        apply_allocations(invoices, ledger.allocations())
        fresh, seen, high = await new_credits(qonto, ledger, ledger.payment_cursor(CURSOR))
        matcher = Matcher(invoices)
        decisions: list[CountedTransaction] = []
        for transaction in fresh:
            decision = matcher.match(bank_credit(transaction, timezone))
            # an invoice Qonto already shows as paid (a person did it, or a lost ledger) is not re-marked
            completes = tuple(c for c in decision.completes if _status(invoices, c[0]) != "paid")
            decision = decision.model_copy(update={"completes": completes})
            if ledger.record_transaction(decision):
                decisions.append(decision)
                if decision.paid_by_third_party:
                    logger.info("%s paid by a third party, %r", decision.allocations[0].invoice_number,
                                decision.paid_by_third_party)  # fmt: skip
        _complete_credited(ledger, invoices)
        marked = await mark_pending(qonto, ledger)
        if high is not None:
            ledger.set_payment_cursor(CURSOR, high)
    return _report(decisions, invoices, marked, seen)


def _complete_credited(ledger: Ledger, invoices: list[OpenInvoice]) -> None:
    """An unpaid invoice whose counted transfers already cover what it expects after a credit note
    (paid 60 of 100, then credited 40) is marked paid on the date of its last counted transfer."""
    settled = ledger.settled_allocations()
    for invoice in invoices:
        rows = settled.get(invoice.invoice_id)
        if invoice.status != "unpaid" or invoice.canceled or invoice.remaining > ZERO or not rows:
            continue
        last_day, last_transaction = rows[-1]
        if not last_day:
            continue
        paid_at = max(date.fromisoformat(last_day), invoice.issue_date or date.min)
        if ledger.record_completion(invoice.invoice_id, invoice.number, paid_at, last_transaction):
            logger.info("%s is paid in full after its credit notes: marking it paid on %s", invoice.number, paid_at)


def _status(invoices: list[OpenInvoice], invoice_id: str) -> str | None:
    return next((i.status for i in invoices if i.invoice_id == invoice_id), None)


async def mark_pending(qonto: QontoClient, ledger: Ledger) -> list[MarkedRow]:
    """Send every ``marking`` intent to Qonto; one failure never stops the others."""
    rows = []
    for marking in ledger.markings([MarkingState.MARKING]):
        try:
            await qonto.mark_client_invoice_paid(marking.invoice_id, marking.paid_at)
        except QontoError as error:
            logger.warning("marking %s paid failed (tried again next pass): %s", marking.invoice_number, error)
            ledger.record_marking_error(marking.invoice_id, str(error))
            rows.append(_marked_row(marking, MarkingState.MARKING, str(error)))
            continue
        ledger.record_marked(marking.invoice_id)
        rows.append(_marked_row(marking, MarkingState.MARKED))
    return rows


def _marked_row(marking: Marking, state: MarkingState, error: str | None = None) -> MarkedRow:
    return MarkedRow(
        invoice_number=marking.invoice_number,
        paid_at=marking.paid_at.isoformat(),
        completed_by=marking.completed_by,
        state=state.value,
        error=error,
    )


def _report(
    decisions: list[CountedTransaction], invoices: list[OpenInvoice], marked: list[MarkedRow], seen: int
) -> PaymentReport:
    by_id = {i.invoice_id: i for i in invoices}
    report = PaymentReport(marked=marked, seen=seen)
    touched: dict[str, OpenInvoice] = {}
    for decision in decisions:
        if decision.outcome == TransactionOutcome.UNMATCHED:
            report.unmatched.append(
                UnmatchedRow(
                    transaction_id=decision.transaction_id,
                    amount=str(decision.amount),
                    label=decision.label,
                    reference=decision.reference,
                    reason=decision.reason or "",
                )
            )
            continue
        report.matched.append(
            MatchedRow(
                transaction_id=decision.transaction_id,
                invoice_numbers=[a.invoice_number for a in decision.allocations],
                amount=str(decision.amount),
                paid_by_third_party=decision.paid_by_third_party,
            )
        )
        for allocation in decision.allocations:
            touched[allocation.invoice_id] = by_id[allocation.invoice_id]
    for invoice in touched.values():
        if ZERO < invoice.counted < invoice.due:
            report.partial.append(
                PartialRow(invoice_number=invoice.number, paid=str(invoice.counted), remaining=str(invoice.remaining))
            )
        if invoice.excess > ZERO:
            report.overpaid.append(OverpaidRow(invoice_number=invoice.number, excess=str(invoice.excess)))
    return report
