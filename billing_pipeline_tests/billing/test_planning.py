from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from billing_pipeline.billing.demo import DEMO_PRICE_LIST
from billing_pipeline.billing.models import InvalidBillingInput
from billing_pipeline.billing.money import exact_sum
from billing_pipeline.billing.planning import plan_period
from billing_pipeline_tests.billing.conftest import REPO_ROOT, SAMPLE_DIR

D = Decimal


@pytest.mark.parametrize("period", ["2026-08", "2026-09", "2026-10"])
def test_sample_data_bills_every_month(period: str) -> None:
    plan = plan_period(period, SAMPLE_DIR)
    assert plan.period.key == period and plan.currency == "EUR" and plan.timezone == "Europe/Paris"
    assert plan.usage_stats.files == 10
    assert plan.usage_stats.customers_billed == len(plan.invoices) >= 28
    assert plan.usage_stats.customers_billed + plan.usage_stats.customers_skipped == 31
    assert plan.net_total == exact_sum([invoice.net_total for invoice in plan.invoices])
    assert plan.vat_total == exact_sum([invoice.vat_total for invoice in plan.invoices])
    assert plan.total == plan.net_total + plan.vat_total
    for invoice in plan.invoices:
        assert invoice.period.key == period
        assert all(len(line.title) <= 40 for line in invoice.lines)


def test_sample_edge_cases() -> None:
    october = plan_period("2026-10", SAMPLE_DIR)
    assert october.usage_stats.duplicate_events == 14
    by_customer = {invoice.customer.customer_id: invoice for invoice in october.invoices}
    # Reverse charge for an EU business, out of scope for a Swiss one, French VAT otherwise.
    assert {line.vat_exemption_reason for line in by_customer["cus_eu_001"].lines} == {"S283"}
    assert {line.vat_exemption_reason for line in by_customer["cus_ch_001"].lines} == {"S259"}
    assert {line.vat_rate for line in by_customer["cus_eu_008"].lines} == {D("0.2")}
    august = plan_period("2026-08", SAMPLE_DIR)
    skipped = {"cus_fr_014"}  # enterprise plan (no fee) and no usage in August
    billed = {invoice.customer.customer_id for invoice in august.invoices}
    assert skipped.isdisjoint(billed) and "cus_ind_003" in billed  # starter has a fee: billed anyway


def test_sample_price_list_is_the_demo_price_list() -> None:
    packaged = REPO_ROOT / "billing_pipeline" / "billing" / DEMO_PRICE_LIST
    assert (SAMPLE_DIR / "price_list.yaml").read_bytes() == packaged.read_bytes()


def test_customers_without_usage(data_dir: Path, write_usage: Callable) -> None:
    write_usage("events.csv", "e1,cus_1,api_calls,100,2026-10-02T10:00:00Z\n")
    plan = plan_period("2026-10", data_dir)
    assert [invoice.customer.customer_id for invoice in plan.invoices] == ["cus_1"]
    assert plan.usage_stats.customers_skipped == 1
    november = plan_period("2026-11", data_dir)  # cus_1's plan has a fee: billed without usage
    assert [(i.customer.customer_id, i.net_total) for i in november.invoices] == [("cus_1", D("10.00"))]
    everyone = plan_period("2026-11", data_dir, bill_customers_without_usage=True)
    assert [i.customer.customer_id for i in everyone.invoices] == ["cus_1"]  # cus_2 would have no line
    assert everyone.usage_stats.customers_skipped == 1


def test_prices_and_digest_follow_usage(data_dir: Path, write_usage: Callable) -> None:
    write_usage(
        "events.csv", "e1,cus_2,storage_gb,25,2026-10-02T10:00:00Z\ne2,cus_2,api_calls,3,2026-10-03T10:00:00Z\n"
    )
    first = plan_period("2026-10", data_dir).invoices[1]
    assert [
        (line.title, line.quantity, line.unit_price, line.net_amount, line.vat_exemption_reason) for line in first.lines
    ] == [
        ("API calls", D(3), D("0.01"), D("0.03"), "S283"),
        ("Storage", D(3), D("1.50"), D("4.50"), "S283"),
    ]
    write_usage("late.csv", "e3,cus_2,api_calls,1,2026-10-30T10:00:00Z\n")
    second = plan_period("2026-10", data_dir).invoices[1]
    assert first.content_digest() != second.content_digest()
    assert first.customer.customer_id == second.customer.customer_id == "cus_2"
    assert plan_period("2026-10", data_dir).invoices[1].content_digest() == second.content_digest()


def test_every_problem_of_every_file_and_no_partial_plan(data_dir: Path, write_usage: Callable) -> None:
    (data_dir / "price_list.yaml").write_text(
        (data_dir / "price_list.yaml")
        .read_text(encoding="utf-8")
        .replace('package_price: "1.50"', "package_price: 1.5"),
        encoding="utf-8",
    )
    customers = (data_dir / "customers.csv").read_text(encoding="utf-8").replace("billing@acme.example.fr", "acme")
    (data_dir / "customers.csv").write_text(customers, encoding="utf-8")
    write_usage("events.csv", "e1,cus_1,api_calls,1,2026-10-02T10:00:00Z\ne2,cus_7,api_calls,1,2026-10-02T10:00:00Z\n")
    with pytest.raises(InvalidBillingInput) as caught:
        plan_period("2026-10", data_dir)
    assert [(p.file, p.row, p.field) for p in caught.value.problems] == [
        ("price_list.yaml", 34, "plans.metered.charges.storage_gb.package_price"),
        ("customers.csv", 2, "email"),
        ("customers.csv", 3, "email"),
        ("usage/events.csv", 3, "customer_id"),
    ]


def test_a_period_without_invoices_still_has_cents(data_dir: Path) -> None:
    (data_dir / "price_list.yaml").write_text(
        (data_dir / "price_list.yaml").read_text(encoding="utf-8").replace("    monthly_fee:", "    unused_fee:"),
        encoding="utf-8",
    )
    with pytest.raises(InvalidBillingInput, match=r"plans\.basic\.unused_fee: unknown key"):
        plan_period("2026-10", data_dir)
    text = (data_dir / "price_list.yaml").read_text(encoding="utf-8")
    start = text.index("    unused_fee:")
    end = text.index("    charges:", start)
    (data_dir / "price_list.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    plan = plan_period("2026-10", data_dir)
    assert plan.invoices == []
    assert (str(plan.net_total), str(plan.vat_total), str(plan.total)) == ("0.00", "0.00", "0.00")
    assert plan.usage_stats.customers_skipped == 2


def test_bad_arguments(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="must be written YYYY-MM"):
        plan_period("10/2026", data_dir)
    with pytest.raises(ValueError, match="unknown time zone"):
        plan_period("2026-10", data_dir, timezone="Paris")
    with pytest.raises(ValueError, match="at least 2"):
        plan_period("2026-10", data_dir, max_unit_price_decimals=1)
