"""One draft invoice per (customer, period) in Qonto that follows the priced plan until finalized.

Order of operations for each planned invoice (the period lock is held throughout):
1. Look the reference up in Qonto (one listing of the invoices created since the period began),
   keeping only invoices billed to the customer's linked client: an invoice of another client is
   never adopted, updated or deleted, whatever its header says.
2. Found: adopt it in the ledger; a draft whose content differs from the plan is updated (PATCH);
   a finalized invoice is never touched — a difference is reported as late usage; an invoice a
   person canceled is recorded as canceled (the customer is *not billed*) and re-issued only when
   ``BILLING_REISSUE_CANCELED`` says so.
3. Not found: commit an intent row, then create. If the response is lost, list again and adopt.
Drafts and unresolved intents of customers that no longer have anything to bill are deleted or
abandoned, so that they never block the period's finalization.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import date

from billing_pipeline.billing.mentions import LegalMentions
from billing_pipeline.billing.models import InvoicePlan, PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.invoicing.corrections.service import credited_invoice_ids, resolve_open_credit_notes
from billing_pipeline.invoicing.drafts.outcomes import (
    DraftAction,
    DraftOutcome,
    DraftReport,
    outcome,
)
from billing_pipeline.invoicing.errors import (
    InvoiceMissingInQonto,
    InvoicingError,
    UnresolvedCreate,
    successes_or_raise,
)
from billing_pipeline.invoicing.fan_out import gather_customers
from billing_pipeline.invoicing.in_flight import IN_FLIGHT_GRACE_S, wait_out_creates_in_flight
from billing_pipeline.invoicing.invoices import content
from billing_pipeline.invoicing.invoices.qonto_index import PeriodIndex, index_period
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import FINAL_STATES, InvoiceRecord, InvoiceState, Ledger
from billing_pipeline.invoicing.payloads import invoice_create, invoice_update
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.errors import QontoAmbiguousWriteError, QontoNotFoundError
from billing_pipeline.qonto.models import ClientInvoice


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
        reissue_canceled: bool = False,
        mentions: LegalMentions | None = None,
        run_key: str | None = None,
    ) -> None:
        self.qonto = qonto
        self.ledger = ledger
        self.iban = iban
        self.issue_date = issue_date
        self.timezone = timezone
        self.in_flight_grace_s = in_flight_grace_s
        self.reissue_canceled = reissue_canceled
        self.mentions = mentions
        # the period's listing shared by the steps of run ``run_key`` (``shared_listing``)
        self.shared_listing = ledger.shared_listing(run_key, in_flight_grace_s=in_flight_grace_s)

    async def sync(self, plan: PeriodPlan, client_ids: dict[str, str]) -> DraftReport:
        period = plan.period
        with self.ledger.period_lock(period.key), self.forgetting_on_failure(period):
            return await self.sync_locked(plan, client_ids)

    @contextmanager
    def forgetting_on_failure(self, period: BillingPeriod) -> Iterator[None]:
        """A step that fails drops the run's shared listing: its retry lists the period whole (it may
        have failed on a draft a person deleted, which a listing of changes does not show)."""
        try:
            yield
        except BaseException:
            if self.shared_listing is not None:
                self.shared_listing.forget(period)
            raise

    async def sync_locked(
        self, plan: PeriodPlan, client_ids: dict[str, str], *, leave_alone: Collection[str] = ()
    ) -> DraftReport:
        """``sync`` for a caller that already holds the period lock (finalization re-syncing drafts).

        ``leave_alone``: planned customers whose draft must not be touched (a person edited it).
        """
        period = plan.period
        planned = {p.customer.customer_id: p for p in plan.invoices if p.customer.customer_id not in leave_alone}
        missing_clients = sorted(planned.keys() - client_ids.keys())
        if missing_clients:
            raise InvoicingError(
                f"period {period.key}: no Qonto client for customers {missing_clients}",
                action="materialize qonto_clients first",
            )
        # an invoice canceled by our own credit note whose answer was lost is a correction, not a person's act
        await resolve_open_credit_notes(self.qonto, self.ledger, period.key)
        index = await index_period(self.qonto, period, self.timezone, shared=self.shared_listing)
        if await self._wait_for_creates_in_flight(period, index, client_ids):
            index = await index_period(self.qonto, period, self.timezone, shared=self.shared_listing)
        results = await gather_customers(
            self.qonto, (self._sync_one(p, client_ids[c], index) for c, p in planned.items())
        )
        outcomes = successes_or_raise(f"draft invoices of {period.key}", results)
        outcomes += await self._clear_unplanned(period, planned.keys() | set(leave_alone), index)
        foreign = {
            str(reference): [i.id for i in index.foreign(reference, client_ids.get(reference.customer_id))]
            for reference in index.by_reference
        }
        return DraftReport(
            period=period.key,
            outcomes=sorted(outcomes, key=lambda o: o.customer_id),
            duplicates_in_qonto=index.duplicates(),
            foreign_invoices={k: v for k, v in foreign.items() if v},
            invoices_listed=index.listed,
        )

    async def _wait_for_creates_in_flight(
        self, period: BillingPeriod, index: PeriodIndex, client_ids: dict[str, str]
    ) -> bool:
        intents = [
            r.intent_at
            for r in self.ledger.invoices(period.key, {InvoiceState.CREATING})
            if r.intent_at is not None
            and not index.live(r.invoice_reference, r.client_id or client_ids.get(r.customer_id))
        ]
        return await wait_out_creates_in_flight(
            intents, self.in_flight_grace_s, f"period {period.key}: invoice", now=self.ledger.now()
        )

    async def _sync_one(self, plan: InvoicePlan, client_id: str, index: PeriodIndex) -> DraftOutcome:
        customer_id = plan.customer.customer_id
        reference = InvoiceReference.of(customer_id, plan.period)
        try:
            return await self._sync_reference(plan, reference, client_id, index)
        except InvoicingError:
            raise
        except Exception as error:
            raise InvoicingError(f"{type(error).__name__}: {error}", customer_id=customer_id) from error

    async def _sync_reference(
        self, plan: InvoicePlan, reference: InvoiceReference, client_id: str, index: PeriodIndex
    ) -> DraftOutcome:
        live = index.live(reference, client_id)
        if live:
            return await self._follow_existing(plan, reference, live[0])
        record = self.ledger.invoice(reference.customer_id, reference.period.key)
        canceled = index.canceled(reference, client_id)
        if canceled:
            return await self._canceled(plan, reference, client_id, canceled[-1], record)
        if record is not None and record.invoice_id and record.state != InvoiceState.CREATING:
            invoice = await self._read_recorded(reference, record)
            if invoice is not None:
                if invoice.client_id != client_id:
                    raise InvoicingError(
                        f"the ledger's invoice {record.invoice_id} ({reference}) is billed to Qonto client "
                        f"{invoice.client_id}, not to the customer's client {client_id}",
                        customer_id=reference.customer_id,
                        action="check which client this customer should be linked to; nothing was changed",
                    )
                if invoice.status == "canceled":
                    return await self._canceled(plan, reference, client_id, invoice, record)
                return await self._follow_existing(plan, reference, invoice)
        return await self._create(plan, reference, client_id)

    async def _read_recorded(self, reference: InvoiceReference, record: InvoiceRecord) -> ClientInvoice | None:
        """The invoice the ledger knows but the listing did not show; None when a person deleted a draft."""
        assert record.invoice_id is not None
        try:
            return await self.qonto.get_client_invoice(record.invoice_id)
        except QontoNotFoundError:
            if record.state in FINAL_STATES or record.state == InvoiceState.CANCELED:
                # a numbered invoice cannot be deleted in Qonto: a 404 means we are not looking at the
                # organization that issued it (credentials, base URL), not that it is gone
                raise InvoiceMissingInQonto(
                    f"the ledger records invoice {record.number or record.invoice_id} ({reference}) as "
                    f"{record.state.value}, but Qonto answers 404 for it",
                    customer_id=reference.customer_id,
                    action="check that the Qonto credentials and base URL are the organization that issued it; "
                    "nothing was re-created",
                ) from None
            # a draft deleted in Qonto by a person: the plan still says bill it, so a new draft follows
            self.ledger.record_abandoned(reference, reason=f"draft {record.invoice_id} was deleted in Qonto")
            return None

    async def _canceled(
        self,
        plan: InvoicePlan,
        reference: InvoiceReference,
        client_id: str,
        invoice: ClientInvoice,
        record: InvoiceRecord | None,
    ) -> DraftOutcome:
        if self.reissue_canceled or invoice.id in credited_invoice_ids(self.ledger, reference.period.key):
            # re-issued on the explicit setting, or because we credited it ourselves (a correction)
            if record is None or record.state != InvoiceState.CANCELED:
                self.ledger.record_canceled(
                    reference, invoice_id=invoice.id, number=invoice.number, reason="canceled in Qonto"
                )
            return await self._create(plan, reference, client_id, reissue=True)
        reason = (
            f"invoice {invoice.number or invoice.id} was canceled in Qonto: customer {reference.customer_id} is not "
            f"billed for {reference.period.key}"
        )
        self.ledger.record_canceled(reference, invoice_id=invoice.id, number=invoice.number, reason=reason)
        return outcome(
            reference,
            plan,
            invoice,
            "canceled",
            note=reason + " (set BILLING_REISSUE_CANCELED=true to issue a new invoice, or bill them by hand)",
        )

    async def _follow_existing(
        self, plan: InvoicePlan, reference: InvoiceReference, invoice: ClientInvoice
    ) -> DraftOutcome:
        planned = content.planned_content(plan, self.mentions)
        record = self.ledger.invoice(reference.customer_id, reference.period.key)
        if invoice.status != "draft":
            known_digest = record.content_digest if record else None
            self.ledger.record_finalized(
                reference,
                invoice_id=invoice.id,
                client_id=invoice.client_id,
                number=invoice.number,
                finalized_at=invoice.finalized_at,
                attachment_id=invoice.attachment_id,
                content=None if known_digest else planned,
            )
            late = known_digest is not None and known_digest != planned.digest
            return outcome(reference, plan, invoice, "locked", late=late)
        assert invoice.client_id is not None
        action: DraftAction = "adopted" if record is None or record.invoice_id != invoice.id else "unchanged"
        want = content.from_plan(plan, invoice.client_id, reference)
        if (
            record is None
            or record.content_digest != planned.digest
            or content.differences(want, content.from_qonto(invoice), want_label="plan", have_label="Qonto")
            or content.mentions_differ(planned.mentions, invoice)
        ):
            invoice = await self.qonto.update_client_invoice(
                invoice.id,
                invoice_update(
                    plan, iban=self.iban, issue_date=self.issue_date, reference=reference, mentions=self.mentions
                ),
            )
            action = "updated"
        self.ledger.record_draft(reference, invoice_id=invoice.id, client_id=invoice.client_id, content=planned)
        return outcome(reference, plan, invoice, action)

    async def _create(
        self, plan: InvoicePlan, reference: InvoiceReference, client_id: str, *, reissue: bool = False
    ) -> DraftOutcome:
        self.ledger.record_invoice_intent(reference, client_id, reissue=reissue)
        payload = invoice_create(
            plan,
            client_id=client_id,
            iban=self.iban,
            issue_date=self.issue_date,
            reference=reference,
            mentions=self.mentions,
        )
        try:
            invoice = await self.qonto.create_client_invoice(payload)
        except QontoAmbiguousWriteError as error:
            relisted = await index_period(self.qonto, reference.period, self.timezone)
            live = relisted.live(reference, client_id)
            if not live:
                raise UnresolvedCreate(
                    f"creating the invoice {reference} had an unknown outcome ({error}) and it is not visible in "
                    "Qonto yet",
                    customer_id=reference.customer_id,
                    action="the ledger keeps the intent: re-run the step and it will look for it again",
                ) from None
            invoice = live[0]
        planned = content.planned_content(plan, self.mentions)
        if invoice.status == "draft":
            self.ledger.record_draft(reference, invoice_id=invoice.id, client_id=client_id, content=planned)
        else:
            self.ledger.record_finalized(
                reference,
                invoice_id=invoice.id,
                client_id=client_id,
                number=invoice.number,
                finalized_at=invoice.finalized_at,
                attachment_id=invoice.attachment_id,
                content=planned,
            )
        return outcome(reference, plan, invoice, "created", note="re-issued after a cancellation" if reissue else None)

    async def _clear_unplanned(
        self, period: BillingPeriod, planned: Collection[str], index: PeriodIndex
    ) -> list[DraftOutcome]:
        """Customers with nothing to bill any more: delete their drafts, abandon their open intents."""
        links = self.ledger.client_links()
        outcomes: list[DraftOutcome] = []
        for reference in sorted(index.by_reference):
            if reference.customer_id in planned:
                continue
            link = links.get(reference.customer_id)
            client_id = link.client_id if link else None
            for invoice in index.live(reference, client_id):
                if invoice.status == "draft":
                    await self._delete_draft(invoice.id)
                    self._abandon_if_open(reference, f"draft {invoice.id} deleted: nothing left to bill")
                    outcomes.append(outcome(reference, None, invoice, "deleted"))
                else:
                    # finalized, so immutable: a correction is the way out, never a deletion
                    self.ledger.record_finalized(
                        reference,
                        invoice_id=invoice.id,
                        client_id=invoice.client_id,
                        number=invoice.number,
                        finalized_at=invoice.finalized_at,
                        attachment_id=invoice.attachment_id,
                    )
                    outcomes.append(outcome(reference, None, invoice, "locked", late=True))
        for record in self.ledger.invoices(period.key, {InvoiceState.CREATING, InvoiceState.DRAFT}):
            if record.customer_id in planned:
                continue
            if (
                record.state == InvoiceState.DRAFT
                and record.invoice_id
                and not await self._delete_recorded_draft(record)
            ):
                continue
            reason = "nothing left to bill for this period"
            if record.state == InvoiceState.CREATING:
                reason += " (the unresolved create was waited out and is not in Qonto)"
            self.ledger.record_abandoned(record.invoice_reference, reason=reason)
            outcomes.append(outcome(record.invoice_reference, None, None, "abandoned", note=reason))
        return outcomes

    def _abandon_if_open(self, reference: InvoiceReference, reason: str) -> None:
        record = self.ledger.invoice(reference.customer_id, reference.period.key)
        if record is not None and record.state in (InvoiceState.CREATING, InvoiceState.DRAFT):
            self.ledger.record_abandoned(reference, reason=reason)

    async def _delete_draft(self, invoice_id: str) -> None:
        try:
            await self.qonto.delete_client_invoice(invoice_id)
        except QontoNotFoundError:
            pass

    async def _delete_recorded_draft(self, record: InvoiceRecord) -> bool:
        """Delete the ledger's draft of an unplanned customer; False when it turned out numbered."""
        assert record.invoice_id is not None
        try:
            invoice = await self.qonto.get_client_invoice(record.invoice_id)
        except QontoNotFoundError:
            return True
        if invoice.client_id != record.client_id:
            return True  # not ours (any more): nothing of ours to delete
        if invoice.status == "draft":
            await self._delete_draft(invoice.id)
            return True
        self.ledger.record_finalized(
            record.invoice_reference,
            invoice_id=invoice.id,
            client_id=invoice.client_id,
            number=invoice.number,
            finalized_at=invoice.finalized_at,
            attachment_id=invoice.attachment_id,
        )
        return False
