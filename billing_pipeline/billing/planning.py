"""One billing period, end to end: read and check every input, then price every customer.

``plan_period`` either returns the complete plan or raises ``InvalidBillingInput`` with every
problem of every file: a period with bad input is never partly billed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

from billing_pipeline.billing.customers import load_customers, parse_customers
from billing_pipeline.billing.cycle_collection import cycle_collection_paused
from billing_pipeline.billing.models import Customer, InvalidBillingInput, InvoicePlan, PeriodPlan, UsageStats
from billing_pipeline.billing.money import exact_sum
from billing_pipeline.billing.periods import BillingPeriod, time_zone
from billing_pipeline.billing.preview import errors_json, to_preview_json
from billing_pipeline.billing.price_list import load_price_list, parse_price_list
from billing_pipeline.billing.price_plans import PriceList
from billing_pipeline.billing.pricing import price_customer
from billing_pipeline.billing.subscribers import price_subscriber
from billing_pipeline.billing.subscriptions import SUBSCRIPTIONS_FILE, Segment, parse_subscriptions
from billing_pipeline.billing.usage import FileUsageSource, UsageSource, UsageTotals, load_usage

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
    """Every invoice of ``period`` from ``data_dir`` (customers.csv, price_list.yaml, usage/, and
    subscriptions.csv when present: its customers are billed by their rows, see ``subscribers.py``).

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
    book = parse_subscriptions(
        data_dir / SUBSCRIPTIONS_FILE,
        customers=customers.known_ids,
        plans=prices.plan_names,
        coupons=prices.coupon_names,
        file_label=SUBSCRIPTIONS_FILE,
    )
    # every customer with rows: its rows touching the period (none: not billed this period)
    segments = {customer_id: book.segments(customer_id, billing_period) or () for customer_id in book.rows}
    if usage_source is None:
        usage_source = FileUsageSource(data_dir / USAGE_DIR, label_root=data_dir)
    price_list = prices.price_list
    aggregations = {name: metric.aggregation for name, metric in (price_list.metrics if price_list else {}).items()}
    spans = {customer_id: [segment.span for segment in found] for customer_id, found in segments.items()}
    # only what is needed is asked for: sum-only data without subscriptions reads as it always did
    usage = usage_source.read(
        billing_period,
        zone,
        customers=customers.known_ids,
        metrics=prices.metric_names,
        **({"aggregations": aggregations} if any(a != "sum" for a in aggregations.values()) else {}),
        **({"spans": spans} if spans else {}),
    )
    problems = [*prices.problems, *customers.problems, *book.problems, *usage.problems]
    if problems:
        raise InvalidBillingInput(problems)
    assert price_list is not None  # no problem means the price list parsed

    with cycle_collection_paused():  # every line is kept: a full collection would find nothing
        invoices, skipped = _price_every_customer(
            customers.customers,
            segments,
            usage,
            price_list,
            billing_period,
            bill_customers_without_usage=bill_customers_without_usage,
            max_unit_price_decimals=max_unit_price_decimals,
        )

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
        warnings=(
            *(uncovered.describe() for uncovered in usage.uncovered),
            # a source read right but empty (a wrong table, a month not loaded yet) must not pass
            # for a quiet month: fees alone are billed, so say where nothing was found
            *(
                (f"no usage event of {billing_period.key} in {usage_source.label}: only fees are billed",)
                if invoices and usage.rows_in_period == 0
                else ()
            ),
        ),
    )


def _price_every_customer(
    customers: Mapping[str, Customer],
    segments: Mapping[str, Sequence[Segment]],
    usage: UsageTotals,
    price_list: PriceList,
    billing_period: BillingPeriod,
    *,
    bill_customers_without_usage: bool,
    max_unit_price_decimals: int,
) -> tuple[list[InvoicePlan], int]:
    """Each customer's invoice, in customer order, and how many customers were not invoiced."""
    invoices: list[InvoicePlan] = []
    skipped = 0
    for customer_id in sorted(customers):
        customer = customers[customer_id]
        invoice: InvoicePlan | None
        if customer_id in segments:
            found = segments[customer_id]
            per_span = usage.span_quantities.get(customer_id) or [{} for _ in found]
            has_fee = any(price_list.plans[segment.plan].monthly_fee is not None for segment in found)
            if not found or (not any(per_span) and not has_fee and not bill_customers_without_usage):
                skipped += 1
                continue
            invoice = price_subscriber(
                customer,
                found,
                per_span,
                price_list,
                period=billing_period,
                max_unit_price_decimals=max_unit_price_decimals,
            )
        else:
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
    return invoices, skipped


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
