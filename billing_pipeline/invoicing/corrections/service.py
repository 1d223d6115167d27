"""Corrections after finalization: a finalized invoice is never edited; it is credited and replaced.

Policy (see README "Corrections"): when the current plan of a customer differs from what its
finalized invoice bills, the invoice is **credited in full** by a credit note ("avoir") that refers to
it (Qonto cancels an invoice whose credit notes reach its total), and a **replacement invoice** at the
current plan follows through the normal draft → finalize path. A customer with nothing to bill any
more only gets the credit note. Per customer, live invoices minus their credit notes then equal the
plan exactly, to the cent and per VAT rate, by construction: the credit note repeats the invoice's
own lines (so Qonto computes the very same VAT), and the replacement is priced like any invoice.
Difference documents (a credit note or a supplementary invoice for the delta only) read better but
cannot always be exact: VAT is rounded per document and per rate, so a delta's VAT may differ by a
cent from the difference of the two VATs.

Exactly once: each credit note has a deterministic reference (``<invoice reference>/avoir/<number of
the invoice it credits>``) written in its ``reason`` (Qonto's credit notes carry no header we could
set); the intent is committed before the create; before any create the credit notes are listed and
matched by the invoice they credit (Qonto also refuses to credit more than an invoice's total, so a
second full credit could not be issued even by mistake).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import BaseModel

from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.invoicing.errors import InvoicingError, UnresolvedCreate, successes_or_raise
from billing_pipeline.invoicing.fan_out import gather_customers
from billing_pipeline.invoicing.in_flight import IN_FLIGHT_GRACE_S, wait_out_creates_in_flight
from billing_pipeline.invoicing.invoices.qonto_index import index_period, period_listing_start
from billing_pipeline.invoicing.invoices.shared_listing import SharedListing
from billing_pipeline.invoicing.ledger import FINAL_STATES, CorrectionState, InvoiceRecord, Ledger
from billing_pipeline.ledger import Money as RecordedAmount  # the ledger's typed amount (Qonto's wire Money below)
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.credit_note_models import CreditNote, CreditNoteCreate
from billing_pipeline.qonto.errors import QontoAmbiguousWriteError
from billing_pipeline.qonto.invoice_models import DiscountType
from billing_pipeline.qonto.models import ClientInvoice, InvoiceItem, InvoiceItemInput, ItemDiscountInput, Money

if TYPE_CHECKING:  # drafts/service.py imports this module: a runtime import would be circular
    from billing_pipeline.invoicing.drafts.service import DraftSynchronizer

CREDIT_NOTE = "credit_note"


class CorrectionNeed(BaseModel):
    """One finalized invoice that no longer matches the plan, and what the plan says now."""

    customer_id: str
    invoice_id: str
    invoice_number: str | None
    billed_total: Decimal | None
    planned_total: Decimal | None  # None: nothing to bill any more

    @property
    def difference(self) -> Decimal:
        return (self.planned_total or Decimal("0")) - (self.billed_total or Decimal("0"))


class IssuedCorrection(BaseModel):
    customer_id: str
    reference: str
    kind: str
    qonto_id: str
    number: str | None
    corrects: str | None
    total: str | None
    created_now: bool


def correction_reference(record: InvoiceRecord, invoice_number: str | None) -> str:
    return f"{record.reference}/avoir/{invoice_number or record.invoice_id}"


def needed_corrections(plan: PeriodPlan, ledger: Ledger) -> list[CorrectionNeed]:
    """Finalized invoices of the period whose content is not the current plan's (Dagster-free, no I/O)."""
    planned = {i.customer.customer_id: i for i in plan.invoices}
    needs = []
    for record in ledger.invoices(plan.period.key):
        if record.state not in FINAL_STATES or record.invoice_id is None:
            continue
        invoice = planned.get(record.customer_id)
        if invoice is not None and invoice.content_digest() == record.content_digest:
            continue
        needs.append(
            CorrectionNeed(
                customer_id=record.customer_id,
                invoice_id=record.invoice_id,
                invoice_number=record.number,
                billed_total=record.total.amount if record.total else None,
                planned_total=invoice.total if invoice is not None else None,
            )
        )
    return needs


