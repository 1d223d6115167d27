"""Compare the XML with what we billed, naming every difference."""

from __future__ import annotations

from decimal import Decimal

from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.models import ExpectedInvoice, ExpectedLine, FacturXInvoice, Finding, InvoiceLine

_HUNDRED = Decimal(100)


def compare_with_expected(invoice: FacturXInvoice, expected: ExpectedInvoice) -> list[Finding]:
    """Every difference between the embedded XML and ``expected``, as ``BP-CMP-…`` errors."""
    findings = Findings()
    if expected.number is not None and invoice.number != expected.number:
        findings.add("BP-CMP-01", f"invoice number: expected {expected.number!r}, the XML has {invoice.number!r}")
    if invoice.currency != expected.currency:
        findings.add("BP-CMP-02", f"currency: expected {expected.currency}, the XML has {invoice.currency}")
    for rule, label, want, have in (
        ("BP-CMP-03", "net total (BT-109)", expected.net_total, invoice.tax_basis_total),
        ("BP-CMP-04", "VAT total (BT-110)", expected.vat_total, invoice.vat_total),
        ("BP-CMP-05", "total with VAT (BT-112)", expected.total, invoice.grand_total),
    ):
        if have is None or have != want:
            findings.add(rule, f"{label}: expected {want}, the XML has {have}")
    if expected.lines is not None:
        _compare_lines(invoice.lines, expected.lines, findings)
    for label, want, have in (
        ("period start (BT-73)", expected.period_start, invoice.period_start),
        ("period end (BT-74)", expected.period_end, invoice.period_end),
    ):
        if want is not None and have != want:
            findings.add("BP-CMP-08", f"{label}: expected {want}, the XML has {have}")
    if expected.buyer_siren is not None and invoice.buyer_siren != expected.buyer_siren:
        findings.add(
            "BP-CMP-09", f"buyer SIREN (BT-47): expected {expected.buyer_siren}, the XML has {invoice.buyer_siren}"
        )
    if expected.type_code is not None and invoice.type_code != expected.type_code:
        findings.add(
            "BP-CMP-10", f"document type (BT-3): expected {expected.type_code}, the XML has {invoice.type_code}"
        )
    if expected.preceding_invoice_number is not None and (
        invoice.preceding_invoice_number != expected.preceding_invoice_number
    ):
        findings.add(
            "BP-CMP-11",
            f"preceding invoice (BT-25): expected {expected.preceding_invoice_number!r}, "
            f"the XML has {invoice.preceding_invoice_number!r}",
        )
    return findings.errors


def _compare_lines(lines: list[InvoiceLine], expected: list[ExpectedLine], findings: Findings) -> None:
    if len(lines) != len(expected):
        findings.add("BP-CMP-06", f"number of lines: expected {len(expected)}, the XML has {len(lines)}")
    for position, (line, want) in enumerate(zip(lines, expected, strict=False), start=1):
        rate = line.vat_rate / _HUNDRED if line.vat_rate is not None else None
        for field, want_value, have_value in (
            ("title", want.title.strip(), line.name),
            ("quantity", want.quantity, line.quantity),
            ("unit price", want.unit_price, line.unit_price),
            ("VAT rate", want.vat_rate, rate),
            ("net amount", want.net_amount, line.net_amount),
        ):
            if have_value is None or have_value != want_value:
                shown_want, shown_have = want_value, have_value
                if field == "VAT rate":
                    shown_want = f"{(want.vat_rate * _HUNDRED).normalize():f} %"
                    shown_have = f"{line.vat_rate.normalize():f} %" if line.vat_rate is not None else None
                findings.add(
                    "BP-CMP-07",
                    f"line {position} {field}: expected {shown_want}, the XML has {shown_have}",
                )
