"""The typed answer to "where is this period?": counts read from the ledger, and the rules on them.

Every rule about a period being pending or done lives here as a property of ``PeriodProgress``;
``decision.py`` turns it (plus the answers of the cheap Qonto probes) into the next job to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from billing_pipeline.invoicing.corrections.records import CorrectionRecord, CorrectionState
from billing_pipeline.invoicing.delivery.records import DONE, IN_PROGRESS, NEEDS_A_PERSON, DeliveryRecord, DeliveryState
from billing_pipeline.invoicing.documents.waiting import PendingDocuments, pending_fingerprint
from billing_pipeline.invoicing.invoices.records import InvoiceRecord, InvoiceState

__all__ = ["DeliveryWork", "PendingDocuments", "PeriodProgress", "PeriodReport", "pending_fingerprint"]


@dataclass(frozen=True)
class PeriodProgress:
    """One period's progress, as counts (built by one set of GROUP BY queries, see ``queries.py``).

    ``invoices`` counts every invoice row by state, including the abandoned ones and those we credited
    ourselves (``credited``): neither is an invoice of the period any more, ``billed`` leaves them out.
    ``verified`` counts the stored invoices by the state of their delivery (``None``: no delivery yet);
    ``deliveries`` counts every delivery row of the period, including those of invoices canceled since.
    """

    period: str
    delivering: bool  # BILLING_DELIVERY is not "off": deliveries are part of "done"
    invoices: Mapping[InvoiceState, int] = field(default_factory=dict)
    credited: int = 0
    not_billed: tuple[str, ...] = ()  # customers whose invoice a person canceled (we did not credit it)
    credit_notes: Mapping[CorrectionState, int] = field(default_factory=dict)
    deliveries: Mapping[DeliveryState, int] = field(default_factory=dict)
    verified: Mapping[DeliveryState | None, int] = field(default_factory=dict)

    # -- documents ---------------------------------------------------------------------------
    @property
    def invoice_files_pending(self) -> int:
        """Finalized invoices whose Factur-X file is not stored yet."""
        return self.invoices.get(InvoiceState.FINALIZED, 0)

    @property
    def credit_note_files_pending(self) -> int:
        """Issued credit notes whose Factur-X file is not stored yet."""
        return self.credit_notes.get(CorrectionState.ISSUED, 0)

    @property
    def files_pending(self) -> int:
        return self.invoice_files_pending + self.credit_note_files_pending

    @property
    def billed(self) -> int:
        """The invoices of the period as reported: not abandoned, not canceled by our own credit note."""
        return sum(self.invoices.values()) - self.invoices.get(InvoiceState.ABANDONED, 0) - self.credited

    @property
    def stored(self) -> int:
        return self.invoices.get(InvoiceState.STORED, 0)

    # -- delivery ----------------------------------------------------------------------------
    @property
    def verified_not_delivered(self) -> int:
        return self.verified.get(None, 0)

    @property
    def deliveries_in_progress(self) -> int:
        """Sending, on the network (submitted) or to be sent again (resend)."""
        return sum(self.deliveries.get(state, 0) for state in IN_PROGRESS)

    @property
    def deliveries_needing_a_person(self) -> int:
        return sum(self.deliveries.get(state, 0) for state in NEEDS_A_PERSON)

    @property
    def delivery_begun(self) -> bool:
        """Some invoice of the period was delivered (or tried): a period billed before delivery existed
        has none, and only a run someone asked for starts it."""
        return any(self.deliveries.values())

    @property
    def delivery_pending(self) -> bool:
        """Something about delivery will still move without a person: a verified invoice not sent yet,
        or a delivery sending, on the network or to be sent again."""
        return self.delivering and bool(self.verified_not_delivered or self.deliveries_in_progress)

    @property
    def all_delivered(self) -> bool:
        """Every verified invoice delivered: an email accepted by Qonto, an e-invoice received."""
        return all(state in DONE for state in self.verified)

    # -- the period --------------------------------------------------------------------------
    @property
    def waiting(self) -> bool:
        """Files or deliveries still on their way (``bill --wait`` keeps polling while this holds)."""
        return bool(self.files_pending) or self.delivery_pending

    @property
    def done(self) -> bool:
        """The contract's ``bill`` exit 0, as far as the ledger tells: something was billed, every invoice
        and credit note is stored (verified), nobody is left not billed, and (unless delivery is off)
        every verified invoice is delivered. A failed run or check is the caller's to add."""
        documents = self.billed + sum(self.credit_notes.values())
        return (
            documents > 0
            and self.billed == self.stored
            and sum(self.credit_notes.values()) == self.credit_notes.get(CorrectionState.STORED, 0)
            and (not self.delivering or self.all_delivered)
        )

    def summary(self) -> str:
        """One line for people: skip reasons, ``delivery status --period``."""
        states = ", ".join(f"{n} {s.value}" for s, n in sorted(self.invoices.items()) if n)
        parts = [f"{self.period}: {self.billed} invoice(s)" + (f" ({states})" if states else "")]
        if self.credit_notes:
            parts.append(f"{sum(self.credit_notes.values())} credit note(s)")
        parts.append(f"{self.files_pending} file(s) pending")
        if self.delivering:
            delivered = sum(self.deliveries.get(state, 0) for state in DONE)
            parts.append(
                f"deliveries: {delivered} done, {self.deliveries_in_progress} in progress, "
                f"{self.deliveries_needing_a_person} needing a person, "
                f"{self.verified_not_delivered} verified invoice(s) not delivered"
            )
        if self.not_billed:
            parts.append(f"not billed: {', '.join(self.not_billed)}")
        return "; ".join(parts) + ("; done" if self.done else "")


@dataclass(frozen=True)
class DeliveryWork:
    """Across periods, what the delivery sensor follows: e-invoices on the network (probed a few per
    tick), deliveries a person asked to send again, verified invoices not delivered in begun periods."""

    submitted: list[DeliveryRecord] = field(default_factory=list)
    resend: dict[str, list[DeliveryRecord]] = field(default_factory=dict)
    undelivered: dict[str, list[str]] = field(default_factory=dict)  # period -> invoice ids


@dataclass(frozen=True)
class PeriodReport:
    """The rows ``bill`` prints for a period: its invoices (as ``billed`` counts them), its correction
    documents, and the delivery of each invoice by Qonto invoice id."""

    invoices: list[InvoiceRecord]
    corrections: list[CorrectionRecord]
    deliveries: dict[str, DeliveryRecord]

    @property
    def not_billed(self) -> list[InvoiceRecord]:
        return [r for r in self.invoices if r.state == InvoiceState.CANCELED]
