"""``billing-pipeline verify FILE.pdf [FILE…] [--format text|json]``.

Exit status: 0 when every file is a valid Factur-X, 1 when any is not, 2 when any input could not
be read at all (missing file, not a PDF) — 2 wins over 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from billing_pipeline.facturx.models import Finding, VerificationReport
from billing_pipeline.facturx.verification import verify_pdf

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2


@click.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json (a list with one object per file) for scripts.",
)
def verify(files: tuple[Path, ...], output_format: str) -> None:
    """Check Factur-X files: embedded factur-x.xml, XSD, EN 16931 and BR-FR rules, PDF/A-3
    container, exact Decimal money checks and SIREN/VAT/IBAN checksums."""
    reports = [_verify_file(path) for path in files]
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


def _verify_file(path: Path) -> VerificationReport:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return VerificationReport(
            file=str(path),
            valid=False,
            profile=None,
            invoice_number=None,
            errors=[Finding(rule="BP-PDF-01", message=f"cannot read the file: {exc.strerror or exc}")],
            warnings=[],
            totals=None,
            invoice=None,
        )
    return verify_pdf(data, file_name=str(path))


def _as_text(report: VerificationReport) -> str:
    facts = [report.profile or "profile unknown"]
    invoice = report.invoice
    if report.invoice_number and invoice is not None and invoice.is_credit_note:
        corrects = f" correcting {invoice.preceding_invoice_number}" if invoice.preceding_invoice_number else ""
        facts.append(f"credit note {report.invoice_number}{corrects}")
    elif report.invoice_number:
        facts.append(f"invoice {report.invoice_number}")
    if report.totals is not None:
        currency = report.invoice.currency if report.invoice and report.invoice.currency else ""
        facts.append(f"total {report.totals.total} {currency}".rstrip())
    lines = [f"{report.file}: {'VALID' if report.valid else 'INVALID'} ({', '.join(facts)})"]
    lines += [f"  error   {finding.rule}: {finding.message}" for finding in report.errors]
    lines += [f"  warning {finding.rule}: {finding.message}" for finding in report.warnings]
    return "\n".join(lines)
