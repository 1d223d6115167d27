"""Receivables (open invoices by customer, aged) and payment reminders — Dagster-free.

An invoice is *open* when Qonto shows it ``unpaid`` and something remains due after its credit notes
and the transfers counted toward it. Ageing is by days past the due date, as of a date the caller
gives (the ledger database's clock in the pipeline, so no machine's clock decides alone).

Reminders are emailed through Qonto's ``send`` at the configured days after the due date
(``BILLING_REMINDER_DAYS``), each stage once per invoice. An email cannot be recalled, so: the intent
is committed before the send; a send whose answer was lost (or a run that died during it) becomes
``unknown`` — reported, never sent again blindly; a refused send (``failed``) is tried again on the
next pass. When an invoice is late enough for several stages at once (reminders just enabled, a
long outage) only the latest is sent and the earlier ones are recorded ``skipped``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.payments.matching import ZERO, OpenInvoice, apply_allocations
from billing_pipeline.invoicing.payments.records import ReminderState
from billing_pipeline.invoicing.payments.service import LOCK, open_invoices
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.delivery_calls import InvoiceEmail
from billing_pipeline.qonto.errors import QontoAmbiguousWriteError, QontoError

logger = logging.getLogger(__name__)

BUCKETS = ("not_due", "1-30", "31-60", "61-90", "over_90")


def bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "over_90"


class OpenItem(BaseModel):
    customer: str
    invoice_id: str
    invoice_number: str
    due_date: date | None
    outstanding: Decimal
    paid: Decimal
    days_overdue: int
    bucket: str


class CustomerAgeing(BaseModel):
    customer: str
    buckets: dict[str, Decimal]
    total: Decimal


class Receivables(BaseModel):
    as_of: date
    items: list[OpenItem]
    customers: list[CustomerAgeing]
    totals: dict[str, Decimal]
    total: Decimal


def is_open(invoice: OpenInvoice) -> bool:
    return invoice.status == "unpaid" and not invoice.canceled and invoice.remaining > ZERO


def receivables(invoices: Sequence[OpenInvoice], as_of: date, customers: dict[str, str]) -> Receivables:
    """``customers``: our customer id per Qonto invoice id (the ledger); else the client's name."""
    items = []
    for invoice in invoices:
        if not is_open(invoice):
            continue
        overdue = (as_of - invoice.due_date).days if invoice.due_date else 0
        items.append(
            OpenItem(
                customer=customers.get(invoice.invoice_id) or invoice.client_name or invoice.client_id or "?",
                invoice_id=invoice.invoice_id,
                invoice_number=invoice.number,
                due_date=invoice.due_date,
                outstanding=invoice.remaining,
                paid=invoice.counted,
                days_overdue=max(0, overdue),
                bucket=bucket(overdue),
            )
        )
    items.sort(key=lambda i: (-i.days_overdue, i.customer, i.invoice_number))
    per_customer: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(BUCKETS, ZERO))
    for item in items:
        per_customer[item.customer][item.bucket] += item.outstanding
    customers_rows = [
        CustomerAgeing(customer=c, buckets=b, total=sum(b.values(), ZERO)) for c, b in sorted(per_customer.items())
    ]
    totals = {name: sum((c.buckets[name] for c in customers_rows), ZERO) for name in BUCKETS}
    return Receivables(
        as_of=as_of, items=items, customers=customers_rows, totals=totals, total=sum(totals.values(), ZERO)
    )


# --- reminders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderDue:
    invoice: OpenInvoice
    stage: int  # days after the due date
    skipped: tuple[int, ...]  # earlier stages never sent, recorded as skipped


class ReminderOutcome(BaseModel):
    invoice_number: str
    days_after_due: int
    state: str
    recipients: str | None = None
    error: str | None = None


def reminders_due(
    items: Sequence[OpenItem],
    invoices: Sequence[OpenInvoice],
    stages: Sequence[int],
    done: set[tuple[str, int]],
    ours: set[str] | None = None,
) -> list[ReminderDue]:
    """The latest stage each open invoice has reached and that the ledger has no trace of; only the
    invoices in ``ours`` (issued by the pipeline) when given — a person's invoice is a person's to chase."""
    by_id = {i.invoice_id: i for i in invoices}
    due = []
    for item in items:
        if ours is not None and item.invoice_id not in ours:
            continue
        reached = sorted(s for s in stages if item.days_overdue >= s)
        if not reached or (item.invoice_id, reached[-1]) in done:
            continue
        # a stage already attempted at or after the latest one: nothing more to send
        if any((item.invoice_id, s) in done for s in stages if s >= reached[-1]):
            continue
        skipped = tuple(s for s in reached[:-1] if (item.invoice_id, s) not in done)
        due.append(ReminderDue(invoice=by_id[item.invoice_id], stage=reached[-1], skipped=skipped))
    return due


