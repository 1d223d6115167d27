"""Finalize the period's drafts: Qonto numbers them, locks them and starts rendering Factur-X.

Finalize is naturally idempotent on Qonto's side (a finalized invoice cannot be finalized again), so
an ambiguous failure is resolved by reading the invoice back: if it is no longer a draft, the
finalize happened.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from billing_pipeline.invoicing.ledger import InvoiceRecord, InvoiceState, Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.errors import (
    QontoAmbiguousWriteError,
    QontoAuthError,
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


class IncompleteDrafts(RuntimeError):
    """Some invoices of the period are not drafts yet (a create is unresolved)."""


class FinalizeRefused(RuntimeError):
    """Qonto refused to finalize (e.g. with API-key auth): nothing was finalized by this call."""


async def _finalize_one(qonto: QontoClient, ledger: Ledger, record: InvoiceRecord) -> FinalizedInvoice:
    assert record.invoice_id is not None
    finalized_now = True
    try:
        invoice = await qonto.finalize_client_invoice(record.invoice_id)
    except (QontoAmbiguousWriteError, QontoValidationError):
        invoice = await qonto.get_client_invoice(record.invoice_id)
        if invoice.status == "draft":
            # not finalized: either Qonto rejected the draft (the error names the field) or the call
            # never took effect (a retry of the step finalizes it)
            raise
        finalized_now = False
    except QontoAuthError as error:
        raise FinalizeRefused(
            f"Qonto refused to finalize invoice {record.invoice_id} ({error.code or error.status}). "
            "Finalizing may require OAuth: set QONTO_OAUTH_CLIENT_ID, QONTO_OAUTH_CLIENT_SECRET and "
            "QONTO_OAUTH_REFRESH_TOKEN instead of QONTO_API_KEY."
        ) from None
    _record_finalized(ledger, record, invoice)
    return FinalizedInvoice(
        customer_id=record.customer_id,
        invoice_id=invoice.id,
        number=invoice.number,
        status=invoice.status,
        total=str(invoice.total_amount.value) if invoice.total_amount else None,
        finalized_now=finalized_now,
        invoice_url=invoice.invoice_url,
    )


def _record_finalized(ledger: Ledger, record: InvoiceRecord, invoice: ClientInvoice) -> None:
    state = record.state if record.state in (InvoiceState.STORED, InvoiceState.REJECTED) else InvoiceState.FINALIZED
    ledger.update_invoice(
        record.customer_id,
        record.period,
        state=state,
        number=invoice.number,
        finalized_at=invoice.finalized_at,
        attachment_id=invoice.attachment_id,
    )


async def finalize_period(qonto: QontoClient, ledger: Ledger, period: str) -> FinalizeReport:
    with ledger.period_lock(period):
        records = ledger.invoices(period)
        unresolved = [
            r.customer_id
            for r in records
            if r.state == InvoiceState.CREATING and r.invoice_id is None and r.last_error is None
        ]
        if unresolved:
            raise IncompleteDrafts(
                f"period {period}: invoices of customers {unresolved} are not drafts yet; "
                "re-materialize draft_invoices first"
            )
        drafts = [r for r in records if r.state == InvoiceState.DRAFT]
        results = await asyncio.gather(*(_finalize_one(qonto, ledger, r) for r in drafts), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        finalized = [r for r in results if isinstance(r, FinalizedInvoice)]
        already = [
            FinalizedInvoice(
                customer_id=r.customer_id,
                invoice_id=r.invoice_id or "",
                number=r.number,
                status=r.state.value,
                total=r.total,
                finalized_now=False,
            )
            for r in records
            if r.state in (InvoiceState.FINALIZED, InvoiceState.STORED, InvoiceState.REJECTED)
        ]
    return FinalizeReport(period=period, invoices=sorted(finalized + already, key=lambda i: i.customer_id))