def _reason(reference: str, invoice: ClientInvoice, replaced: bool) -> str:
    issued = invoice.issue_date.isoformat() if invoice.issue_date else "?"
    follow = "a replacement invoice at the corrected amount follows" if replaced else "nothing is due for the period"
    return (
        f"Avoir {reference} — annule la facture {invoice.number} du {issued} (usage corrected after "
        f"finalization); {follow}."
    )[:500]


def _items(invoice: ClientInvoice) -> list[InvoiceItemInput]:
    currency = invoice.currency or "EUR"
    return [
        InvoiceItemInput(
            title=item.title or "Correction",
            description=item.description or None,
            quantity=abs(item.quantity),
            unit=item.unit,
            unit_price=Money(value=item.unit_price.value, currency=currency),
            vat_rate=item.vat_rate,
            vat_exemption_reason=item.vat_exemption_reason,
            discount=_mirrored_discount(item),
        )
        for item in invoice.items
    ]


def _mirrored_discount(item: InvoiceItem) -> ItemDiscountInput | None:
    """The invoice item's discount, as sent: Qonto applies it to the credit-note item as it did to
    the invoice's, so the credit note credits the same net and a full credit equals the invoice."""
    discount = item.discount
    if discount is None or discount.value is None or discount.value == 0:
        return None
    if discount.type in ("percentage", "absolute"):
        # the value as sent is positive (Qonto negates the amount on credit notes, never the value)
        kind: DiscountType = "percentage" if discount.type == "percentage" else "absolute"
        return ItemDiscountInput(type=kind, value=abs(discount.value))
    taken_off = discount.taken_off
    if taken_off is None:
        raise ValueError(f"item {item.title!r}: a discount of unknown type {discount.type!r} and no amount")
    return ItemDiscountInput(type="absolute", value=taken_off)


