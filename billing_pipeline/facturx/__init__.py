"""E-invoice reading and verification (no Dagster): Factur-X / ZUGFeRD 2.x PDFs, CII and UBL XML.

- ``verify_pdf(pdf, file_name=…, rules="auto") -> VerificationReport``: the embedded invoice XML, the
  PDF/A-3 and Factur-X container, the XSD, the EN 16931 and Factur-X profile Schematrons, the French
  BR-FR Schematron where it applies (seller and buyer in France, or ``rules="france"``), our Decimal
  money checks and identifier checksums; ``report.checks`` gives the verdict of each layer.
- ``verify_xml(xml, …)``: the same for a standalone CII or UBL invoice (no PDF layer);
  ``verify_document(data, …)`` picks one from the first bytes.
- ``compare_with_expected(invoice, expected) -> list[Finding]``: what the XML says vs what we billed.
- ``warm_up()``: compile the Schematrons ahead of the first verification.
"""

from billing_pipeline.facturx.comparison import compare_with_expected
from billing_pipeline.facturx.models import (
    COMMERCIAL_INVOICE_TYPE_CODE,
    CREDIT_NOTE_TYPE_CODE,
    Checks,
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
from billing_pipeline.facturx.rules import RULES, Layer, RuleSet
from billing_pipeline.facturx.verification import verify_document, verify_pdf, verify_xml, warm_up

__all__ = [
    "COMMERCIAL_INVOICE_TYPE_CODE",
    "CREDIT_NOTE_TYPE_CODE",
    "RULES",
    "Checks",
    "DocumentAllowanceCharge",
    "ExpectedInvoice",
    "ExpectedLine",
    "FacturXInvoice",
    "Finding",
    "InvoiceLine",
    "Layer",
    "RuleSet",
    "Totals",
    "VatBreakdownEntry",
    "VerificationReport",
    "compare_with_expected",
    "verify_document",
    "verify_pdf",
    "verify_xml",
    "warm_up",
]
