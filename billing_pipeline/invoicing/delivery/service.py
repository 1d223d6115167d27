"""Deliver each verified invoice to its customer once: the e-invoicing network, or email.

For every invoice of the period whose Factur-X file is stored and verified (ledger state ``stored``;
nothing else is ever sent), under the period lock:

1. Read the invoice and its client from Qonto (from one listing of the invoices to send and one of the
   clients when those cost fewer requests than reads one by one: ``listed.py``). A canceled invoice is
   not delivered; an invoice whose attachment is not the one we verified is held back (a customer never
   gets a PDF we did not check).
2. Channel: ``send_by_einvoice`` when the client is ``e_invoicing_reachable`` (and e-invoicing exists:
   not in Qonto's sandbox, not ``BILLING_DELIVERY=email``), else one email to the client's ``email``
   and ``extra_emails`` (filled from customers.csv: ``email`` and ``invoice_emails``).
3. Commit the intent, then call. An email whose answer is lost becomes ``unknown`` and is never sent
   again by the pipeline (Qonto records no trace of an email we could look up); a kill between the
   intent and the answer leads to the same. An e-invoice submission is simply repeated (Qonto
   documents a repeated call as a no-op success).
4. After a lost ledger, an invoice the ledger adopted from Qonto (no intent of ours before its create)
   may have been emailed by the ledger that was lost: its email delivery is ``unknown`` too, for a
   person to decide; an e-invoice already submitted shows in Qonto's lifecycle and is followed.

Submitted e-invoices are then followed through ``einvoicing_lifecycle_events`` until received,
refused, disputed or failed (see ``lifecycle.py``) — not right after the submission, when the lifecycle
has nothing yet to tell: the next look is the attachment sensor's or ``bill --wait``'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from billing_pipeline.invoicing.clients.directory import ClientDirectory
from billing_pipeline.invoicing.delivery.lifecycle import event_dicts, lifecycle_state, listed_is_fresh
from billing_pipeline.invoicing.delivery.mail import invoice_email
from billing_pipeline.invoicing.delivery.records import (
    DeliveryChannel,
    DeliveryRecord,
    DeliveryState,
)
from billing_pipeline.invoicing.errors import InvoicingError, successes_or_raise
from billing_pipeline.invoicing.fan_out import gather_customers
from billing_pipeline.invoicing.invoices.listed import finalized_at, listed_invoices
from billing_pipeline.invoicing.ledger import InvoiceRecord, InvoiceState, Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.errors import (
    QontoAmbiguousWriteError,
    QontoError,
    QontoRateLimitedError,
    QontoTransportError,
)
from billing_pipeline.qonto.models import ClientInvoice

DeliveryPolicy = Literal["auto", "email", "off"]


class DeliveryOutcome(BaseModel):
    customer_id: str
    number: str | None
    invoice_id: str
    channel: DeliveryChannel | None
    state: DeliveryState | None  # None: not delivered (canceled, held back, delivery off)
    recipients: list[str] = []
    einvoicing_status: str | None = None
    events: list[dict[str, Any]] = []
    sent_at: datetime | None = None
    sent_now: bool = False
    note: str | None = None


class DeliveryReport(BaseModel):
    period: str
    outcomes: list[DeliveryOutcome]

    def in_state(self, *states: DeliveryState) -> list[DeliveryOutcome]:
        return [o for o in self.outcomes if o.state in states]


def _outcome(record: DeliveryRecord, *, sent_now: bool = False, note: str | None = None) -> DeliveryOutcome:
    return DeliveryOutcome(
        customer_id=record.customer_id,
        number=record.number,
        invoice_id=record.invoice_id,
        channel=record.channel,
        state=record.state,
        recipients=record.recipients,
        einvoicing_status=record.einvoicing_status,
        events=record.events,
        sent_at=record.sent_at,
        sent_now=sent_now,
        note=note or record.last_error,
    )


class InvoiceDeliverer:
    def __init__(self, qonto: QontoClient, ledger: Ledger, *, policy: DeliveryPolicy, einvoicing: bool) -> None:
        """``einvoicing``: whether the Qonto environment has e-invoicing (False in Qonto's sandbox)."""
        self.qonto = qonto
        self.ledger = ledger
        self.policy = policy
        self.einvoicing = einvoicing and policy == "auto"
        self._clients: ClientDirectory | None = None
        self._listed: dict[str, ClientInvoice] = {}  # the list view of the invoices to send, by id

    async def deliver(self, period: str) -> DeliveryReport:
        """Deliver the period's stored invoices and follow those on the network, under the period lock
        (a send is decided from the ledger's deliveries: two deliverers of a period would both send)."""
        with self.ledger.period_lock(period):
            if self.policy == "off":
                return DeliveryReport(period=period, outcomes=[])
            records = [r for r in self.ledger.invoices(period) if r.state == InvoiceState.STORED and r.invoice_id]
            unsettled = (DeliveryState.SENDING, DeliveryState.RESEND)
            deliveries = self.ledger.deliveries(period)
            settled = {d.invoice_id for d in deliveries if d.state not in unsettled}
            submitted = {d.invoice_id for d in deliveries if d.state == DeliveryState.SUBMITTED}
            # each invoice still to send needs its client (channel, recipients): one listing may be cheaper
            to_send = {r.invoice_id for r in records if r.invoice_id not in settled}
            self._clients = await ClientDirectory.load_if_cheaper(self.qonto, lookups=len(to_send))
            # and its own state (the check before sending), like each e-invoice on the network: one
            # listing of the period's invoices instead of one read each, when it is cheaper
            self._listed = await listed_invoices(self.qonto, finalized_at(records, to_send | submitted))
            results = await gather_customers(self.qonto, (self._one(r) for r in records))
            outcomes = successes_or_raise(f"delivery of {period}", results)
        return DeliveryReport(period=period, outcomes=sorted(outcomes, key=lambda o: o.customer_id))

    async def _one(self, record: InvoiceRecord) -> DeliveryOutcome:
        try:
            return await self._deliver(record)
        except InvoicingError:
            raise
        except Exception as error:
            raise InvoicingError(f"{type(error).__name__}: {error}", customer_id=record.customer_id) from error

    async def _deliver(self, record: InvoiceRecord) -> DeliveryOutcome:
        assert record.invoice_id is not None
        existing = self.ledger.delivery(record.invoice_id)
        if existing is not None and existing.state not in (DeliveryState.SENDING, DeliveryState.RESEND):
            if existing.state == DeliveryState.SUBMITTED:
                return await self.follow(existing)
            return _outcome(existing)
        invoice = self._listed.get(record.invoice_id) or await self.qonto.get_client_invoice(record.invoice_id)
        if invoice.status == "canceled":
            return self._not_delivered(record, "canceled in Qonto before it was delivered")
        if invoice.attachment_id != record.attachment_id:
            return self._not_delivered(
                record,
                f"Qonto's PDF ({invoice.attachment_id}) is not the one we verified ({record.attachment_id}): held "
                "back until the new file is collected and verified",
            )
        if existing is not None and existing.state == DeliveryState.SENDING:
            return await self._resume(existing, invoice)
        client_id = invoice.client_id or record.client_id or ""
        client = (self._clients.get(client_id) if self._clients else None) or await self.qonto.get_client(client_id)
        reachable = self.einvoicing and bool(client.e_invoicing_reachable)
        channel = DeliveryChannel.EINVOICE if reachable else DeliveryChannel.EMAIL
        recipients = [a for a in [client.email, *(client.extra_emails or [])] if a]
        if channel == DeliveryChannel.EINVOICE and _on_the_network(invoice):
            # already on the network (a lost ledger, or a person submitted it): follow it, never resubmit
            self._intent(record, channel, recipients)
            self.ledger.record_delivery_submitted(record.invoice_id)
            return await self.follow(self._record(record.invoice_id), invoice=_detailed(invoice))
        if channel == DeliveryChannel.EMAIL and not recipients:
            raise InvoicingError(
                f"invoice {record.number}: the Qonto client {client.id} has no email address",
                customer_id=record.customer_id,
                action="fill the customer's email in customers.csv and re-run (the client is updated first)",
            )
        self._intent(record, channel, recipients)
        if channel == DeliveryChannel.EMAIL and record.intent_at is None and existing is None:
            # adopted from Qonto after a lost ledger: the lost ledger may have emailed it already
            self.ledger.record_delivery_unknown(
                record.invoice_id,
                reason="the ledger adopted this invoice from Qonto (a lost or rebuilt ledger): it may have been "
                "emailed already",
            )
            return _outcome(self._record(record.invoice_id))
        if channel == DeliveryChannel.EINVOICE:
            return await self._submit(record.invoice_id)
        return await self._email(record.invoice_id, invoice, client.locale, recipients)

    def _intent(self, record: InvoiceRecord, channel: DeliveryChannel, recipients: list[str]) -> None:
        assert record.invoice_id is not None
        self.ledger.record_delivery_intent(
            record.invoice_id,
            reference=str(record.invoice_reference),
            customer_id=record.customer_id,
            period=record.period,
            number=record.number,
            channel=channel,
            recipients=recipients if channel == DeliveryChannel.EMAIL else [],
        )

    async def _resume(self, existing: DeliveryRecord, invoice: ClientInvoice) -> DeliveryOutcome:
        """An intent without an answer: a run died between committing it and hearing from Qonto."""
        if existing.channel == DeliveryChannel.EINVOICE:
            if _on_the_network(invoice):
                self.ledger.record_delivery_submitted(existing.invoice_id)
                return await self.follow(self._record(existing.invoice_id), invoice=_detailed(invoice))
            return await self._submit(existing.invoice_id)
        self.ledger.record_delivery_unknown(
            existing.invoice_id,
            reason="a run stopped after deciding to email this invoice and before Qonto answered: whether the "
            "email left is unknown",
        )
        return _outcome(self._record(existing.invoice_id))

    async def _email(
        self, invoice_id: str, invoice: ClientInvoice, locale: str | None, recipients: list[str]
    ) -> DeliveryOutcome:
        try:
            await self.qonto.send_client_invoice(invoice_id, invoice_email(invoice, locale, recipients))
        except QontoAmbiguousWriteError as error:
            self.ledger.record_delivery_unknown(
                invoice_id, reason=f"Qonto's answer to the email was lost ({error.message}): it may have left"
            )
            return _outcome(self._record(invoice_id))
        except QontoError as error:
            return self._refused(invoice_id, error)
        self.ledger.record_delivery_sent(invoice_id)
        return _outcome(self._record(invoice_id), sent_now=True)

    async def _submit(self, invoice_id: str) -> DeliveryOutcome:
        try:
            await self.qonto.send_client_invoice_by_einvoice(invoice_id)
        except QontoAmbiguousWriteError:
            # Qonto deduplicates submissions: the next run submits again and follows
            return _outcome(self._record(invoice_id), note="no answer to the submission yet: submitted again next run")
        except QontoError as error:
            return self._refused(invoice_id, error)
        self.ledger.record_delivery_submitted(invoice_id)
        # not read back now: the lifecycle is empty or at "submitted" a moment after the submission
        return _outcome(self._record(invoice_id), sent_now=True)

    def _refused(self, invoice_id: str, error: QontoError) -> DeliveryOutcome:
        """Qonto did not take the request: provably not sent. Transient causes are tried again next run."""
        transient = isinstance(error, QontoRateLimitedError) or (
            isinstance(error, QontoTransportError) and not error.request_sent
        )
        reason = f"Qonto refused the delivery: {error.message}"
        self.ledger.record_delivery_failed(invoice_id, reason=reason)
        if transient:
            self.ledger.record_delivery_resolved(invoice_id, left=False, by="the pipeline (transient error)")
        return _outcome(self._record(invoice_id), note=reason)

    async def follow(
        self, record: DeliveryRecord, *, sent_now: bool = False, invoice: ClientInvoice | None = None
    ) -> DeliveryOutcome:
        """Record where a submitted e-invoice is on the network (``invoice``: already read this run).

        From the listing when it shows the invoice and the ledger looked at it fully not long ago: an
        unchanged ``einvoicing_status`` means nothing to record; a new one that is good news (still on
        its way, or received) is recorded as is. A bad outcome is read in full, for its code and reason."""
        if invoice is None:
            listed = self._listed.get(record.invoice_id)
            if listed is not None and listed_is_fresh(record):
                if listed.einvoicing_status == record.einvoicing_status:
                    return _outcome(record, sent_now=sent_now)
                state, _ = lifecycle_state([], listed.einvoicing_status)
                if state in (DeliveryState.SUBMITTED, DeliveryState.RECEIVED):
                    self.ledger.record_delivery_progress(
                        record.invoice_id, state, einvoicing_status=listed.einvoicing_status, events=record.events
                    )
                    return _outcome(self._record(record.invoice_id), sent_now=sent_now)
            invoice = await self.qonto.get_client_invoice(record.invoice_id)
        events = event_dicts(invoice.einvoicing_lifecycle_events)
        state, reason = lifecycle_state(invoice.einvoicing_lifecycle_events, invoice.einvoicing_status)
        if state != record.state or events != record.events or invoice.einvoicing_status != record.einvoicing_status:
            self.ledger.record_delivery_progress(
                record.invoice_id, state, einvoicing_status=invoice.einvoicing_status, events=events, reason=reason
            )
            record = self._record(record.invoice_id)
        return _outcome(record, sent_now=sent_now)

    def _not_delivered(self, record: InvoiceRecord, why: str) -> DeliveryOutcome:
        assert record.invoice_id is not None
        return DeliveryOutcome(
            customer_id=record.customer_id, number=record.number, invoice_id=record.invoice_id, channel=None,
            state=None, note=why,
        )  # fmt: skip

    def _record(self, invoice_id: str) -> DeliveryRecord:
        found = self.ledger.delivery(invoice_id)
        assert found is not None
        return found


def _on_the_network(invoice: ClientInvoice) -> bool:
    """Submitted already? A listed invoice carries no lifecycle events, but its ``einvoicing_status``
    is set once it is submitted. ``pending`` is not taken as proof: submitting again is then the safe
    side, as Qonto documents a repeated submission as a no-op."""
    return bool(invoice.einvoicing_lifecycle_events) or invoice.einvoicing_status not in (None, "pending")


def _detailed(invoice: ClientInvoice) -> ClientInvoice | None:
    """The invoice if it carries its lifecycle (a read); None for a listed one: ``follow`` reads it."""
    return invoice if invoice.einvoicing_lifecycle_events else None


def latest_event_at(record: DeliveryRecord) -> datetime | None:
    stamps = [e.get("timestamp") for e in record.events if e.get("timestamp")]
    return datetime.fromisoformat(max(stamps)) if stamps else None


class NotResolvable(ValueError):
    """A person's answer that no delivery of the ledger can take (no such invoice, or not in doubt)."""


def resolve_delivery(ledger: Ledger, number: str, *, left: bool, by: str) -> DeliveryRecord:
    """A person's answer about a delivery in doubt: it reached the customer (``left``), or send it again.

    Only an ``unknown`` delivery can be recorded as sent; an ``unknown`` or ``failed`` one can be sent
    again. Checked and written under the period's lock, like every delivery write."""
    found = [d for d in ledger.deliveries() if d.number == number]
    if not found:
        raise NotResolvable(f"no delivery of invoice {number} in the ledger")
    allowed = {DeliveryState.UNKNOWN} if left else {DeliveryState.UNKNOWN, DeliveryState.FAILED}
    with ledger.period_lock(found[0].period):
        record = ledger.delivery(found[0].invoice_id)
        if record is None or record.state not in allowed:
            state = record.state.value if record is not None else "gone"
            raise NotResolvable(
                f"the delivery of {number} is {state}: only "
                f"{' or '.join(sorted(s.value for s in allowed))} deliveries can be resolved this way"
            )
        ledger.record_delivery_resolved(record.invoice_id, left=left, by=by)
    return record
