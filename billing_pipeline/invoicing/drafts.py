"""One draft invoice per (customer, period) in Qonto that follows the priced plan until finalized.

Order of operations for each planned invoice (the period lock is held throughout):
1. Look the reference up in Qonto (one listing of the invoices created since the period began).
2. Found: adopt it in the ledger; a draft whose content differs from the plan is updated (PATCH);
   a finalized invoice is never touched — a difference is reported as late usage.
3. Not found: commit an intent row, then create. If the response is lost, list again and adopt.
Drafts of customers that no longer have anything to bill are deleted.
"""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from billing_pipeline.billing.models import InvoicePlan, PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.invoicing.in_flight import IN_FLIGHT_GRACE_S, wait_out_creates_in_flight
from billing_pipeline.invoicing.ledger import InvoiceRecord, InvoiceState, Ledger
from billing_pipeline.invoicing.payloads import invoice_create, invoice_update
from billing_pipeline.invoicing.qonto_index import PeriodIndex, index_period
from billing_pipeline.invoicing.references import invoice_reference
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.errors import QontoAmbiguousWriteError, QontoNotFoundError
from billing_pipeline.qonto.models import ClientInvoice

DraftAction = Literal["created", "adopted", "updated", "unchanged", "locked", "deleted"]


class DraftOutcome(BaseModel):
    customer_id: str
    reference: str
    invoice_id: str
    status: str
    action: DraftAction
    plan_net: Decimal | None
    plan_vat: Decimal | None
    plan_total: Decimal | None
    qonto_vat: Decimal | None
    qonto_total: Decimal | None
    content_changed_after_finalize: bool = False

    @property
    def totals_match(self) -> bool:
        return self.plan_total == self.qonto_total and self.plan_vat == self.qonto_vat


class DraftReport(BaseModel):
    period: str
    outcomes: list[DraftOutcome]
    duplicates_in_qonto: dict[str, list[str]]
    invoices_listed: int


class UnresolvedInvoiceCreate(RuntimeError):
    """An invoice create had an unknown outcome and the invoice is not visible yet: re-run the step."""


def _outcome(
    plan: InvoicePlan | None, reference: str, invoice: ClientInvoice, action: DraftAction, *, late: bool = False
) -> DraftOutcome:
    return DraftOutcome(
        customer_id=plan.customer.customer_id if plan else reference.split("-", 3)[3],
        reference=reference,
        invoice_id=invoice.id,
        status=invoice.status,
        action=action,
        plan_net=plan.net_total if plan else None,
        plan_vat=plan.vat_total if plan else None,
        plan_total=plan.total if plan else None,
        qonto_vat=invoice.vat_amount.value if invoice.vat_amount else None,
        qonto_total=invoice.total_amount.value if invoice.total_amount else None,
        content_changed_after_finalize=late,
    )


def _totals(plan: InvoicePlan) -> dict[str, str]:
    return {"net_total": str(plan.net_total), "vat_total": str(plan.vat_total), "total": str(plan.total)}


