"""The ledger's deliveries (a mixin of ``Ledger``): one row per Qonto invoice sent to its customer.

Nothing in Qonto tells whether an email left, so the intent row is committed before each send and an
email whose answer never came is never sent again by the pipeline: it becomes ``unknown`` until a
person says what happened (``billing-pipeline delivery resolve``). E-invoice submissions are recorded
the same way although Qonto deduplicates them (a repeated ``send_by_einvoice`` is a no-op success), so
an unanswered submission is simply submitted again.

States and their transitions (``DELIVERY``)::

    (none) ──intent──► sending ──204 email──► sent
      ▲                  │  └──204 e-invoice──► submitted ──202…──► received
      │                  │                          ├──210──► refused
    resend ◄── person ── unknown / failed           └──213, failed──► failed
                          ▲                          └──207/208──► disputed
                          └── email unanswered (or a kill after the intent)
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from billing_pipeline.invoicing.tables import from_row, metadata, period_rows
from billing_pipeline.ledger import DB_NOW, StateMachine, move

delivery_records = sa.Table(
    "delivery_records",
    metadata,
    sa.Column("invoice_id", sa.String(64), primary_key=True),  # each Qonto invoice is delivered once
    sa.Column("reference", sa.String(260), nullable=False),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("number", sa.String(64), nullable=True),
    sa.Column("channel", sa.String(16), nullable=False),  # einvoice | email
    sa.Column("recipients", sa.Text, nullable=True),  # JSON list (email)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("einvoicing_status", sa.String(32), nullable=True),
    sa.Column("events", sa.Text, nullable=True),  # JSON: Qonto's einvoicing_lifecycle_events
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
)


class DeliveryChannel(StrEnum):
    EINVOICE = "einvoice"
    EMAIL = "email"


class DeliveryState(StrEnum):
    SENDING = "sending"  # intent committed; the call may or may not have reached Qonto
    SENT = "sent"  # email accepted by Qonto
    SUBMITTED = "submitted"  # e-invoice accepted by Qonto, travelling on the network
    RECEIVED = "received"  # the buyer's platform has it (lifecycle 202 or later)
    REFUSED = "refused"  # the buyer refused it (210)
    DISPUTED = "disputed"  # the buyer disputes or suspended it (207, 208)
    FAILED = "failed"  # submission failed, not delivered (213, submission_failed, not_delivered), or refused by Qonto
    UNKNOWN = "unknown"  # an email whose answer never came: a person must say whether it left
    RESEND = "resend"  # a person said it did not arrive: the next run sends it again


DONE = frozenset({DeliveryState.SENT, DeliveryState.RECEIVED})
IN_PROGRESS = frozenset({DeliveryState.SENDING, DeliveryState.SUBMITTED, DeliveryState.RESEND})
NEEDS_A_PERSON = frozenset({DeliveryState.REFUSED, DeliveryState.DISPUTED, DeliveryState.FAILED, DeliveryState.UNKNOWN})

DELIVERY = StateMachine(
    "delivery",
    DeliveryState,
    {
        DeliveryState.SENDING: frozenset({None, DeliveryState.RESEND, DeliveryState.SENDING}),
        DeliveryState.SENT: frozenset({DeliveryState.SENDING, DeliveryState.UNKNOWN}),
        DeliveryState.SUBMITTED: frozenset({DeliveryState.SENDING, DeliveryState.SUBMITTED}),
        DeliveryState.RECEIVED: frozenset({DeliveryState.SUBMITTED, DeliveryState.RECEIVED}),
        DeliveryState.REFUSED: frozenset({DeliveryState.SUBMITTED, DeliveryState.RECEIVED}),
        DeliveryState.DISPUTED: frozenset({DeliveryState.SUBMITTED, DeliveryState.RECEIVED, DeliveryState.DISPUTED}),
        DeliveryState.FAILED: frozenset({DeliveryState.SENDING, DeliveryState.SUBMITTED}),
        DeliveryState.UNKNOWN: frozenset({DeliveryState.SENDING}),
        DeliveryState.RESEND: frozenset({DeliveryState.UNKNOWN, DeliveryState.FAILED}),
    },
    final=DONE,
)


class DeliveryRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    invoice_id: str
    reference: str
    customer_id: str
    period: str
    number: str | None
    channel: DeliveryChannel
    recipients: list[str]
    state: DeliveryState
    einvoicing_status: str | None
    events: list[dict[str, Any]]
    intent_at: datetime | None
    sent_at: datetime | None
    checked_at: datetime | None
    updated_at: datetime
    last_error: str | None


def _delivery_from_row(row: Any) -> DeliveryRecord:
    values = dict(row)
    values["recipients"] = json.loads(values["recipients"] or "[]")
    values["events"] = json.loads(values["events"] or "[]")
    return from_row(DeliveryRecord, values, ("intent_at", "sent_at", "checked_at", "updated_at"))


class DeliveryLedger:
    engine: sa.Engine

    def deliveries(self, period: str | None = None, states: set[DeliveryState] | None = None) -> list[DeliveryRecord]:
        rows = period_rows(self.engine, delivery_records, ("period", "customer_id"), period, states)
        return [_delivery_from_row(row) for row in rows]

    def delivery(self, invoice_id: str) -> DeliveryRecord | None:
        query = sa.select(delivery_records).where(delivery_records.c.invoice_id == invoice_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return _delivery_from_row(row) if row is not None else None

    def record_delivery_intent(
        self, invoice_id: str, *, reference: str, customer_id: str, period: str, number: str | None,
        channel: DeliveryChannel, recipients: list[str],
    ) -> None:  # fmt: skip
        values = {
            "reference": reference,
            "customer_id": customer_id,
            "period": period,
            "number": number,
            "channel": channel.value,
            "recipients": json.dumps(recipients),
            "intent_at": DB_NOW,
            "last_error": None,
        }
        self._move_delivery(invoice_id, DeliveryState.SENDING, values)

    def record_delivery_sent(self, invoice_id: str) -> None:
        self._move_delivery(invoice_id, DeliveryState.SENT, {"sent_at": DB_NOW, "last_error": None})

    def record_delivery_submitted(self, invoice_id: str) -> None:
        self._move_delivery(invoice_id, DeliveryState.SUBMITTED, {"sent_at": DB_NOW, "last_error": None})

    def record_delivery_unknown(self, invoice_id: str, *, reason: str) -> None:
        self._move_delivery(invoice_id, DeliveryState.UNKNOWN, {"last_error": reason})

    def record_delivery_failed(self, invoice_id: str, *, reason: str) -> None:
        self._move_delivery(invoice_id, DeliveryState.FAILED, {"last_error": reason})

    def record_delivery_progress(
        self, invoice_id: str, to: DeliveryState, *, einvoicing_status: str | None, events: list[dict[str, Any]],
        reason: str | None = None,
    ) -> None:  # fmt: skip
        """What Qonto's lifecycle says now (``to`` is SUBMITTED while nothing final happened)."""
        values: dict[str, Any] = {
            "einvoicing_status": einvoicing_status,
            "events": json.dumps(events, default=str),
            "checked_at": DB_NOW,
            "last_error": reason,
        }
        self._move_delivery(invoice_id, to, values)

    def record_delivery_resolved(self, invoice_id: str, *, left: bool, by: str) -> None:
        """A person's answer about an unknown or failed delivery: it left (sent), or send it again."""
        if left:
            self._move_delivery(invoice_id, DeliveryState.SENT, {"last_error": f"confirmed sent by {by}"})
        else:
            self._move_delivery(invoice_id, DeliveryState.RESEND, {"last_error": f"resend asked by {by}"})

    def _move_delivery(self, invoice_id: str, to: DeliveryState, values: dict[str, Any]) -> None:
        move(self.engine, delivery_records, {"invoice_id": invoice_id}, DELIVERY, to, values)
