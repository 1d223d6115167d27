"""The ledger's memory of payments (a mixin of ``Ledger``): counted transfers, paid markings, reminders.

Qonto links no transfer to an invoice, so *we* remember which credit transaction was counted toward
which invoice: ``payment_transactions`` (Qonto's transaction id is the primary key, so a transfer is
examined and counted at most once, whatever re-runs, retries or kills happen) with its
``payment_allocations``. The intent to mark an invoice paid (``payment_markings``, ``marking``) is
committed in the same database transaction as the allocation that completed it, before the
``mark_as_paid`` call; a run killed in between repeats the call (Qonto only updates ``paid_at`` of a
paid invoice, and it is the same date). Reminders (``payment_reminders``) follow the delivery pattern:
intent before the send, and a send whose answer was lost becomes ``unknown``, never repeated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from billing_pipeline.invoicing.tables import aware, metadata
from billing_pipeline.ledger import DB_NOW, StateMachine, db_now, move, write_transaction

payment_transactions = sa.Table(
    "payment_transactions",
    metadata,
    sa.Column("transaction_id", sa.String(64), primary_key=True),  # Qonto's transaction ``id``
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("amount", sa.String(32), nullable=False),
    sa.Column("settled_on", sa.String(10), nullable=True),  # the settlement date in the billing time zone
    sa.Column("label", sa.Text, nullable=True),
    sa.Column("reference", sa.Text, nullable=True),
    sa.Column("counterparty", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),  # why it was not counted
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

payment_allocations = sa.Table(
    "payment_allocations",
    metadata,
    sa.Column("transaction_id", sa.String(64), nullable=False),
    sa.Column("invoice_id", sa.String(64), nullable=False),
    sa.Column("invoice_number", sa.String(64), nullable=False),
    sa.Column("amount", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("transaction_id", "invoice_id", name="pk_payment_allocation"),
)

payment_markings = sa.Table(
    "payment_markings",
    metadata,
    sa.Column("invoice_id", sa.String(64), primary_key=True),
    sa.Column("invoice_number", sa.String(64), nullable=False),
    sa.Column("paid_at", sa.String(10), nullable=False),
    sa.Column("completed_by", sa.String(64), nullable=True),  # the transaction that completed the payment
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
)

payment_reminders = sa.Table(
    "payment_reminders",
    metadata,
    sa.Column("invoice_id", sa.String(64), nullable=False),
    sa.Column("days_after_due", sa.Integer, nullable=False),
    sa.Column("invoice_number", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("recipients", sa.Text, nullable=True),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.PrimaryKeyConstraint("invoice_id", "days_after_due", name="pk_reminder_per_invoice_and_stage"),
)

# small key/value memory of the payment pass (the transactions' updated_at high-water mark)
payment_cursor = sa.Table(
    "payment_cursor",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


class TransactionOutcome(StrEnum):
    COUNTED = "counted"  # allocated to one or more invoices (payment_allocations)
    UNMATCHED = "unmatched"  # examined, not counted: the reason says why (a person decides)


class MarkingState(StrEnum):
    MARKING = "marking"  # intent committed: mark_as_paid may or may not have reached Qonto
    MARKED = "marked"  # Qonto says paid


class ReminderState(StrEnum):
    SENDING = "sending"  # intent committed before the send
    SENT = "sent"
    UNKNOWN = "unknown"  # the send's answer was lost (or the run died during it): never repeated blindly
    FAILED = "failed"  # Qonto refused it (nothing left): may be tried again
    SKIPPED = "skipped"  # a later stage was due first (never send a stale reminder)


MARKING = StateMachine(
    "marking",
    MarkingState,
    {
        MarkingState.MARKING: frozenset({None, MarkingState.MARKING}),
        MarkingState.MARKED: frozenset({MarkingState.MARKING, MarkingState.MARKED}),
    },
    final=frozenset({MarkingState.MARKED}),
)
REMINDER = StateMachine(
    "reminder",
    ReminderState,
    {
        ReminderState.SENDING: frozenset({None, ReminderState.FAILED}),
        ReminderState.SENT: frozenset({ReminderState.SENDING}),
        ReminderState.UNKNOWN: frozenset({ReminderState.SENDING}),
        ReminderState.FAILED: frozenset({ReminderState.SENDING}),
        ReminderState.SKIPPED: frozenset({None}),
    },
    final=frozenset({ReminderState.SENT, ReminderState.UNKNOWN, ReminderState.SKIPPED}),
)


class Allocation(BaseModel):
    model_config = ConfigDict(frozen=True)
    transaction_id: str
    invoice_id: str
    invoice_number: str
    amount: Decimal


class CountedTransaction(BaseModel):
    """What one examined credit transaction became; written in one database transaction."""

    model_config = ConfigDict(frozen=True)
    transaction_id: str
    outcome: TransactionOutcome
    amount: Decimal
    settled_on: date | None
    label: str | None = None
    reference: str | None = None
    counterparty: str | None = None
    reason: str | None = None
    allocations: tuple[Allocation, ...] = ()
    # invoices this transaction completed: (invoice_id, number, paid_at)
    completes: tuple[tuple[str, str, date], ...] = ()
    # the payer's name when someone other than the client paid an invoice exactly (reported, not
    # stored: the ledger keeps the counterparty, and a rebuilt ledger reaches the same decision)
    paid_by_third_party: str | None = None


class Marking(BaseModel):
    model_config = ConfigDict(frozen=True)
    invoice_id: str
    invoice_number: str
    paid_at: date
    completed_by: str | None
    state: MarkingState
    last_error: str | None = None


class Reminder(BaseModel):
    model_config = ConfigDict(frozen=True)
    invoice_id: str
    days_after_due: int
    invoice_number: str
    state: ReminderState
    recipients: str | None = None
    intent_at: datetime | None = None
    last_error: str | None = None


class PaymentLedger:
    engine: sa.Engine

    # -- transactions ---------------------------------------------------------------------------
    def known_transactions(self, transaction_ids: Iterable[str]) -> set[str]:
        ids = list(set(transaction_ids))
        found: set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = sa.select(payment_transactions.c.transaction_id).where(
                    payment_transactions.c.transaction_id.in_(chunk)
                )
                found.update(connection.execute(query).scalars())
        return found

    def allocations(self) -> list[Allocation]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(payment_allocations)).mappings().all()
        return [Allocation.model_validate({**row, "amount": Decimal(row["amount"])}) for row in rows]

    def settled_allocations(self) -> dict[str, list[tuple[str, str]]]:
        """Per invoice, its counted transfers as (settlement date, transaction id), in settlement order."""
        query = sa.select(
            payment_allocations.c.invoice_id, payment_transactions.c.settled_on, payment_transactions.c.transaction_id
        ).join(payment_transactions, payment_transactions.c.transaction_id == payment_allocations.c.transaction_id)
        found: dict[str, list[tuple[str, str]]] = {}
        with self.engine.connect() as connection:
            for invoice_id, settled_on, transaction_id in connection.execute(query):
                found.setdefault(invoice_id, []).append((settled_on or "", transaction_id))
        return {invoice_id: sorted(rows) for invoice_id, rows in found.items()}

    def record_completion(self, invoice_id: str, number: str, paid_at: date, completed_by: str) -> bool:
        """A marking intent for an invoice paid in full without a transfer completing it (a credit note
        lowered what it expected); False when the invoice already has one."""
        with write_transaction(self.engine) as connection:
            exists = connection.execute(
                sa.select(payment_markings.c.invoice_id).where(payment_markings.c.invoice_id == invoice_id)
            ).first()
            if exists is not None:
                return False
            self._move_marking(
                connection, invoice_id, MarkingState.MARKING,
                insert={"invoice_number": number, "paid_at": paid_at.isoformat(), "completed_by": completed_by,
                        "intent_at": DB_NOW},
            )  # fmt: skip
        return True

    def unmatched_transactions(self) -> list[dict[str, Any]]:
        query = sa.select(payment_transactions).where(payment_transactions.c.outcome == TransactionOutcome.UNMATCHED)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings().all()]

    def record_transaction(self, counted: CountedTransaction) -> bool:
        """Record one examined transaction, its allocations and the markings it makes due — all or
        nothing. False (and nothing written) when the transaction was already recorded."""
        with write_transaction(self.engine) as connection:
            now = db_now(connection)
            exists = connection.execute(
                sa.select(payment_transactions.c.transaction_id).where(
                    payment_transactions.c.transaction_id == counted.transaction_id
                )
            ).first()
            if exists is not None:
                return False
            connection.execute(
                sa.insert(payment_transactions).values(
                    transaction_id=counted.transaction_id,
                    outcome=counted.outcome.value,
                    amount=str(counted.amount),
                    settled_on=counted.settled_on.isoformat() if counted.settled_on else None,
                    label=counted.label,
                    reference=counted.reference,
                    counterparty=counted.counterparty,
                    reason=counted.reason,
                    recorded_at=now,
                )
            )
            for allocation in counted.allocations:
                connection.execute(
                    sa.insert(payment_allocations).values(
                        transaction_id=allocation.transaction_id,
                        invoice_id=allocation.invoice_id,
                        invoice_number=allocation.invoice_number,
                        amount=str(allocation.amount),
                    )
                )
            for invoice_id, number, paid_at in counted.completes:
                self._move_marking(
                    connection, invoice_id, MarkingState.MARKING,
                    insert={"invoice_number": number, "paid_at": paid_at.isoformat(),
                            "completed_by": counted.transaction_id, "intent_at": DB_NOW},
                )  # fmt: skip
        return True

    # -- paid markings --------------------------------------------------------------------------
    def markings(self, states: Sequence[MarkingState] | None = None) -> list[Marking]:
        query = sa.select(payment_markings)
        if states:
            query = query.where(payment_markings.c.state.in_([s.value for s in states]))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [Marking.model_validate({**row, "paid_at": date.fromisoformat(row["paid_at"])}) for row in rows]

    def record_marked(self, invoice_id: str) -> None:
        self._move_marking(self.engine, invoice_id, MarkingState.MARKED, values={"last_error": None})

    def record_marking_error(self, invoice_id: str, error: str) -> None:
        self._move_marking(self.engine, invoice_id, MarkingState.MARKING, values={"last_error": error})

    def _move_marking(
        self, bind: sa.Connection | sa.Engine, invoice_id: str, to: MarkingState, *,
        values: dict[str, Any] | None = None, insert: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        # a marking row is born only with its transfer (insert): an invoice is completed by one transfer only
        move(bind, payment_markings, {"invoice_id": invoice_id}, MARKING, to, values, insert=insert,
             create=insert is not None)  # fmt: skip

    # -- reminders ------------------------------------------------------------------------------
    def reminders(self) -> list[Reminder]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(payment_reminders)).mappings().all()
        return [Reminder.model_validate({**row, "intent_at": aware(row["intent_at"])}) for row in rows]

    def move_reminder(
        self, invoice_id: str, days_after_due: int, to: ReminderState, *, invoice_number: str,
        recipients: str | None = None, error: str | None = None,
    ) -> None:  # fmt: skip
        values: dict[str, Any] = {"last_error": error}
        if to == ReminderState.SENDING:
            values.update(intent_at=DB_NOW, recipients=recipients)
        move(
            self.engine, payment_reminders, {"invoice_id": invoice_id, "days_after_due": days_after_due}, REMINDER, to,
            values, insert={"invoice_number": invoice_number},
        )  # fmt: skip

    # -- the pass's cursor ----------------------------------------------------------------------
    def payment_cursor(self, name: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(payment_cursor.c.value).where(payment_cursor.c.name == name)
            ).scalar_one_or_none()

    def set_payment_cursor(self, name: str, value: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(payment_cursor).where(payment_cursor.c.name == name))
            connection.execute(sa.insert(payment_cursor).values(name=name, value=value))
