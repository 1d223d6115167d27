"""``verify_pdf`` / ``verify_xml`` / ``verify_document``: every check on one e-invoice, gathered into a
``VerificationReport`` with a verdict per layer (``checks``).

- a PDF (Factur-X, ZUGFeRD 2.x): the container (``pdf``), then its embedded CII like a CII file;
- a CII XML: ``xml_schema``, ``en16931``, ``profile`` (when BT-24 names a Factur-X profile),
  ``france``, ``arithmetic``;
- a UBL XML: the same without ``profile``, by the CEN EN 16931 UBL rules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pikepdf
from lxml import etree

from billing_pipeline.facturx.container import (
    MAX_EMBEDDED_BYTES,
    EmbeddedFile,
    check_attachment,
    check_invoice_xml_name,
    check_pdfa_basics,
    embedded_files,
    open_pdf,
    select_invoice_xml,
)
from billing_pipeline.facturx.engines import SCHEMATRON
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.judgement import judge_xml, plan_cii, plan_ubl, report_guideline, report_ubl_guideline
from billing_pipeline.facturx.models import FacturXInvoice, VerificationReport
from billing_pipeline.facturx.profiles import (
    BR_FR_CII_SCHEMATRON,
    BR_FR_UBL_SCHEMATRON,
    EN16931_UBL_SCHEMATRON,
    PROFILES,
    identify_guideline,
)
from billing_pipeline.facturx.reader import read_invoice
from billing_pipeline.facturx.rules import Layer, RuleSet
from billing_pipeline.facturx.syntax import Syntax, classify, describe_root, zugferd_1_message
from billing_pipeline.facturx.ubl_reader import read_ubl_invoice
from billing_pipeline.facturx.xmlsafety import parse_untrusted_xml
from billing_pipeline.facturx.xmp import check_info_matches_xmp, check_xmp, read_xmp

logger = logging.getLogger(__name__)

Rules = RuleSet | str
_QPDF_STREAM = re.compile(r"^stream <[^>]*>:?\s*")


@dataclass
class _Outcome:
    invoice: FacturXInvoice | None = None
    syntax: Syntax | None = None


def verify_pdf(pdf: bytes, *, file_name: str | None = None, rules: Rules = RuleSet.AUTO) -> VerificationReport:
    """Check one Factur-X / ZUGFeRD 2.x PDF: never raises on a bad file, every problem is a finding."""
    ruleset = RuleSet(rules)
    return _verify(file_name, Layer.PDF, lambda findings, outcome: _verify_pdf(pdf, ruleset, findings, outcome))


def verify_xml(xml: bytes, *, file_name: str | None = None, rules: Rules = RuleSet.AUTO) -> VerificationReport:
    """Check one standalone CII or UBL invoice XML: never raises on a bad file."""
    ruleset = RuleSet(rules)
    return _verify(file_name, Layer.XML_SCHEMA, lambda findings, outcome: _verify_xml(xml, ruleset, findings, outcome))


def verify_document(
    data: bytes, *, file_name: str | None = None, rules: Rules = RuleSet.AUTO, kind: str | None = None
) -> VerificationReport:
    """A PDF or an XML, told apart by its first bytes (``kind`` "pdf" / "xml" forces one)."""
    if (kind or sniff(data, file_name)) == "xml":
        return verify_xml(data, file_name=file_name, rules=rules)
    return verify_pdf(data, file_name=file_name, rules=rules)


def sniff(data: bytes, file_name: str | None = None) -> str:
    """Tell a PDF from an XML document: by the header (``%PDF-`` in the first KB, or markup after an
    optional byte-order mark), else by the file name's extension; anything else is read as a PDF (and
    reported unreadable). Returns "pdf" or "xml"."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "xml"
    return "xml" if file_name and file_name.lower().endswith(".xml") else "pdf"


def warm_up(levels: Iterable[str] = ("en16931",), *, ubl: bool = False) -> None:
    """Compile the Schematrons of these profile levels (and BR-FR; UBL's with ``ubl``) now instead of
    on first use (≈0.3 s each)."""
    wanted = set(levels)
    stylesheets: list[str] = []
    for profile in PROFILES:
        if profile.level in wanted:
            stylesheets.append(profile.schematron)
            if profile.french_rules and BR_FR_CII_SCHEMATRON not in stylesheets:
                stylesheets.append(BR_FR_CII_SCHEMATRON)
    if ubl:
        stylesheets += [EN16931_UBL_SCHEMATRON, BR_FR_UBL_SCHEMATRON]
    SCHEMATRON.compile(stylesheets)


def _verify(file_name: str | None, layer: Layer, run: Callable[[Findings, _Outcome], None]) -> VerificationReport:
    findings = Findings()
    outcome = _Outcome()
    try:
        run(findings, outcome)
    except Exception as exc:  # a malformed file must give a report, not a crash
        logger.exception("verification of %s failed unexpectedly", file_name or "a file")
        findings.add("BP-PDF-03", f"verification failed unexpectedly: {type(exc).__name__}: {exc}", layer)
    invoice = outcome.invoice
    return VerificationReport(
        file=file_name,
        valid=not findings.errors,
        profile=invoice.profile if invoice else None,
        invoice_number=invoice.number if invoice else None,
        errors=findings.errors,
        warnings=findings.warnings,
        totals=invoice.totals() if invoice else None,
        invoice=invoice,
        syntax=outcome.syntax,
        checks=findings.checks(),
    )


