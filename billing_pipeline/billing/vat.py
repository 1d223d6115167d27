"""VAT: which rate a customer's lines carry, and the per-rate breakdown of an invoice."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from enum import Enum

from billing_pipeline.billing.identifiers import EU_MEMBER_STATES, FRENCH_VAT_TERRITORY
from billing_pipeline.billing.models import Customer, InvoiceLine, VatSubtotal
from billing_pipeline.billing.money import exact_product, exact_sum, round_cents

# Qonto's ``vat_exemption_reason`` codes for French organizations (qonto-api.md §8.3).
QONTO_VAT_EXEMPTION_REASONS = frozenset(
    "S293B S262.1 S259 S283 S261 S262 S263 S19.1 S4.1B S4.1A S4 S13B S122 S25 S21 S69 S20 S84.1.2".split()
)
REVERSE_CHARGE_REASON = "S283"  # autoliquidation, art. 283-2 CGI
OUTSIDE_FRANCE_REASON = "S259"  # services to a business established outside the EU, art. 259-1 CGI


class VatTreatment(Enum):
    """How French VAT applies to a customer's invoice (the seller is a French SaaS company)."""

    FRENCH_VAT = "french_vat"  # the price list's rates
    REVERSE_CHARGE = "reverse_charge"  # EU business with a VAT number: the buyer self-assesses
    OUTSIDE_SCOPE = "outside_scope"  # business outside the EU: place of supply is abroad


def vat_treatment(customer: Customer) -> VatTreatment:
    if customer.kind == "individual" or customer.country_code in FRENCH_VAT_TERRITORY:
        return VatTreatment.FRENCH_VAT
    if customer.country_code in EU_MEMBER_STATES:
        # Without a VAT number the buyer cannot self-assess: we charge French VAT.
        return VatTreatment.REVERSE_CHARGE if customer.vat_number else VatTreatment.FRENCH_VAT
    return VatTreatment.OUTSIDE_SCOPE


def line_vat(treatment: VatTreatment, rate: Decimal, exemption_reason: str | None) -> tuple[Decimal, str | None]:
    """The (rate, exemption reason) a line carries for a customer under ``treatment``."""
    if treatment is VatTreatment.REVERSE_CHARGE:
        return Decimal(0), REVERSE_CHARGE_REASON
    if treatment is VatTreatment.OUTSIDE_SCOPE:
        return Decimal(0), OUTSIDE_FRANCE_REASON
    return rate, exemption_reason


def vat_breakdown(lines: list[InvoiceLine]) -> list[VatSubtotal]:
    """VAT per (rate, exemption reason), computed once on the sum of the line nets, half-up."""
    bases: dict[tuple[Decimal, str | None], list[Decimal]] = defaultdict(list)
    for line in lines:
        bases[(line.vat_rate, line.vat_exemption_reason)].append(line.net_amount)
    rows = []
    for (rate, reason), nets in sorted(bases.items(), key=lambda item: (-item[0][0], item[0][1] or "")):
        base = exact_sum(nets)
        rows.append(
            VatSubtotal(
                vat_rate=rate,
                vat_exemption_reason=reason,
                base=base,
                vat_amount=round_cents(exact_product(base, rate)),
            )
        )
    return rows
