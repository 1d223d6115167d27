"""An invoice plan with a discounted line, built directly (the coupons that produce it live in billing/).

Line 1: 1 month × 19.00, welcome coupon −3.80 → 15.20. Line 2: 1 250 000 calls × 0.0004 = 500.00.
Net 515.20, VAT 20 % 103.04, total 618.24.
"""

from __future__ import annotations

from decimal import Decimal

from billing_pipeline.billing.models import Customer, InvoiceLine, InvoicePlan, VatSubtotal
from billing_pipeline.billing.periods import BillingPeriod

D = Decimal
PERIOD = BillingPeriod(2026, 1)
NET, VAT, TOTAL = D("515.20"), D("103.04"), D("618.24")


def customer(customer_id: str = "acme", email: str = "billing@acme.example") -> Customer:
    return Customer(
        customer_id=customer_id,
        kind="company",
        name=f"ACME {customer_id}",
        email=email,
        tax_identification_number="732829320",
        vat_number="FR44732829320",
        street_address="1 rue de la Paix",
        city="Paris",
        zip_code="75002",
        country_code="FR",
        currency="EUR",
        locale="fr",
        plan="starter",
        payment_terms_days=30,
    )


def discounted_line() -> InvoiceLine:
    return InvoiceLine(
        title="Starter plan",
        description="Monthly fee",
        quantity=D("1"),
        unit="month",
        unit_price=D("19.00"),
        vat_rate=D("0.2"),
        net_amount=D("15.20"),
        discount=D("3.80"),
        discount_reason="Welcome discount -20 %",
    )


def usage_line() -> InvoiceLine:
    return InvoiceLine(
        title="API calls",
        description="1 250 000 calls",
        quantity=D("1250000"),
        unit="unit",
        unit_price=D("0.0004"),
        vat_rate=D("0.2"),
        net_amount=D("500.00"),
    )


def discounted_plan(customer_id: str = "acme", email: str = "billing@acme.example") -> InvoicePlan:
    return InvoicePlan(
        customer=customer(customer_id, email),
        period=PERIOD,
        currency="EUR",
        lines=[discounted_line(), usage_line()],
        vat_breakdown=[VatSubtotal(vat_rate=D("0.2"), vat_exemption_reason=None, base=NET, vat_amount=VAT)],
        net_total=NET,
        vat_total=VAT,
        total=TOTAL,
    )
