"""The emulator's invoice documents: the draft PDF and the Factur-X PDF/A-3.

Both are rendered from the Qonto client-invoice JSON (``invoice``) and the ``GET /v2/organization``
dict (``organization``) with exact ``Decimal`` arithmetic. Every page says it was produced by the
local Qonto emulator and is not a real invoice.

- ``render_draft_pdf``: a plain PDF with a "DRAFT" watermark and no embedded XML, like the PDF
  Qonto serves before (and for ~10 s after) finalization.
- ``render_facturx_pdf``: a PDF/A-3B with an EN 16931-profile CII ``factur-x.xml`` embedded by the
  ``factur-x`` package (``/AFRelationship /Data``, Factur-X XMP extension schema).
- ``render_credit_note_pdf``: the same for a Qonto credit note (``GET /v2/credit_notes/{id}`` JSON
  plus its ``corrected_invoice``): CII type 381 with positive amounts, BT-25/BT-26 naming the invoice.
- ``render_plain_invoice_pdf`` / ``render_plain_credit_note_pdf``: the same pages as plain PDFs, no
  watermark and no embedded XML — what an organization without e-invoicing gets (Qonto's Factur-X
  guide: "E-invoicing must be enabled on your Qonto account").

Bad input raises ``InvoiceDataError`` (a ``ValueError``) naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import facturx

from billing_pipeline.emulator._documents.cii import build_cii_xml
from billing_pipeline.emulator._documents.credit_note_data import build_credit_note_document
from billing_pipeline.emulator._documents.document_model import EMULATOR_NOTICE, InvoiceDataError, InvoiceDocument
from billing_pipeline.emulator._documents.invoice_data import build_invoice_document
from billing_pipeline.emulator._documents.layout import render_invoice_pdf

__all__ = [
    "EMULATOR_NOTICE",
    "InvoiceDataError",
    "build_credit_note_xml",
    "build_facturx_xml",
    "render_credit_note_pdf",
    "render_draft_pdf",
    "render_facturx_pdf",
    "render_plain_credit_note_pdf",
    "render_plain_invoice_pdf",
]


def render_draft_pdf(invoice: Mapping[str, Any], organization: Mapping[str, Any]) -> bytes:
    """The draft invoice as a plain PDF (no embedded XML), watermarked "DRAFT"."""
    document = build_invoice_document(invoice, organization)
    return render_invoice_pdf(document, draft=True, pdfa=False)


def render_facturx_pdf(invoice: Mapping[str, Any], organization: Mapping[str, Any]) -> bytes:
    """The finalized invoice as a Factur-X (EN 16931) PDF/A-3B; ``invoice["number"]`` is required."""
    return _facturx_pdf(build_invoice_document(invoice, organization), "invoice")


def render_credit_note_pdf(credit_note: Mapping[str, Any], organization: Mapping[str, Any]) -> bytes:
    """A credit note as a Factur-X (EN 16931) PDF/A-3B, type 381, referring to the corrected invoice."""
    return _facturx_pdf(build_credit_note_document(credit_note, organization), "credit note")


def render_plain_invoice_pdf(invoice: Mapping[str, Any], organization: Mapping[str, Any]) -> bytes:
    """The finalized invoice as a plain PDF: numbered, no "DRAFT" watermark, no embedded XML."""
    return render_invoice_pdf(build_invoice_document(invoice, organization), draft=False, pdfa=False)


def render_plain_credit_note_pdf(credit_note: Mapping[str, Any], organization: Mapping[str, Any]) -> bytes:
    """A credit note as a plain PDF (no embedded XML)."""
    return render_invoice_pdf(build_credit_note_document(credit_note, organization), draft=False, pdfa=False)


def _facturx_pdf(document: InvoiceDocument, kind: str) -> bytes:
    xml = build_cii_xml(document)
    visual = render_invoice_pdf(document, draft=False, pdfa=True)
    title = f"{document.title} (emulated, not a real invoice)"
    return facturx.generate_from_binary(
        visual,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        lang="fr-FR",
        # keywords "" keeps the Info dictionary and the XMP in agreement (PDF/A)
        pdf_metadata={
            "author": document.seller.name,
            "keywords": "",
            "title": title,
            "subject": f"Factur-X {kind} {document.number} for {document.buyer.name}. {EMULATOR_NOTICE}.",
        },
    )


def build_facturx_xml(invoice: Mapping[str, Any], organization: Mapping[str, Any]) -> bytes:
    """Only the CII ``factur-x.xml`` of ``render_facturx_pdf`` (handy for tests and debugging)."""
    return build_cii_xml(build_invoice_document(invoice, organization))


def build_credit_note_xml(credit_note: Mapping[str, Any], organization: Mapping[str, Any]) -> bytes:
    """Only the CII ``factur-x.xml`` of ``render_credit_note_pdf``."""
    return build_cii_xml(build_credit_note_document(credit_note, organization))