class DraftSynchronizer:
    def __init__(
        self,
        qonto: QontoClient,
        ledger: Ledger,
        *,
        iban: str,
        issue_date: date,
        timezone: str,
        in_flight_grace_s: float = IN_FLIGHT_GRACE_S,
    ) -> None:
        self.qonto = qonto
        self.ledger = ledger
        self.iban = iban
        self.issue_date = issue_date
        self.timezone = timezone
        self.in_flight_grace_s = in_flight_grace_s

    async def sync(self, plan: PeriodPlan, client_ids: dict[str, str]) -> DraftReport:
        period = BillingPeriod.parse(plan.period)
        with self.ledger.period_lock(period.key):
            index = await index_period(self.qonto, period, self.timezone)
            if await self._wait_for_creates_in_flight(period.key, index):
                index = await index_period(self.qonto, period, self.timezone)
            planned = {p.customer.customer_id for p in plan.invoices}
            missing_clients = sorted(planned - client_ids.keys())
            if missing_clients:
                raise ValueError(f"no Qonto client for customers {missing_clients}: materialize qonto_clients")
            results = await asyncio.gather(
                *(self._sync_one(p, client_ids[p.customer.customer_id], index) for p in plan.invoices),
                return_exceptions=True,
            )
            outcomes = [r for r in results if isinstance(r, DraftOutcome)]
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]
            outcomes += await self._delete_unplanned(period, planned, index)
        return DraftReport(
            period=period.key,
            outcomes=sorted(outcomes, key=lambda o: o.customer_id),
            duplicates_in_qonto=index.duplicates(),
            invoices_listed=index.listed,
        )

    async def _wait_for_creates_in_flight(self, period: str, index: PeriodIndex) -> bool:
        intents = [
            r.intent_at
            for r in self.ledger.invoices(period, {InvoiceState.CREATING})
            if r.invoice_id is None and r.intent_at is not None and not index.live(r.reference)
        ]
        return await wait_out_creates_in_flight(intents, self.in_flight_grace_s, f"period {period}: invoice")

    async def _sync_one(self, plan: InvoicePlan, client_id: str, index: PeriodIndex) -> DraftOutcome:
        customer_id = plan.customer.customer_id
        reference = invoice_reference(customer_id, plan.period)
        digest = plan.content_digest()
        live = index.live(reference)
        if live:
            invoice = min(live, key=lambda i: (i.created_at, i.id))
            return await self._follow_existing(plan, reference, digest, invoice)
        cancelled = index.by_reference.get(reference, [])
        if cancelled:
            # A person canceled this period's invoice in Qonto: re-billing is their decision, not ours.
            return _outcome(plan, reference, cancelled[-1], "locked")
        record = self.ledger.invoice(customer_id, plan.period)
        if record is not None and record.invoice_id and record.state != InvoiceState.CREATING:
            # The ledger knows an invoice that the listing did not show: ask for it directly.
            try:
                invoice = await self.qonto.get_client_invoice(record.invoice_id)
            except QontoNotFoundError:
                invoice = None  # a draft deleted in Qonto by a person: the plan still says bill it
            if invoice is not None:
                return await self._follow_existing(plan, reference, digest, invoice)
            self.ledger.update_invoice(customer_id, plan.period, state=InvoiceState.CREATING, invoice_id=None)
        return await self._create(plan, client_id, reference, digest)

    async def _follow_existing(
        self, plan: InvoicePlan, reference: str, digest: str, invoice: ClientInvoice
    ) -> DraftOutcome:
        customer_id = plan.customer.customer_id
        record = self.ledger.invoice(customer_id, plan.period)
        if invoice.status != "draft":
            known_digest = record.content_digest if record else None
            self.ledger.upsert_invoice(
                customer_id,
                plan.period,
                reference,
                invoice_id=invoice.id,
                client_id=invoice.client_id,
                state=_finalized_state(record),
                number=invoice.number,
                finalized_at=invoice.finalized_at,
                attachment_id=invoice.attachment_id,
                **({} if known_digest else {"content_digest": digest, **_totals(plan)}),
            )
            late = known_digest is not None and known_digest != digest
            return _outcome(plan, reference, invoice, "locked", late=late)
        action: DraftAction = "adopted" if record is None or record.invoice_id != invoice.id else "unchanged"
        if record is None or record.content_digest != digest or not _same_totals(plan, invoice):
            invoice = await self.qonto.update_client_invoice(
                invoice.id, invoice_update(plan, iban=self.iban, issue_date=self.issue_date, reference=reference)
            )
            action = "updated"
        self.ledger.upsert_invoice(
            customer_id,
            plan.period,
            reference,
            invoice_id=invoice.id,
            client_id=invoice.client_id,
            state=InvoiceState.DRAFT,
            content_digest=digest,
            **_totals(plan),
        )
        return _outcome(plan, reference, invoice, action)

    async def _create(self, plan: InvoicePlan, client_id: str, reference: str, digest: str) -> DraftOutcome:
        customer_id = plan.customer.customer_id
        self.ledger.record_invoice_intent(customer_id, plan.period, reference, client_id)
        payload = invoice_create(
            plan, client_id=client_id, iban=self.iban, issue_date=self.issue_date, reference=reference
        )
        try:
            invoice = await self.qonto.create_client_invoice(payload)
        except QontoAmbiguousWriteError:
            period = BillingPeriod.parse(plan.period)
            relisted = await index_period(self.qonto, period, self.timezone)
            live = relisted.live(reference)
            if not live:
                raise UnresolvedInvoiceCreate(
                    f"creating the invoice {reference} had an unknown outcome and it is not visible in "
                    "Qonto yet; the ledger keeps the intent and the next run will look for it again"
                ) from None
            invoice = min(live, key=lambda i: (i.created_at, i.id))
        self.ledger.update_invoice(
            customer_id,
            plan.period,
            invoice_id=invoice.id,
            client_id=invoice.client_id or client_id,
            state=InvoiceState.DRAFT if invoice.status == "draft" else InvoiceState.FINALIZED,
            content_digest=digest,
            **_totals(plan),
        )
        return _outcome(plan, reference, invoice, "created")

    async def _delete_unplanned(
        self, period: BillingPeriod, planned: set[str], index: PeriodIndex
    ) -> list[DraftOutcome]:
        outcomes: list[DraftOutcome] = []
        for reference in sorted(index.by_reference):
            customer_id = reference.removeprefix(f"BP-{period.key}-")
            if customer_id in planned:
                continue
            for invoice in index.live(reference):
                if invoice.status == "draft":
                    try:
                        await self.qonto.delete_client_invoice(invoice.id)
                    except QontoNotFoundError:
                        pass
                    if self.ledger.invoice(customer_id, period.key):
                        self.ledger.update_invoice(
                            customer_id,
                            period.key,
                            state=InvoiceState.CREATING,
                            invoice_id=None,
                            last_error="draft deleted: nothing left to bill for this period",
                        )
                    outcomes.append(_outcome(None, reference, invoice, "deleted"))
                else:
                    outcomes.append(_outcome(None, reference, invoice, "locked", late=True))
        return outcomes


def _finalized_state(record: InvoiceRecord | None) -> InvoiceState:
    if record is not None and record.state in (InvoiceState.STORED, InvoiceState.REJECTED):
        return record.state
    return InvoiceState.FINALIZED


def _same_totals(plan: InvoicePlan, invoice: ClientInvoice) -> bool:
    return (
        invoice.total_amount is not None
        and invoice.vat_amount is not None
        and invoice.total_amount.value == plan.total
        and invoice.vat_amount.value == plan.vat_total
    )