def _verify_pdf(data: bytes, rules: RuleSet, findings: Findings, outcome: _Outcome) -> None:
    try:
        pdf = open_pdf(data)
    except pikepdf.PasswordError:
        findings.add("BP-PDF-01", "the PDF is protected by a password")
        return
    except (pikepdf.PdfError, ValueError, OSError) as exc:
        findings.add("BP-PDF-01", f"not a readable PDF: {exc}")
        return
    damage: list[str] = []  # what qpdf had to repair while reading (get_warnings() drains its list)
    with pdf:
        files = embedded_files(pdf)
        if not any(file.looks_like_xml for file in files) and _damage(pdf, damage):
            findings.add(
                "BP-PDF-01", f"the PDF is damaged and no invoice XML can be read from it: {_damage(pdf, damage)}"
            )
            return
        xml_file = select_invoice_xml(files, findings)
        if xml_file is None:
            return
        root = _parse_embedded(xml_file, findings)
        if root is not None:
            kind = classify(root)
            if kind.legacy:  # nothing else of a ZUGFeRD 1 file is judged
                findings.add("BP-FX-09", zugferd_1_message(kind, f"the embedded {xml_file.display_name!r}"))
                return
            if kind.syntax is not Syntax.CII:
                findings.add(
                    "BP-FX-04",
                    f"{xml_file.display_name!r} has {describe_root(root)}; expected a CII rsm:CrossIndustryInvoice",
                )
                root = None
        check_invoice_xml_name(xml_file, findings)
        invoice = read_invoice(root, findings) if root is not None else None
        outcome.invoice = invoice
        guideline = identify_guideline(invoice.guideline_id if invoice else None)
        check_attachment(pdf, xml_file, guideline.profile if guideline.factur_x else None, findings)
        xmp = read_xmp(pdf, findings)
        if xmp is not None:
            check_xmp(xmp, xml_file, guideline.name, guideline.declared, findings)
        check_pdfa_basics(pdf, findings)
        if xmp is not None:
            check_info_matches_xmp(pdf, xmp, findings)
        if _damage(pdf, damage):
            findings.add("BP-PDF-04", f"the PDF had to be repaired to be read: {_damage(pdf, damage)}")
        findings.judge(Layer.PDF)
    if root is None or invoice is None:
        return
    outcome.syntax = Syntax.CII
    report_guideline(guideline, in_pdf=True, findings=findings)
    judge_xml(root, invoice, plan_cii(guideline, invoice, rules), findings)


def _verify_xml(data: bytes, rules: RuleSet, findings: Findings, outcome: _Outcome) -> None:
    if len(data) > MAX_EMBEDDED_BYTES:
        findings.add("BP-XML-02", f"the file holds more than {MAX_EMBEDDED_BYTES // 1_000_000} MB of XML")
        return
    try:
        root = parse_untrusted_xml(data)
    except etree.XMLSyntaxError as exc:
        findings.add("BP-XML-01", f"not well-formed XML: {exc}")
        return
    except ValueError as exc:  # a DOCTYPE
        findings.add("BP-XML-02", f"refused: {exc}")
        return
    kind = classify(root)
    if kind.legacy:
        findings.add("BP-FX-09", zugferd_1_message(kind, "the file"))
        return
    if kind.syntax is None:
        findings.add(
            "BP-XML-03",
            f"the file has {describe_root(root)}; expected a CII rsm:CrossIndustryInvoice or a UBL Invoice / "
            "CreditNote",
        )
        return
    outcome.syntax = kind.syntax
    if kind.syntax is Syntax.CII:
        invoice = outcome.invoice = read_invoice(root, findings)
        guideline = identify_guideline(invoice.guideline_id)
        report_guideline(guideline, in_pdf=False, findings=findings)
        plan = plan_cii(guideline, invoice, rules)
    else:
        invoice = outcome.invoice = read_ubl_invoice(root, findings)
        report_ubl_guideline(identify_guideline(invoice.guideline_id), findings)
        plan = plan_ubl(kind, invoice, rules)
    judge_xml(root, invoice, plan, findings)


def _damage(pdf: pikepdf.Pdf, damage: list[str]) -> str | None:
    """What qpdf had to repair while reading the file so far (its first three warnings), if anything."""
    damage.extend(_QPDF_STREAM.sub("", warning) for warning in pdf.get_warnings())
    return "; ".join(damage[:3]) if damage else None


def _parse_embedded(xml_file: EmbeddedFile, findings: Findings) -> etree._Element | None:
    try:
        return parse_untrusted_xml(xml_file.read())
    except (etree.XMLSyntaxError, ValueError, pikepdf.PdfError) as exc:
        findings.add("BP-FX-04", f"{xml_file.display_name!r} is not well-formed XML: {exc}")
        return None