class CorrectionIssuer:
    def __init__(
        self, qonto: QontoClient, ledger: Ledger, *, issue_date: date, in_flight_grace_s: float = IN_FLIGHT_GRACE_S
    ) -> None:
        self.qonto = qonto
        self.ledger = ledger
        self.issue_date = issue_date
        self.in_flight_grace_s = in_flight_grace_s

    async def credit_in_full(self, plan: PeriodPlan, needs: list[CorrectionNeed]) -> list[IssuedCorrection]:
        """One full credit note per invoice in ``needs``; the caller holds the period lock."""
        if not needs:
            return []
        records = {r.customer_id: r for r in self.ledger.invoices(plan.period.key)}
        since = min((records[n.customer_id].finalized_at for n in needs if records[n.customer_id].finalized_at),
                    default=None)  # fmt: skip
        existing = await self._credit_notes_by_invoice(since)
        # a credit note whose create had no answer may still land: wait it out, like invoice creates
        open_intents = [c.intent_at for c in self.ledger.corrections(plan.period.key, {CorrectionState.CREATING})
                        if c.intent_at is not None and c.corrects_invoice_id not in existing]  # fmt: skip
        if await wait_out_creates_in_flight(open_intents, self.in_flight_grace_s, "credit note", now=self.ledger.now()):
            existing = await self._credit_notes_by_invoice(since)
        planned = {i.customer.customer_id for i in plan.invoices}
        results = await gather_customers(
            self.qonto,
            (self._one(records[n.customer_id], n.customer_id in planned, existing) for n in needs),
        )
        return successes_or_raise(f"corrections of {plan.period.key}", results)

    async def _credit_notes_by_invoice(self, since: datetime | None) -> dict[str, list[CreditNote]]:
        """Credit notes updated since the period's first finalization (a day of margin for clock skew)."""
        found: dict[str, list[CreditNote]] = {}
        start = since - timedelta(days=1) if since is not None else None
        async for note in self.qonto.iter_credit_notes(updated_at_from=start):
            if note.invoice_id:
                found.setdefault(note.invoice_id, []).append(note)
        return found

    async def _one(
        self, record: InvoiceRecord, replaced: bool, existing: dict[str, list[CreditNote]]
    ) -> IssuedCorrection:
        assert record.invoice_id is not None
        try:
            return await self._credit(record, replaced, existing)
        except InvoicingError:
            raise
        except Exception as error:
            raise InvoicingError(f"{type(error).__name__}: {error}", customer_id=record.customer_id) from error

    async def _credit(
        self, record: InvoiceRecord, replaced: bool, existing: dict[str, list[CreditNote]]
    ) -> IssuedCorrection:
        assert record.invoice_id is not None
        invoice = await self.qonto.get_client_invoice(record.invoice_id)
        reference = correction_reference(record, invoice.number)
        note = _ours(existing.get(invoice.id, []), reference)
        created_now = False
        if note is None:
            self._record_intent(record, reference, invoice)
            body = CreditNoteCreate(
                invoice_id=invoice.id,
                issue_date=max(self.issue_date, invoice.issue_date or self.issue_date),
                reason=_reason(reference, invoice, replaced),
                currency=invoice.currency or "EUR",
                items=_items(invoice),
            )
            try:
                note = await self.qonto.create_credit_note(body)
                created_now = True
            except QontoAmbiguousWriteError:
                relisted = await self._credit_notes_by_invoice(record.finalized_at)
                note = _ours(relisted.get(invoice.id, []), reference)
                if note is None:
                    raise UnresolvedCreate(
                        f"the credit note {reference} had an unknown outcome and is not visible in Qonto yet",
                        customer_id=record.customer_id,
                        action="the ledger keeps the intent: re-run the step and it will look for it again",
                    ) from None
        elif not any(c.reference == reference for c in self.ledger.corrections(record.period)):
            # in Qonto but not in the ledger (a lost ledger, or a kill after the create): adopt it
            self._record_intent(record, reference, invoice)
        total = f"-{note.credited_amount}" if note.total_amount is not None else None
        _record_issued(self.ledger, reference, note)
        # credited in full, Qonto canceled the invoice: the customer is re-billed by the replacement
        self.ledger.record_canceled(
            record.invoice_reference,
            invoice_id=invoice.id,
            number=invoice.number,
            reason=f"credited in full by {note.number or note.id} (correction {reference})",
        )
        return IssuedCorrection(
            customer_id=record.customer_id,
            reference=reference,
            kind=CREDIT_NOTE,
            qonto_id=note.id,
            number=note.number,
            corrects=invoice.number,
            total=total,
            created_now=created_now,
        )

    def _record_intent(self, record: InvoiceRecord, reference: str, invoice: ClientInvoice) -> None:
        self.ledger.record_correction_intent(
            reference,
            customer_id=record.customer_id,
            period=record.period,
            kind=CREDIT_NOTE,
            corrects_invoice_id=invoice.id,
            corrects_number=invoice.number,
        )


async def resolve_open_credit_notes(qonto: QontoClient, ledger: Ledger, period: str) -> int:
    """Adopt the credit notes whose create was answered by nothing (a kill, a lost response).

    Runs before any step decides about a canceled invoice: a full credit note cancels its invoice in
    Qonto, so an invoice canceled while our credit-note intent is open must be recognised as our
    correction (and replaced), not taken for a person's cancellation. No Qonto call when no intent
    is open. Returns how many were adopted.
    """
    open_intents = ledger.corrections(period, {CorrectionState.CREATING})
    if not open_intents:
        return 0
    since = min((c.intent_at for c in open_intents if c.intent_at is not None), default=None)
    start = since - timedelta(days=1) if since is not None else None
    adopted = 0
    async for note in qonto.iter_credit_notes(updated_at_from=start):
        for intent in open_intents:
            if note.invoice_id == intent.corrects_invoice_id and note.reason and intent.reference in note.reason:
                _record_issued(ledger, intent.reference, note)
                adopted += 1
    return adopted


def _record_issued(ledger: Ledger, reference: str, note: CreditNote) -> None:
    ledger.record_correction_issued(
        reference,
        qonto_id=note.id,
        number=note.number,
        total=_credited(note),
        attachment_id=note.attachment_id,
        finalized_at=note.finalized_at or note.created_at,
    )


