"""Download, verify and store the Factur-X file of every finalized invoice of a period.

An invoice's file is downloaded only once Qonto has re-rendered it after finalization
(``attachment.updated_at > finalized_at``); before that the attachment is still the draft PDF.
The file must embed a valid ``factur-x.xml`` whose number and totals equal what we planned and what
Qonto holds; otherwise it is not stored and the reason is kept in the ledger.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.facturx import ExpectedInvoice, ExpectedLine, RuleSet, compare_with_expected, verify_pdf
from billing_pipeline.invoicing.documents.credit_note_files import collect_credit_notes
from billing_pipeline.invoicing.documents.storage import safe_file_name, store_atomically
from billing_pipeline.invoicing.fan_out import gather_customers
from billing_pipeline.invoicing.invoices.listed import listed_invoices
from billing_pipeline.invoicing.ledger import InvoiceRecord, InvoiceState, Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.models import Attachment, ClientInvoice

FileStatus = Literal["stored", "pending", "rejected", "failed"]
# a file still not ready this long after finalization (or our last look) is re-read from Qonto
STALE_AFTER_S = 900


class FacturxFileOutcome(BaseModel):
    customer_id: str
    invoice_id: str
    number: str | None
    status: FileStatus
    file: str | None = None
    sha256: str | None = None
    problems: list[str] = []
    xml_total: Decimal | None = None


class FacturxReport(BaseModel):
    period: str
    outcomes: list[FacturxFileOutcome]
    # credit notes issued as corrections (see credit_note_files.py): one dict per document
    corrections: list[dict[str, object]] = []

    def by_status(self, status: FileStatus) -> list[FacturxFileOutcome]:
        return [o for o in self.outcomes if o.status == status]


def attachment_ready(attachment: Attachment | None, finalized_at: datetime | None) -> bool | None:
    """True/False when Qonto's timestamps decide; None when they cannot (then the XML decides)."""
    if attachment is None:
        return False
    if attachment.updated_at is None or finalized_at is None:
        return None
    return attachment.updated_at > finalized_at


