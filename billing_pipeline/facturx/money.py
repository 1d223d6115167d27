"""Our own ``Decimal`` reconciliation of the amounts in the XML (CII or UBL alike).

The official rules never check quantity × price and accept a VAT amount up to ±1.00 away from
basis × rate; here every amount must be exactly what EN 16931 arithmetic gives: a computed value
rounded to the cent (any half-cent rounding direction is accepted, nothing more).

- line net (BT-131) = quantity (BT-129) × net price (BT-146) ÷ base quantity (BT-149) + line charges
  (BT-141) − line allowances (BT-136); net price = gross price (BT-148) − price discount (BT-147);
- BT-106 = Σ BT-131; BT-109 = BT-106 − BT-107 + BT-108; each VAT basis (BT-116) = its lines + its
  document charges − its document allowances; BT-117 = BT-116 × BT-119; BT-110 = Σ BT-117;
  BT-112 = BT-109 + BT-110; BT-115 = BT-112 − BT-113 + BT-114.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

# the one cent rounding of the project, so a message shows what our invoices would have said
from billing_pipeline.billing.money import round_cents
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.models import FacturXInvoice, InvoiceLine

HALF_CENT = Decimal("0.005")
ZERO = Decimal(0)
ONE = Decimal(1)

VatKey = tuple[str, Decimal]


def check_money(invoice: FacturXInvoice, findings: Findings) -> None:
    _check_net_prices(invoice.lines, findings)
    _check_line_nets(invoice.lines, findings)
    _check_document_sums(invoice, findings)
    if invoice.lines:
        _check_vat_bases(invoice, findings)
    _check_vat_amounts(invoice, findings)
    _check_totals(invoice, findings)


def _check_net_prices(lines: Iterable[InvoiceLine], findings: Findings) -> None:
    for line in lines:
        if line.gross_price is None or line.unit_price is None:
            continue
        discount = line.price_discount or ZERO
        net_base = line.base_quantity or ONE  # BT-149, the base of the net price
        gross_base = line.gross_base_quantity or net_base  # the gross price's own, when it has one
        exact = (line.gross_price - discount) * net_base / gross_base
        # the net price may be rounded to the precision it is written with (at most to the cent)
        exponent = line.unit_price.as_tuple().exponent
        tolerance = min(Decimal((0, (5,), exponent - 1)), HALF_CENT) if isinstance(exponent, int) else HALF_CENT
        if abs(line.unit_price - exact) > tolerance:
            formula = f"{line.gross_price} − {discount}" if discount else f"{line.gross_price}"
            if net_base != gross_base:
                formula = f"({formula}) × {net_base} / {gross_base}"
            findings.add(
                "BP-MONEY-10",
                f"line {line.line_id or '?'}: gross price − price discount (BT-148 − BT-147) = {formula} = "
                f"{exact.normalize():f} but the net price (BT-146) is {line.unit_price}",
            )


def _check_line_nets(lines: Iterable[InvoiceLine], findings: Findings) -> None:
    for line in lines:
        if line.quantity is None or line.unit_price is None or line.net_amount is None:
            continue
        base = line.base_quantity or ONE  # absent or 0: per unit
        exact = line.quantity * line.unit_price / base + line.charges - line.allowances
        if abs(line.net_amount - exact) > HALF_CENT:
            formula = f"{line.quantity} × {line.unit_price}"
            if base != 1:
                formula += f" / {base}"
            if line.charges:
                formula += f" + {line.charges}"
            if line.allowances:
                formula += f" − {line.allowances}"
            findings.add(
                "BP-MONEY-01",
                f"line {line.line_id or '?'}: {formula} = {round_cents(exact)} but the line net (BT-131) is "
                f"{line.net_amount}",
            )


def _check_document_sums(invoice: FacturXInvoice, findings: Findings) -> None:
    expected = _sum(line.net_amount for line in invoice.lines)
    if invoice.lines and invoice.line_total is not None and expected is not None:
        if expected != invoice.line_total:
            findings.add("BP-MONEY-02", f"the line nets add up to {expected} but BT-106 is {invoice.line_total}")
    allowances = _sum(entry.amount for entry in invoice.allowances_charges if not entry.is_charge)
    charges = _sum(entry.amount for entry in invoice.allowances_charges if entry.is_charge)
    for label, expected, total in (
        ("BT-107 (allowances)", allowances, invoice.allowance_total),
        ("BT-108 (charges)", charges, invoice.charge_total),
    ):
        if expected is not None and expected != (total or ZERO):
            findings.add("BP-MONEY-03", f"{label} is {total} but the document entries add up to {expected}")
    if invoice.line_total is not None and invoice.tax_basis_total is not None:
        expected = invoice.line_total - (invoice.allowance_total or ZERO) + (invoice.charge_total or ZERO)
        if expected != invoice.tax_basis_total:
            findings.add(
                "BP-MONEY-04",
                f"BT-109 is {invoice.tax_basis_total} but BT-106 − BT-107 + BT-108 = {expected}",
            )


def _check_vat_bases(invoice: FacturXInvoice, findings: Findings) -> None:
    expected: dict[VatKey, Decimal] = defaultdict(lambda: ZERO)
    for line in invoice.lines:
        if line.net_amount is None:
            return
        expected[_key(line.vat_category, line.vat_rate)] += line.net_amount
    for entry in invoice.allowances_charges:
        if entry.amount is None:
            return
        sign = 1 if entry.is_charge else -1
        expected[_key(entry.vat_category, entry.vat_rate)] += sign * entry.amount
    declared: dict[VatKey, Decimal | None] = {}
    for entry in invoice.vat_breakdown:
        declared[_key(entry.category, entry.rate)] = entry.basis
    for key, basis in declared.items():
        if key not in expected:
            if basis:
                findings.add("BP-MONEY-05", f"VAT {_label(key)}: a breakdown with basis {basis} but no line")
            continue
        if basis is not None and basis != expected[key]:
            findings.add(
                "BP-MONEY-05",
                f"VAT {_label(key)}: the basis (BT-116) is {basis} but its lines, charges and allowances add "
                f"up to {expected[key]}",
            )
    for key, amount in expected.items():
        if key not in declared:
            findings.add("BP-MONEY-05", f"VAT {_label(key)}: lines for {amount} but no VAT breakdown entry")


def _check_vat_amounts(invoice: FacturXInvoice, findings: Findings) -> None:
    for entry in invoice.vat_breakdown:
        if entry.basis is None or entry.amount is None:
            continue
        exact = entry.basis * (entry.rate or ZERO) / 100
        if abs(entry.amount - exact) > HALF_CENT:
            findings.add(
                "BP-MONEY-06",
                f"VAT {_label(_key(entry.category, entry.rate))}: {entry.basis} × {entry.rate or 0} % = "
                f"{round_cents(exact)} but the VAT amount (BT-117) is {entry.amount}",
            )
    expected = _sum(entry.amount for entry in invoice.vat_breakdown)
    if invoice.vat_breakdown and expected is not None and invoice.vat_total is not None:
        if expected != invoice.vat_total:
            findings.add("BP-MONEY-07", f"the VAT amounts add up to {expected} but BT-110 is {invoice.vat_total}")


def _check_totals(invoice: FacturXInvoice, findings: Findings) -> None:
    if invoice.tax_basis_total is not None and invoice.grand_total is not None:
        expected = invoice.tax_basis_total + (invoice.vat_total or ZERO)
        if expected != invoice.grand_total:
            findings.add("BP-MONEY-08", f"BT-112 is {invoice.grand_total} but BT-109 + BT-110 = {expected}")
    if invoice.grand_total is not None and invoice.due_payable_amount is not None:
        expected = invoice.grand_total - (invoice.prepaid_amount or ZERO) + (invoice.rounding_amount or ZERO)
        if expected != invoice.due_payable_amount:
            findings.add(
                "BP-MONEY-09",
                f"BT-115 is {invoice.due_payable_amount} but BT-112 − BT-113 + BT-114 = {expected}",
            )


def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    """The sum, or None when a value could not be read (its own finding says so)."""
    total = ZERO
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _key(category: str | None, rate: Decimal | None) -> VatKey:
    # 20, 20.0 and 20.00 are one rate
    return (category or "?", (rate or ZERO).normalize())


def _label(key: VatKey) -> str:
    category, rate = key
    return f"{category} {rate:f} %"
