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
    if expected.mentions is not None:
        _compare_mentions(invoice, expected.mentions, findings)
    return findings.errors


# the reform's mentions (billing/mentions.py) and where BR-FR / EN 16931 put them in the XML
_NOTE_OF_SETTING = {
    "late_payment_penalties": ("PMD", "late-payment penalties"),
    "legal_fixed_compensation": ("PMT", "fixed recovery indemnity"),
    "discount_conditions": ("AAB", "discount conditions"),
}
BUSINESS_PROCESS_OF_TRANSACTION_TYPE = {"goods": "B1", "services": "S1", "goods_and_services": "M1"}  # BT-23
# BT-8, UNTDID 2475 [unconfirmed mapping, facturx.md §5]: VAT due on payment (72) or on the invoice date (5)
VAT_POINT_CODE_OF_CONDITION = {"on_receipts": "72", "compensated_for_sales": "5"}


def _compare_mentions(invoice: FacturXInvoice, mentions: dict[str, str], findings: Findings) -> None:
    for setting, (code, label) in _NOTE_OF_SETTING.items():
        want = mentions.get(setting)
        if want is None:
            continue
        have = invoice.notes.get(code, [])
        if [text for text in have if " ".join(text.split()) == " ".join(want.split())] == []:
            findings.add("BP-CMP-12", f"{label}: expected a note {code} {want!r}, the XML has {have or 'none'}")
    process = BUSINESS_PROCESS_OF_TRANSACTION_TYPE.get(mentions.get("transaction_type", ""))
    if process is not None and invoice.business_process != process:
        findings.add(
            "BP-CMP-13",
            f"nature of the operations (BT-23): expected {process} for {mentions['transaction_type']}, "
            f"the XML has {invoice.business_process}",
        )
    point = VAT_POINT_CODE_OF_CONDITION.get(mentions.get("vat_payment_condition", ""))
    if point is not None:
        codes = {entry.due_date_code for entry in invoice.vat_breakdown}
        if codes != {point}:
            findings.add(
                "BP-CMP-14",
                f"VAT payment condition (BT-8): expected {point} for {mentions['vat_payment_condition']}, "
                f"the XML has {sorted(c or 'none' for c in codes)}",
            )


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
            # a discount is a line allowance; none expected, none allowed (a stray one changes the net)
            ("discount (BT-136)", want.discount or Decimal(0), line.allowances),
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