def _ours(notes: list[CreditNote], reference: str) -> CreditNote | None:
    """Our credit note for this invoice: the one whose reason carries our reference."""
    for note in notes:
        if note.reason and reference in note.reason:
            return note
    return None


# a credit note in one of these states exists in Qonto: the invoice it corrects was canceled by us
CREDITING_STATES = frozenset({CorrectionState.ISSUED, CorrectionState.STORED, CorrectionState.REJECTED})


def credited_invoice_ids(ledger: Ledger, period: str) -> set[str]:
    """Invoices of the period we credited ourselves (so their cancellation is a correction, not a person's)."""
    return {c.corrects_invoice_id for c in ledger.corrections(period) if c.state in CREDITING_STATES}


async def issue_corrections(
    issuer: CorrectionIssuer, drafts: DraftSynchronizer, plan: PeriodPlan
) -> tuple[list[CorrectionNeed], list[IssuedCorrection]]:
    """Credit in full every finalized invoice that no longer matches ``plan``, then draft the
    replacements (and the invoices of customers who appeared after finalization).

    All under the period lock, taken here like every writer of a period does in its own service: no
    other writer sees the credit notes without their replacement drafts. Finalizing the replacements
    (``finalize_period``) takes the lock again afterwards."""
    ledger = issuer.ledger
    with ledger.period_lock(plan.period.key):
        needs = needed_corrections(plan, ledger)
        issued = await issuer.credit_in_full(plan, needs)
        links = ledger.client_links()
        client_ids = {c: link.client_id for c, link in links.items() if link.client_id}
        await drafts.sync_locked(plan, client_ids)
    return needs, issued


class NetBilled(BaseModel):
    """Per customer: what Qonto bills for the period (invoices minus their credit notes) against the plan."""

    customer_id: str
    invoiced: Decimal
    credited: Decimal
    planned: Decimal

    @property
    def net(self) -> Decimal:
        return self.invoiced - self.credited

    @property
    def matches(self) -> bool:
        return self.net == self.planned


async def net_billed(
    qonto: QontoClient, ledger: Ledger, plan: PeriodPlan, timezone: str, *, shared: SharedListing | None = None
) -> list[NetBilled]:
    """Σ finalized invoices − Σ their credit notes, per customer, read from Qonto (VAT included);
    ``shared``: the run's shared listing of the period (``shared_listing``)."""
    index = await index_period(qonto, plan.period, timezone, shared=shared)
    links = ledger.client_links()
    notes: dict[str, list[CreditNote]] = {}
    async for note in qonto.iter_credit_notes(updated_at_from=period_listing_start(plan.period, timezone)):
        if note.invoice_id:
            notes.setdefault(note.invoice_id, []).append(note)
    planned = {i.customer.customer_id: i.total for i in plan.invoices}
    rows: dict[str, NetBilled] = {
        c: NetBilled(customer_id=c, invoiced=Decimal("0"), credited=Decimal("0"), planned=t) for c, t in planned.items()
    }
    for reference in index.by_reference:
        link = links.get(reference.customer_id)
        for invoice in index.all(reference, link.client_id if link else None):
            if invoice.status == "draft" or invoice.total_amount is None:
                continue  # a draft bills nothing yet
            credited = sum((n.credited_amount or Decimal("0") for n in notes.get(invoice.id, [])), Decimal("0"))
            if invoice.status == "canceled" and not credited:
                continue  # canceled by a person: bills nothing (reported by every_planned_customer_billed)
            row = rows.setdefault(
                reference.customer_id,
                NetBilled(customer_id=reference.customer_id, invoiced=Decimal("0"), credited=Decimal("0"),
                          planned=Decimal("0")),
            )  # fmt: skip
            rows[reference.customer_id] = row.model_copy(
                update={"invoiced": row.invoiced + invoice.total_amount.value, "credited": row.credited + credited}
            )
    return sorted(rows.values(), key=lambda r: r.customer_id)


def _credited(note: CreditNote) -> RecordedAmount | None:
    """What a credit note takes back, signed as the ledger keeps corrections: negative."""
    if note.total_amount is None or note.credited_amount is None:
        return None
    return RecordedAmount(amount=-note.credited_amount, currency=note.total_amount.currency)
