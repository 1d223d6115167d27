"""``billing-pipeline verify FILE… [--rules auto|en16931|france] [--format text|json]``.

Inputs: Factur-X / ZUGFeRD 2.x PDFs, standalone CII and UBL XML. Exit status: 0 when every file is
valid, 1 when any is not (every broken rule named), 2 when any input could not be read at all
(missing, not a PDF or XML, corrupt) — 2 wins over 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from billing_pipeline.facturx.container import MAX_EMBEDDED_BYTES
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.models import Finding, VerificationReport
from billing_pipeline.facturx.rules import Layer, RuleSet
from billing_pipeline.facturx.verification import sniff, verify_document

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2
_VERDICT_WORDS = {True: "pass", False: "FAIL", None: "n/a"}


@click.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--rules",
    type=click.Choice([ruleset.value for ruleset in RuleSet]),
    default=RuleSet.AUTO.value,
    show_default=True,
    help="auto: the French BR-FR rules apply when seller and buyer are both in France (BT-40 = BT-55 = FR); "
    "en16931: never; france: always.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json (a list with one object per file) for scripts.",
)
def verify(files: tuple[Path, ...], rules: str, output_format: str) -> None:
    """Check e-invoices (Factur-X / ZUGFeRD 2.x PDFs, CII and UBL XML), layer by layer: the PDF/A-3
    container, the XSD, the EN 16931 rules, the Factur-X profile rules, the French BR-FR rules where
    they apply, and our exact money and identifier checks."""
    reports = [verify_file(path, rules=RuleSet(rules)) for path in files]
    if output_format == "json":
        click.echo(json.dumps([report.to_json_dict() for report in reports], indent=2, ensure_ascii=False))
    else:
        for report in reports:
            click.echo(_as_text(report))
        valid = sum(report.valid for report in reports)
        click.echo(f"{len(reports)} file(s): {valid} valid, {len(reports) - valid} invalid")
    context = click.get_current_context()
    if any(report.unreadable for report in reports):
        context.exit(EXIT_UNREADABLE)
    context.exit(EXIT_VALID if all(report.valid for report in reports) else EXIT_INVALID)


def verify_file(path: Path, *, rules: RuleSet = RuleSet.AUTO) -> VerificationReport:
    """Verify one file; an XML file larger than 20 MB is refused before it is read."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
            kind = sniff(head, path.name)
            if kind == "xml" and path.stat().st_size > MAX_EMBEDDED_BYTES:
                return _refused(path, "BP-XML-02", f"the file holds more than {MAX_EMBEDDED_BYTES // 1_000_000} MB")
            data = head + handle.read()
    except OSError as exc:
        return _refused(path, "BP-PDF-01", f"cannot read the file: {exc.strerror or exc}")
    return verify_document(data, file_name=str(path), rules=rules, kind=kind)


def _refused(path: Path, rule: str, message: str) -> VerificationReport:
    findings = Findings()
    layer = Layer.XML_SCHEMA if sniff(b"", path.name) == "xml" else Layer.PDF
    findings.add(rule, message, layer)
    return VerificationReport(
        file=str(path),
        valid=False,
        profile=None,
        invoice_number=None,
        errors=findings.errors,
        warnings=[],
        totals=None,
        invoice=None,
        checks=findings.checks(),
    )


def _as_text(report: VerificationReport) -> str:
    facts = [report.syntax or "syntax unknown", report.profile or "profile unknown"]
    invoice = report.invoice
    if report.invoice_number and invoice is not None and invoice.is_credit_note:
        corrects = f" correcting {invoice.preceding_invoice_number}" if invoice.preceding_invoice_number else ""
        facts.append(f"credit note {report.invoice_number}{corrects}")
    elif report.invoice_number:
        facts.append(f"invoice {report.invoice_number}")
    if report.totals is not None:
        currency = report.invoice.currency if report.invoice and report.invoice.currency else ""
        facts.append(f"total {report.totals.total} {currency}".rstrip())
    verdicts = report.checks.model_dump()
    lines = [
        f"{report.file}: {'VALID' if report.valid else 'INVALID'} ({', '.join(facts)})",
        "  checks  " + ", ".join(f"{layer.value} {_VERDICT_WORDS[verdicts[layer.value]]}" for layer in Layer),
    ]
    lines += [_finding_line("error  ", finding) for finding in report.errors]
    lines += [_finding_line("warning", finding) for finding in report.warnings]
    return "\n".join(lines)


def _finding_line(severity: str, finding: Finding) -> str:
    layer = f"[{finding.layer}] " if finding.layer else ""
    return f"  {severity} {layer}{finding.rule}: {finding.message}"
