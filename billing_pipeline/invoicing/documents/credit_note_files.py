"""Download, verify and store the Factur-X file of every credit note issued for a period.

A credit note is checked like an invoice (XSD, EN 16931, BR-FR, PDF/A-3, our money rules) plus what
makes it a correction: type code 381 and the number of the invoice it corrects (BT-25). Its amounts
are compared with Qonto's (the XML carries them positive, as EN 16931 wants for a 381).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.facturx import ExpectedInvoice, RuleSet, compare_with_expected, verify_pdf
from billing_pipeline.invoicing.documents.storage import safe_file_name, store_atomically
from billing_pipeline.invoicing.fan_out import gather_customers
from billing_pipeline.invoicing.ledger import CorrectionRecord, CorrectionState, Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.readiness import credit_note_facturx_is_ready

CREDIT_NOTE_TYPE_CODE = "381"


async def collect_credit_notes(
    qonto: QontoClient, ledger: Ledger, invoices_dir: Path, period: BillingPeriod
) -> list[dict[str, object]]:
    """One outcome per credit note of the period: stored, pending, rejected or failed (never raises)."""
    records = ledger.corrections(period.key, {CorrectionState.ISSUED, CorrectionState.STORED, CorrectionState.REJECTED})
    results = await gather_customers(qonto, (_one(qonto, ledger, invoices_dir, r) for r in records))
    outcomes = []
    for record, result in zip(records, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            result = _outcome(record, "failed", problems=[f"{type(result).__name__}: {result}"])
        outcomes.append(result)
    return outcomes


def _outcome(record: CorrectionRecord, status: str, **extra: object) -> dict[str, object]:
    return {
        "customer_id": record.customer_id,
        "reference": record.reference,
        "number": record.number,
        "corrects": record.corrects_number,
        "status": status,
        "file": record.file_path,
        "sha256": record.sha256,
        "problems": [],
        **extra,
    }


async def _one(qonto: QontoClient, ledger: Ledger, invoices_dir: Path, record: CorrectionRecord) -> dict[str, object]:
    assert record.qonto_id is not None
    stored = record.file_path is not None and Path(record.file_path).exists()  # noqa: ASYNC240
    if record.state == CorrectionState.STORED and stored:
        return _outcome(record, "stored")
    note = await qonto.get_credit_note(record.qonto_id)
    if note.attachment_id is None:
        return _outcome(record, "pending")
    attachment = await qonto.get_attachment(note.attachment_id)
    ready = credit_note_facturx_is_ready(note, attachment)
    if ready is False:
        return _outcome(record, "pending")
    content = await qonto.download_attachment(attachment)
    name = safe_file_name(note.number or note.id)
    # ours, like the invoices: the French CIUS whatever the buyer's country
    report = await asyncio.to_thread(verify_pdf, content, file_name=name, rules=RuleSet.FRANCE)
    if ready is None and report.invoice is None:
        return _outcome(record, "pending")
    problems = [f"{f.rule}: {f.message}" for f in report.errors]
    if report.invoice is not None and note.total_amount is not None and note.vat_amount is not None:
        total, vat = abs(note.total_amount.value), abs(note.vat_amount.value)
        expected = ExpectedInvoice(
            number=note.number,
            currency=note.currency or "EUR",
            net_total=total - vat,
            vat_total=vat,
            total=total,
            type_code=CREDIT_NOTE_TYPE_CODE,
            preceding_invoice_number=record.corrects_number,
        )
        problems += [f"{f.rule}: {f.message}" for f in compare_with_expected(report.invoice, expected)]
    if problems or not report.valid:
        ledger.record_correction_rejected(record.reference, problems="; ".join(problems))
        return _outcome(record, "rejected", problems=problems)
    path, sha256 = store_atomically(invoices_dir / record.period, name, content)
    ledger.record_correction_stored(record.reference, file_path=str(path), sha256=sha256)
    return _outcome(record, "stored", file=str(path), sha256=sha256)
