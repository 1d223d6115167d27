"""A small ledger put in a given state through the Ledger's own ``record_*`` transitions (so every row
is one the pipeline could have written), for the read model's and the decision's tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing_pipeline.invoicing.corrections.records import CorrectionState
from billing_pipeline.invoicing.delivery.records import DeliveryChannel, DeliveryState
from billing_pipeline.invoicing.invoices.records import InvoiceState, PlannedContent
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.ledger import Money

PERIOD = "2026-10"
# fixed, far from any real date: what the tests compare is relative to it, never to today
FINALIZED_AT = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
CREDITED = Money(amount=Decimal("-12.00"), currency="EUR")  # a credit note's total is negative
CONTENT = PlannedContent(digest="d" * 64, net_total=Decimal("10.00"), vat_total=Decimal("2.00"), total=Decimal("12.00"))


@dataclass(frozen=True)
class Customer:
    """One customer's invoice of the period and what followed it. ``credit_note``: a credit note of ours
    on the invoice (``canceled`` + a crediting credit note = a correction, not a person's cancellation)."""

    name: str
    invoice: InvoiceState
    delivery: DeliveryState | None = None
    credit_note: CorrectionState | None = None
    period: str = PERIOD

    @property
    def invoice_id(self) -> str:
        return f"inv-{self.period}-{self.name}"

    @property
    def reference(self) -> InvoiceReference:
        return InvoiceReference.of(self.name, self.period)


def record(ledger: Ledger, customer: Customer, *, finalized_at: datetime = FINALIZED_AT) -> None:
    """Write ``customer``'s rows: the invoice up to its state, its delivery, its credit note."""
    ref, invoice_id = customer.reference, customer.invoice_id
    state = customer.invoice
    ledger.record_invoice_intent(ref, f"client-{customer.name}")
    if state == InvoiceState.CREATING:
        return
    if state == InvoiceState.ABANDONED:
        ledger.record_abandoned(ref, reason="left the plan")
        return
    ledger.record_draft(ref, invoice_id=invoice_id, client_id=f"client-{customer.name}", content=CONTENT)
    if state == InvoiceState.DRAFT:
        return
    ledger.record_finalized(
        ref, invoice_id=invoice_id, client_id=f"client-{customer.name}", number=f"F-{customer.name}",
        finalized_at=finalized_at, attachment_id=f"att-{invoice_id}",
    )  # fmt: skip
    delivered_before = state == InvoiceState.CANCELED and customer.delivery is not None
    if state == InvoiceState.STORED or delivered_before:
        # a canceled invoice with a delivery was verified and delivered first, then canceled
        ledger.record_stored(ref, file_path=f"/files/{invoice_id}.pdf", sha256="0" * 64)
    if state == InvoiceState.REJECTED:
        ledger.record_rejected(ref, problems="BR-FR-01")
    if customer.delivery is not None:
        deliver(ledger, customer, customer.delivery)
    if customer.credit_note is not None:
        credit(ledger, customer, customer.credit_note, finalized_at=finalized_at)
    if state == InvoiceState.CANCELED:
        ledger.record_canceled(ref, invoice_id=invoice_id, number=f"F-{customer.name}", reason="canceled")


def deliver(ledger: Ledger, customer: Customer, state: DeliveryState) -> None:
    invoice_id = customer.invoice_id
    einvoice = state in (DeliveryState.SUBMITTED, DeliveryState.RECEIVED, DeliveryState.REFUSED, DeliveryState.DISPUTED)
    ledger.record_delivery_intent(
        invoice_id, reference=str(customer.reference), customer_id=customer.name, period=customer.period,
        number=f"F-{customer.name}", channel=DeliveryChannel.EINVOICE if einvoice else DeliveryChannel.EMAIL,
        recipients=[] if einvoice else [f"{customer.name}@example.com"],
    )  # fmt: skip
    match state:
        case DeliveryState.SENDING:
            pass
        case DeliveryState.SENT:
            ledger.record_delivery_sent(invoice_id)
        case DeliveryState.UNKNOWN | DeliveryState.RESEND:
            ledger.record_delivery_unknown(invoice_id, reason="answer lost")
            if state == DeliveryState.RESEND:
                ledger.record_delivery_resolved(invoice_id, left=False, by="tester")
        case DeliveryState.FAILED:
            ledger.record_delivery_failed(invoice_id, reason="not in the directory")
        case _:
            ledger.record_delivery_submitted(invoice_id)
            if state != DeliveryState.SUBMITTED:
                ledger.record_delivery_progress(
                    invoice_id, state, einvoicing_status=None, events=[{"status_code": 202}], reason=None
                )


def credit(ledger: Ledger, customer: Customer, state: CorrectionState, *, finalized_at: datetime = FINALIZED_AT) -> str:
    reference = f"{customer.reference}/avoir/F-{customer.name}"
    ledger.record_correction_intent(
        reference, customer_id=customer.name, period=customer.period, kind="credit_note",
        corrects_invoice_id=customer.invoice_id, corrects_number=f"F-{customer.name}",
    )  # fmt: skip
    if state == CorrectionState.CREATING:
        return reference
    ledger.record_correction_issued(
        reference, qonto_id=f"cn-{customer.invoice_id}", number=f"AV-{customer.name}", total=CREDITED,
        attachment_id=f"att-cn-{customer.invoice_id}", finalized_at=finalized_at + timedelta(minutes=1),
    )  # fmt: skip
    if state == CorrectionState.STORED:
        ledger.record_correction_stored(reference, file_path=f"/files/{reference}.pdf", sha256="1" * 64)
    elif state == CorrectionState.REJECTED:
        ledger.record_correction_rejected(reference, problems="BT-25 missing")
    return reference


def ledger_with(path: str, customers: list[Customer]) -> Ledger:
    ledger = Ledger(f"sqlite:///{path}")
    for customer in customers:
        record(ledger, customer)
    return ledger
