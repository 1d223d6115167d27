"""One billing period, end to end: read and check every input, then price every customer.

``plan_period`` either returns the complete plan or raises ``InvalidBillingInput`` with every
problem of every file: a period with bad input is never partly billed.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from billing_pipeline.billing.customers import load_customers, parse_customers
from billing_pipeline.billing.models import InvalidBillingInput, InvoicePlan, PeriodPlan, UsageStats
from billing_pipeline.billing.money import exact_sum
from billing_pipeline.billing.periods import BillingPeriod, time_zone
from billing_pipeline.billing.preview import errors_json, to_preview_json
from billing_pipeline.billing.price_list import load_price_list, parse_price_list
from billing_pipeline.billing.pricing import price_customer
from billing_pipeline.billing.usage import FileUsageSource, UsageSource, load_usage

CUSTOMERS_FILE = "customers.csv"
PRICE_LIST_FILE = "price_list.yaml"
USAGE_DIR = "usage"
CENTS_ZERO = Decimal("0.00")


def plan_period(
    period: str | BillingPeriod,
    data_dir: Path,
    *,
    timezone: str = "Europe/Paris",
    bill_customers_without_usage: bool = False,
    max_unit_price_decimals: int = 2,
    usage_source: UsageSource | None = None,
) -> PeriodPlan:
    """Every invoice of ``period`` from ``data_dir`` (customers.csv, price_list.yaml, usage/).

    ``usage_source`` replaces the files of ``data_dir/usage`` (e.g. ``sql_usage.SqlUsageSource``);
    customers and the price list are always files of ``data_dir``.

    Customers without usage in the period are not invoiced unless their plan has a monthly fee
    or ``bill_customers_without_usage`` is set; a customer whose priced invoice would have no
    line is never invoiced. Raises ``InvalidBillingInput`` listing every problem found.
    """
    billing_period = BillingPeriod.of(period)
    zone = time_zone(timezone)
    if max_unit_price_decimals < 2:
        raise ValueError("max_unit_price_decimals must be at least 2 (lump-sum lines carry cents)")
    data_dir = Path(data_dir)
    prices = parse_price_list(data_dir / PRICE_LIST_FILE, file_label=PRICE_LIST_FILE)
    customers = parse_customers(data_dir / CUSTOMERS_FILE, plans=prices.plan_names, file_label=CUSTOMERS_FILE)
    if usage_source is None:
        usage_source = FileUsageSource(data_dir / USAGE_DIR, label_root=data_dir)
    usage = usage_source.read(billing_period, zone, customers=customers.known_ids, metrics=prices.metric_names)
    problems = [*prices.problems, *customers.problems, *usage.problems]
    if problems:
        raise InvalidBillingInput(problems)
    price_list = prices.price_list
    assert price_list is not None  # no problem means the price list parsed

    invoices: list[InvoicePlan] = []
    skipped = 0
    for customer_id in sorted(customers.customers):
        customer = customers.customers[customer_id]
        plan = price_list.plans[customer.plan]
        used = usage.quantities.get(customer_id)
        if used is None and plan.monthly_fee is None and not bill_customers_without_usage:
            skipped += 1
            continue
        invoice = price_customer(
            customer,
            plan,
            used or {},
            period=billing_period,
            max_unit_price_decimals=max_unit_price_decimals,
        )
        if invoice is None:
            skipped += 1
        else:
            invoices.append(invoice)

    # Starting from 0.00 keeps the cents even for a period with no invoice.
    net_total = exact_sum([CENTS_ZERO, *(invoice.net_total for invoice in invoices)])
    vat_total = exact_sum([CENTS_ZERO, *(invoice.vat_total for invoice in invoices)])
    return PeriodPlan(
        period=billing_period.key,
        currency="EUR",
        timezone=zone.key,
        invoices=invoices,
        net_total=net_total,
        vat_total=vat_total,
        total=net_total + vat_total,
        usage_stats=UsageStats(
            files=usage.files,
            rows_read=usage.rows_read,
            rows_in_period=usage.rows_in_period,
            duplicate_events=usage.duplicate_events,
            customers_billed=len(invoices),
            customers_skipped=skipped,
        ),
    )


__all__ = [
    "FileUsageSource",
    "UsageSource",
    "errors_json",
    "load_customers",
    "load_price_list",
    "load_usage",
    "plan_period",
    "price_customer",
    "to_preview_json",
]
