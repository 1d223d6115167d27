"""Factur-X reading and verification (no Dagster).

- ``verify_pdf(pdf, file_name=…) -> VerificationReport``: extraction of ``factur-x.xml``, XSD, the
  Factur-X EN16931 (or other profile) and French BR-FR Schematrons through saxonche, PDF/A-3 and
  Factur-X container checks, our Decimal money checks and identifier checksums.
- ``compare_with_expected(invoice, expected) -> list[Finding]``: what the XML says vs what we billed.
- ``warm_up()``: compile the Schematrons ahead of the first verification.
"""

from billing_pipeline.facturx.comparison import compare_with_expected
from billing_pipeline.facturx.models import (
    COMMERCIAL_INVOICE_TYPE_CODE,
    CREDIT_NOTE_TYPE_CODE,
    DocumentAllowanceCharge,
    ExpectedInvoice,
    ExpectedLine,
    FacturXInvoice,
    Finding,
    InvoiceLine,
    Totals,
    VatBreakdownEntry,
    VerificationReport,
)
from billing_pipeline.facturx.rules import RULES
from billing_pipeline.facturx.verification import verify_pdf, warm_up

__all__ = [
    "COMMERCIAL_INVOICE_TYPE_CODE",
    "CREDIT_NOTE_TYPE_CODE",
    "RULES",
    "DocumentAllowanceCharge",
    "ExpectedInvoice",
    "ExpectedLine",
    "FacturXInvoice",
    "Finding",
    "InvoiceLine",
    "Totals",
    "VatBreakdownEntry",
    "VerificationReport",
    "compare_with_expected",
    "verify_pdf",
    "warm_up",
]