class FacturxCollector:
    def __init__(self, qonto: QontoClient, ledger: Ledger, invoices_dir: Path) -> None:
        self.qonto = qonto
        self.ledger = ledger
        self.invoices_dir = invoices_dir

    async def collect(self, period: BillingPeriod) -> FacturxReport:
        records = self.ledger.invoices(period.key, {InvoiceState.FINALIZED, InvoiceState.STORED, InvoiceState.REJECTED})
        # the invoices to re-read (attachment not known yet, or waiting for long): one listing when cheaper
        listed = await listed_invoices(
            self.qonto,
            {
                r.invoice_id: r.finalized_at
                for r in records
                if r.state != InvoiceState.STORED and r.invoice_id and r.finalized_at and _to_reread(r)
            },
        )
        # one invoice that cannot be collected (a network error, a file conflict) never stops the others
        results = await gather_customers(
            self.qonto, (self.collect_one(r, listed.get(r.invoice_id or "")) for r in records)
        )
        outcomes = [
            result if isinstance(result, FacturxFileOutcome) else failed_outcome(record, result)
            for record, result in zip(records, results, strict=True)
        ]
        corrections = await collect_credit_notes(self.qonto, self.ledger, self.invoices_dir, period)
        return FacturxReport(
            period=period.key, outcomes=sorted(outcomes, key=lambda o: o.customer_id), corrections=corrections
        )

    async def collect_one(self, record: InvoiceRecord, listed: ClientInvoice | None = None) -> FacturxFileOutcome:
        """This invoice's file, if Qonto has rendered it: stored (verified), rejected, or still pending.
        ``listed``: the invoice as a listing of this pass showed it (spares its re-read)."""
        assert record.invoice_id is not None
        reference = record.invoice_reference
        # a stat of a local file: not worth a thread hop
        stored = record.file_path is not None and Path(record.file_path).exists()  # noqa: ASYNC240
        if record.state == InvoiceState.STORED and stored:
            return FacturxFileOutcome(
                customer_id=record.customer_id,
                invoice_id=record.invoice_id,
                number=record.number,
                status="stored",
                file=record.file_path,
                sha256=record.sha256,
            )
        attachment_id, finalized_at, number = record.attachment_id, record.finalized_at, record.number
        if _to_reread(record):
            # unknown facts, or waiting for long: re-read the invoice (its attachment may have changed)
            invoice = listed or await self.qonto.get_client_invoice(record.invoice_id)
            attachment_id, finalized_at, number = invoice.attachment_id, invoice.finalized_at, invoice.number
            self.ledger.record_attachment(
                reference, attachment_id=attachment_id, finalized_at=finalized_at, number=number
            )
        pending = FacturxFileOutcome(
            customer_id=record.customer_id, invoice_id=record.invoice_id, number=number, status="pending"
        )
        if attachment_id is None:
            return pending
        attachment = await self.qonto.get_attachment(attachment_id)
        ready = attachment_ready(attachment, finalized_at)
        if ready is False:
            return pending
        content = await self.qonto.download_attachment(attachment)
        # verification is CPU work (Saxon, pikepdf): off the event loop, so downloads keep flowing
        # our own invoices: a French seller under the French CIUS whatever the buyer's country (as strict as
        # before the layered verdict, whose "auto" applies BR-FR only between two French parties)
        report = await asyncio.to_thread(
            verify_pdf, content, file_name=safe_file_name(number or record.invoice_id), rules=RuleSet.FRANCE
        )
        if ready is None and report.invoice is None:
            return pending  # no timestamps and still no XML: the draft PDF, not yet re-rendered
        problems = [f"{f.rule}: {f.message}" for f in report.errors]
        xml_total = report.totals.total if report.totals else None
        if report.invoice is not None:
            problems += [
                f"{f.rule}: {f.message}" for f in compare_with_expected(report.invoice, _expected(record, number))
            ]
        if problems or not report.valid:
            self.ledger.record_rejected(reference, problems="; ".join(problems))
            return pending.model_copy(update={"status": "rejected", "problems": problems, "xml_total": xml_total})
        path, sha256 = store_atomically(
            self.invoices_dir / record.period, safe_file_name(number or record.invoice_id), content
        )
        self.ledger.record_stored(reference, file_path=str(path), sha256=sha256)
        return pending.model_copy(
            update={"status": "stored", "file": str(path), "sha256": sha256, "xml_total": xml_total}
        )


def _to_reread(record: InvoiceRecord) -> bool:
    """Unknown facts, or waiting for long: the invoice is re-read before its attachment is looked at."""
    facts = (record.attachment_id, record.finalized_at, record.number)
    return any(fact is None for fact in facts) or _pending_for_long(record)


def _pending_for_long(record: InvoiceRecord) -> bool:
    if record.finalized_at is None:
        return False
    last_look = max(filter(None, (record.checked_at, record.finalized_at)))
    return (datetime.now(UTC) - last_look).total_seconds() > STALE_AFTER_S


def _expected(record: InvoiceRecord, number: str | None) -> ExpectedInvoice:
    """What we finalized: number, totals, lines and buyer, as the ledger recorded them."""
    period = record.billing_period
    lines = record.expected()
    return ExpectedInvoice(
        number=number,
        currency=record.currency,
        net_total=record.net_total.amount if record.net_total else Decimal("0"),
        vat_total=record.vat_total.amount if record.vat_total else Decimal("0"),
        total=record.total.amount if record.total else Decimal("0"),
        lines=None
        if lines is None
        else [
            ExpectedLine(
                title=line.title,
                quantity=line.quantity,
                unit_price=line.unit_price,
                vat_rate=line.vat_rate,
                net_amount=line.net_amount,
                discount=line.discount,
            )
            for line in lines
        ],
        period_start=period.first_day,
        period_end=period.last_day,
        buyer_siren=record.buyer_siren,
        mentions=record.mentions(),
    )


def failed_outcome(record: InvoiceRecord, error: BaseException) -> FacturxFileOutcome:
    if not isinstance(error, Exception):
        raise error
    return FacturxFileOutcome(
        customer_id=record.customer_id,
        invoice_id=record.invoice_id or "",
        number=record.number,
        status="failed",
        problems=[f"{type(error).__name__}: {error}"],
    )
