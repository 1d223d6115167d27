"""Finalize the period's drafts — only what the current plan says, never a draft nobody reviewed.

Right before finalizing, the drafts are re-read from Qonto (one listing of the period, O(pages)) and
each one is compared with the *current* plan (client, reference, lines, totals):
- equal: finalized;
- equal to what we last wrote but not to the plan: the usage changed since the draft was written —
  the draft is synced first (PATCH), then finalized at the new amount;
- different from what we wrote: a person edited it in Qonto — refused, with a failure naming the
  customer and every difference. Nothing is finalized at an amount the plan does not have.

Finalize is naturally idempotent on Qonto's side (a finalized invoice cannot be finalized again), so
an ambiguous failure is resolved by reading the invoice back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import BaseModel

from billing_pipeline.billing.models import InvoicePlan, PeriodPlan
from billing_pipeline.invoicing.drafts.service import DraftSynchronizer
from billing_pipeline.invoicing.errors import (
    DraftDeletedInQonto,
    DraftEditedInQonto,
    InvoicingError,
    successes_or_raise,
)
from billing_pipeline.invoicing.invoices import content
from billing_pipeline.invoicing.invoices.qonto_index import PeriodIndex, index_period
from billing_pipeline.invoicing.ledger import FINAL_STATES, InvoiceRecord, InvoiceState, Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.errors import (
    QontoAmbiguousWriteError,
    QontoAuthError,
    QontoNotFoundError,
    QontoValidationError,
)
from billing_pipeline.qonto.models import ClientInvoice


class FinalizedInvoice(BaseModel):
    customer_id: str
    invoice_id: str
    number: str | None
    status: str
    total: str | None
    finalized_now: bool
    invoice_url: str | None = None


class FinalizeReport(BaseModel):
    period: str
    invoices: list[FinalizedInvoice]
    synced_first: list[str] = []  # customers whose draft followed changed usage before finalizing
    not_billed: list[str] = []  # customers whose invoice a person canceled


class IncompleteDrafts(InvoicingError):
    """Some planned customers have no draft yet (a create is unresolved, or drafts were never synced)."""


class FinalizeRefused(InvoicingError):
    """Qonto refused to finalize (e.g. with API-key auth): nothing was finalized by this call."""


def _current(index: PeriodIndex, record: InvoiceRecord, client_id: str) -> ClientInvoice | None:
    for invoice in index.all(record.invoice_reference, client_id):
        if invoice.id == record.invoice_id:
            return invoice
    return None


class _Review(BaseModel):
    ready: list[tuple[InvoiceRecord, ClientInvoice]] = []
    usage_changed: list[str] = []
    edited: list[DraftEditedInQonto] = []
    unplanned_drafts: list[str] = []
    model_config = {"arbitrary_types_allowed": True}


async def _review(
    qonto: QontoClient,
    index: PeriodIndex,
    records: dict[str, InvoiceRecord],
    plans: dict[str, InvoicePlan],
    client_ids: dict[str, str],
) -> _Review:
    review = _Review()
    for customer_id, record in sorted(records.items()):
        if record.state != InvoiceState.DRAFT or record.invoice_id is None:
            continue
        plan = plans.get(customer_id)
        if plan is None:
            review.unplanned_drafts.append(customer_id)
            continue
        client_id = client_ids[customer_id]
        invoice = _current(index, record, client_id) or await qonto.get_client_invoice(record.invoice_id)
        reference = record.invoice_reference
        have = content.from_qonto(invoice)
        vs_plan = content.differences(
            content.from_plan(plan, client_id, reference), have, want_label="plan", have_label="Qonto"
        )
        if invoice.status != "draft" or not vs_plan:
            review.ready.append((record, invoice))
            continue
        written = content.from_record(record)
        edits = (
            content.differences(written, have, want_label="we wrote", have_label="Qonto has")
            if written is not None
            else ["the ledger does not know what was written (older row)"]
        )
        if not edits:
            review.usage_changed.append(customer_id)
            continue
        review.edited.append(
            DraftEditedInQonto(
                f"draft {invoice.id} ({reference}) was edited in Qonto and is not finalized: " + "; ".join(vs_plan),
                customer_id=customer_id,
                action="re-materialize draft_invoices to restore it to the plan (the edit is undone), "
                "or change the billing input; then finalize again",
            )
        )
    return review


# finalize calls in flight at once: few enough that the reads of a follower (collecting the first
# files) interleave with them in the client's queue instead of waiting behind the whole period
FINALIZE_IN_FLIGHT = 8

OnFinalized = Callable[[str, str], None]  # (customer_id, period), once the ledger records it


async def _finalize_one(
    qonto: QontoClient,
    ledger: Ledger,
    record: InvoiceRecord,
    draft: ClientInvoice,
    on_finalized: OnFinalized | None = None,
) -> FinalizedInvoice:
    assert record.invoice_id is not None
    finalized_now = draft.status == "draft"
    invoice = draft
    if finalized_now:
        try:
            invoice = await qonto.finalize_client_invoice(record.invoice_id)
        except (QontoAmbiguousWriteError, QontoValidationError):
            invoice = await qonto.get_client_invoice(record.invoice_id)
            if invoice.status == "draft":
                # not finalized: either Qonto rejected the draft (the error names the field) or the call
                # never took effect (a retry of the step finalizes it)
                raise
            finalized_now = False
        except QontoNotFoundError:
            raise DraftDeletedInQonto(
                f"draft {record.invoice_id} ({record.invoice_reference}) is no longer in Qonto: deleted by a person?",
                customer_id=record.customer_id,
                action="re-materialize draft_invoices: the customer's invoice is drafted again, then finalize",
            ) from None
        except QontoAuthError as error:
            raise FinalizeRefused(
                f"Qonto refused to finalize invoice {record.invoice_id} ({error.code or error.status})",
                customer_id=record.customer_id,
                action="finalizing may require OAuth: set QONTO_OAUTH_CLIENT_ID, QONTO_OAUTH_CLIENT_SECRET and "
                "QONTO_OAUTH_REFRESH_TOKEN instead of QONTO_API_KEY",
            ) from None
    if invoice.status == "canceled":
        ledger.record_canceled(
            record.invoice_reference, invoice_id=invoice.id, number=invoice.number, reason="canceled in Qonto"
        )
    else:
        ledger.record_finalized(
            record.invoice_reference,
            invoice_id=invoice.id,
            client_id=invoice.client_id,
            number=invoice.number,
            finalized_at=invoice.finalized_at,
            attachment_id=invoice.attachment_id,
        )
        if on_finalized is not None:
            on_finalized(record.customer_id, record.period)
    return FinalizedInvoice(
        customer_id=record.customer_id,
        invoice_id=invoice.id,
        number=invoice.number,
        status=invoice.status,
        total=str(invoice.total_amount.value) if invoice.total_amount else None,
        finalized_now=finalized_now,
        invoice_url=invoice.invoice_url,
    )


async def finalize_period(
    synchronizer: DraftSynchronizer, plan: PeriodPlan, on_finalized: OnFinalized | None = None
) -> FinalizeReport:
    """Finalize every planned draft of ``plan``'s period that equals the plan (see the module doc).

    ``on_finalized`` hears of each invoice as soon as it is finalized (and recorded), e.g. to collect
    its Factur-X while the others are still being finalized (``render_follower``)."""
    qonto, ledger = synchronizer.qonto, synchronizer.ledger
    period = plan.period
    plans = {p.customer.customer_id: p for p in plan.invoices}
    with ledger.period_lock(period.key), synchronizer.forgetting_on_failure(period):
        links = ledger.client_links()
        client_ids = {c: links[c].client_id for c in plans if c in links and links[c].client_id}
        no_client = sorted(plans.keys() - client_ids.keys())
        if no_client:
            raise IncompleteDrafts(
                f"period {period.key}: customers {no_client} have no Qonto client yet",
                action="materialize qonto_clients and draft_invoices first",
            )
        records = {r.customer_id: r for r in ledger.invoices(period.key)}

        async def listing() -> PeriodIndex:
            return await index_period(qonto, period, synchronizer.timezone, shared=synchronizer.shared_listing)

        review = await _review(qonto, await listing(), records, plans, client_ids)
        never_drafted = [
            c for c in plans if c not in records or records[c].state in (InvoiceState.CREATING, InvoiceState.ABANDONED)
        ]
        synced_first = sorted(set(review.usage_changed) | set(never_drafted))
        if synced_first or review.unplanned_drafts:
            edited = {e.customer_id for e in review.edited if e.customer_id}
            await synchronizer.sync_locked(plan, client_ids, leave_alone=edited)
            records = {r.customer_id: r for r in ledger.invoices(period.key)}
            review = await _review(qonto, await listing(), records, plans, client_ids)
        unresolved = sorted(c for c in plans if records.get(c) is None or records[c].state == InvoiceState.CREATING)
        problems: list[BaseException] = list(review.edited)
        if unresolved:
            problems.append(
                IncompleteDrafts(
                    f"period {period.key}: the invoices of customers {unresolved} are not drafts yet",
                    action="re-materialize draft_invoices first (an unresolved create is looked for again)",
                )
            )
        problems += [
            InvoicingError("draft still differs from the plan after syncing it", customer_id=c)
            for c in review.usage_changed
        ]
        in_flight = asyncio.Semaphore(FINALIZE_IN_FLIGHT)

        async def finalize(record: InvoiceRecord, invoice: ClientInvoice) -> FinalizedInvoice:
            async with in_flight:
                return await _finalize_one(qonto, ledger, record, invoice, on_finalized)

        results = await asyncio.gather(
            *(finalize(record, invoice) for record, invoice in review.ready), return_exceptions=True
        )
        finalized = successes_or_raise(f"finalizing {period.key}", [*results, *problems])
        done = {f.customer_id for f in finalized}
        already = [
            FinalizedInvoice(
                customer_id=r.customer_id,
                invoice_id=r.invoice_id or "",
                number=r.number,
                status=r.state.value,
                total=str(r.total.amount) if r.total else None,
                finalized_now=False,
            )
            for r in ledger.invoices(period.key)
            if r.state in FINAL_STATES and r.customer_id not in done
        ]
        not_billed = sorted(r.customer_id for r in ledger.invoices(period.key, {InvoiceState.CANCELED}))
    return FinalizeReport(
        period=period.key,
        invoices=sorted(finalized + already, key=lambda i: i.customer_id),
        synced_first=synced_first,
        not_billed=not_billed,
    )