def reminder_email(invoice: OpenInvoice, stage: int, outstanding: Decimal) -> InvoiceEmail | None:
    if not invoice.client_email:
        return None
    title = f"Relance : facture {invoice.number} échue / Reminder: invoice {invoice.number} is overdue"
    body = (
        f"Bonjour,\n\nSauf erreur de notre part, la facture {invoice.number} (échéance {invoice.due_date}) "
        f"reste due à hauteur de {outstanding} EUR, {stage} jours après son échéance. Merci de procéder au "
        f"règlement en rappelant le numéro {invoice.number} dans le libellé du virement.\n\n"
        f"Hello,\n\ninvoice {invoice.number} (due {invoice.due_date}) still has {outstanding} EUR to pay, "
        f"{stage} days after its due date. Please pay it by transfer quoting {invoice.number} in the reference."
    )
    return InvoiceEmail(send_to=[invoice.client_email], email_title=title, email_body=body)


class ReminderSender:
    """Sends due reminders through ``qonto.send_client_invoice`` with the ledger's intent protocol."""

    def __init__(self, qonto: object, ledger: Ledger) -> None:
        self.qonto = qonto
        self.ledger = ledger

    def settle_interrupted(self) -> list[ReminderOutcome]:
        """Intents left ``sending`` by a dead run: the email may have left — ``unknown``, reported."""
        outcomes = []
        for reminder in self.ledger.reminders():
            if reminder.state == ReminderState.SENDING:
                self.ledger.move_reminder(
                    reminder.invoice_id, reminder.days_after_due, ReminderState.UNKNOWN,
                    invoice_number=reminder.invoice_number, error="the run sending it stopped before Qonto answered",
                )  # fmt: skip
                outcomes.append(_outcome(reminder.invoice_number, reminder.days_after_due, ReminderState.UNKNOWN))
        return outcomes

    def done(self) -> set[tuple[str, int]]:
        """Stages with any trace except ``failed`` (a refused send may be tried again)."""
        return {(r.invoice_id, r.days_after_due) for r in self.ledger.reminders() if r.state != ReminderState.FAILED}

    async def send(self, due: Sequence[ReminderDue]) -> list[ReminderOutcome]:
        outcomes = []
        for reminder in due:
            invoice = reminder.invoice
            for stage in reminder.skipped:
                self.ledger.move_reminder(
                    invoice.invoice_id, stage, ReminderState.SKIPPED, invoice_number=invoice.number
                )
            email = reminder_email(invoice, reminder.stage, invoice.remaining)
            if email is None:
                outcomes.append(
                    _outcome(invoice.number, reminder.stage, "no_recipient", error="the client has no email")
                )
                continue
            recipients = ", ".join(email.send_to)
            self.ledger.move_reminder(
                invoice.invoice_id, reminder.stage, ReminderState.SENDING, invoice_number=invoice.number,
                recipients=recipients,
            )  # fmt: skip
            state, error = ReminderState.SENT, None
            try:
                await self.qonto.send_client_invoice(invoice.invoice_id, email)  # type: ignore[attr-defined]
            except QontoAmbiguousWriteError as exc:
                state, error = ReminderState.UNKNOWN, str(exc)
            except QontoError as exc:
                state, error = ReminderState.FAILED, str(exc)
            if error:
                logger.warning("reminder %s d of %s: %s (%s)", reminder.stage, invoice.number, state.value, error)
            self.ledger.move_reminder(
                invoice.invoice_id, reminder.stage, state, invoice_number=invoice.number, error=error
            )
            outcomes.append(_outcome(invoice.number, reminder.stage, state, recipients, error))
        return outcomes


def _outcome(
    number: str, stage: int, state: ReminderState | str, recipients: str | None = None, error: str | None = None
) -> ReminderOutcome:
    value = state.value if isinstance(state, ReminderState) else state
    return ReminderOutcome(invoice_number=number, days_after_due=stage, state=value, recipients=recipients, error=error)


class ReceivablesReport(Receivables):
    reminders: list[ReminderOutcome] = Field(default_factory=list)


async def receivables_pass(
    qonto: QontoClient, ledger: Ledger, *, timezone: str, stages: Sequence[int], as_of: date | None = None
) -> ReceivablesReport:
    """Age every open invoice of the organization and send the reminders due on the pipeline's own
    invoices. ``as_of`` defaults to today by the ledger database's clock, in the billing time zone."""
    with ledger.period_lock(LOCK):
        invoices = await open_invoices(qonto)
        apply_allocations(invoices, ledger.allocations())
        customers = {r.invoice_id: r.customer_id for r in ledger.invoices() if r.invoice_id}
        today = as_of or ledger.now().astimezone(ZoneInfo(timezone)).date()
        aged = receivables(invoices, today, customers)
        sender = ReminderSender(qonto, ledger)
        outcomes = sender.settle_interrupted()
        due = reminders_due(aged.items, invoices, stages, sender.done(), ours=set(customers))
        outcomes += await sender.send(due)
    return ReceivablesReport(**aged.model_dump(), reminders=outcomes)


def parse_stages(text: str) -> tuple[int, ...]:
    """``"7,30"`` → (7, 30); ``"off"`` → (): no reminders."""
    if text.strip().lower() in ("off", "none", "no", "false"):
        return ()
    stages = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    if any(s < 1 for s in stages):
        raise ValueError(f"reminder days are whole days after the due date (>= 1), got {text!r}")
    return tuple(stages)
