"""``verify_pdf``: every check on one Factur-X file, gathered into a ``VerificationReport``."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pikepdf
from lxml import etree

from billing_pipeline.facturx.container import (
    EmbeddedFile,
    check_attachment,
    check_pdfa_basics,
    embedded_files,
    open_pdf,
    select_facturx_xml,
)
from billing_pipeline.facturx.engines import SCHEMATRON, XSD, SchematronError
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.identifiers import check_identifiers
from billing_pipeline.facturx.models import FacturXInvoice, VerificationReport
from billing_pipeline.facturx.money import check_money
from billing_pipeline.facturx.profiles import (
    BR_FR_CII_SCHEMATRON,
    DATA_ONLY_LEVELS,
    PROFILES,
    Profile,
    profile_for_guideline,
)
from billing_pipeline.facturx.reader import CII_ROOT_TAG, read_invoice
from billing_pipeline.facturx.rules import Severity
from billing_pipeline.facturx.xmlsafety import parse_untrusted_xml
from billing_pipeline.facturx.xmp import check_info_matches_xmp, check_xmp, read_xmp

logger = logging.getLogger(__name__)


def verify_pdf(pdf: bytes, *, file_name: str | None = None) -> VerificationReport:
    """Check one Factur-X PDF: never raises on a bad file, every problem is a finding."""
    findings = Findings()
    invoice: FacturXInvoice | None = None
    try:
        invoice = _verify(pdf, findings)
    except Exception as exc:  # a malformed file must give a report, not a crash
        logger.exception("verification of %s failed unexpectedly", file_name or "a PDF")
        findings.add("BP-PDF-03", f"verification failed unexpectedly: {type(exc).__name__}: {exc}")
    return VerificationReport(
        file=file_name,
        valid=not findings.errors,
        profile=invoice.profile if invoice else None,
        invoice_number=invoice.number if invoice else None,
        errors=findings.errors,
        warnings=findings.warnings,
        totals=invoice.totals() if invoice else None,
        invoice=invoice,
    )


def warm_up(levels: Iterable[str] = ("en16931",)) -> None:
    """Compile the Schematrons of these profile levels now (≈0.3 s each) instead of on first use."""
    wanted = set(levels)
    stylesheets: list[str] = []
    for profile in PROFILES:
        if profile.level in wanted:
            stylesheets.append(profile.schematron)
            if profile.french_rules and BR_FR_CII_SCHEMATRON not in stylesheets:
                stylesheets.append(BR_FR_CII_SCHEMATRON)
    SCHEMATRON.compile(stylesheets)


def _verify(data: bytes, findings: Findings) -> FacturXInvoice | None:
    try:
        pdf = open_pdf(data)
    except pikepdf.PasswordError:
        findings.add("BP-PDF-01", "the PDF is protected by a password")
        return None
    except (pikepdf.PdfError, ValueError, OSError) as exc:
        findings.add("BP-PDF-01", f"not a readable PDF: {exc}")
        return None
    with pdf:
        xml_file = select_facturx_xml(embedded_files(pdf), findings)
        if xml_file is None:
            return None
        root = _parse_xml(xml_file, findings)
        invoice = read_invoice(root, findings) if root is not None else None
        profile = profile_for_guideline(invoice.guideline_id if invoice else None)
        if invoice is not None and profile is None:
            findings.add("BP-FX-05", f"BT-24 {invoice.guideline_id!r} is not a Factur-X profile")
        check_attachment(pdf, xml_file, profile, findings)
        xmp = read_xmp(pdf, findings)
        if xmp is not None:
            check_xmp(xmp, xml_file, profile, findings)
        check_pdfa_basics(pdf, findings)
        if xmp is not None:
            check_info_matches_xmp(pdf, xmp, findings)
    if root is None or invoice is None:
        return invoice
    if profile is not None:
        _validate_xml(root, profile, findings)
    check_money(invoice, findings)
    check_identifiers(invoice, findings)
    check_document_type(invoice, findings)
    return invoice


def check_document_type(invoice: FacturXInvoice, findings: Findings) -> None:
    """A credit note is checked like an invoice, plus the reference to the invoice it corrects.

    BR-FR-CO-05 requires the same, but only where the French rules run (not MINIMUM/BASIC WL, not a
    file whose Schematron failed); a credit note that corrects nothing nameable is unusable to us.
    """
    if invoice.is_credit_note and invoice.preceding_invoice_number is None:
        findings.add(
            "BP-FX-08",
            "credit note (BT-3 381) without a preceding invoice reference (BT-25, "
            "ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument/ram:IssuerAssignedID)",
        )


def _parse_xml(xml_file: EmbeddedFile, findings: Findings) -> etree._Element | None:
    try:
        root = parse_untrusted_xml(xml_file.read())
    except (etree.XMLSyntaxError, ValueError, pikepdf.PdfError) as exc:
        findings.add("BP-FX-04", f"{xml_file.display_name!r} is not well-formed XML: {exc}")
        return None
    if root.tag != CII_ROOT_TAG:
        findings.add(
            "BP-FX-04",
            f"{xml_file.display_name!r} has root element {etree.QName(root).localname!r} in namespace "
            f"{etree.QName(root).namespace!r}; expected a CII rsm:CrossIndustryInvoice",
        )
        return None
    return root


def _validate_xml(root: etree._Element, profile: Profile, findings: Findings) -> None:
    for message in XSD.validate(root.getroottree(), profile.xsd):
        findings.add("BP-XSD-01", f"Factur-X {profile.name} XSD: {message}")
    if profile.level in DATA_ONLY_LEVELS:
        findings.add("BP-FX-06", f"profile {profile.name} has no invoice lines and is not an EN 16931 invoice")
    stylesheets = [profile.schematron]
    if profile.french_rules:
        stylesheets.append(BR_FR_CII_SCHEMATRON)
    try:
        results = SCHEMATRON.run(etree.tostring(root, encoding="utf-8"), stylesheets)
    except SchematronError as exc:
        findings.add("BP-SCH-01", f"the Schematron could not be run: {exc}")
        return
    for results_of_stylesheet in results.values():
        for result in results_of_stylesheet:
            message = result.message if not result.location else f"{result.message} (at {result.location})"
            severity = Severity.WARNING if result.is_warning else Severity.ERROR
            findings.add_with_severity(result.rule or "BP-SCH-02", message, severity)
