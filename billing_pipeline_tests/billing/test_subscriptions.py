"""Subscriptions: rows of ``subscriptions.csv``, proration by days covered, coupons, bad input refused."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_pipeline.billing.coupons import apply_coupons
from billing_pipeline.billing.coverage import DaySpan
from billing_pipeline.billing.line_drafts import LineDraft
from billing_pipeline.billing.models import Customer, InvalidBillingInput, InvoiceLine
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.billing.preview import render_table, to_preview_json
from billing_pipeline.billing.price_plans import Coupon, MinimumCommitment, MonthlyFee, Plan
from billing_pipeline.billing.pricing import plan_lines
from billing_pipeline.billing.subscriptions import parse_subscriptions
from billing_pipeline_tests.billing.conftest import customer_row

OCTOBER = BillingPeriod(2026, 10)
COUPONS = """\
coupons:
  welcome20: {title: Welcome discount, percent_off: "20", applies_to: all, duration_periods: 2}
  api5: {title: API credit, amount_off: "5.00", applies_to: api_calls}
  fees50: {title: Half fee, percent_off: "50", applies_to: fees}
  free: {title: Free month, percent_off: "100"}
"""


def _customer() -> Customer:
    row = customer_row()
    return Customer.model_validate(
        {**{k: v or None for k, v in row.items() if k != "payment_terms_days"}, "payment_terms_days": 30}
    )


def _write(data_dir: Path, rows: str, *, coupons: bool = True) -> None:
    if coupons:
        path = data_dir / "price_list.yaml"
        path.write_text(path.read_text() + COUPONS, encoding="utf-8")
    (data_dir / "subscriptions.csv").write_text("customer_id,plan,starts_on,ends_on,coupons\n" + rows)


def _lines(plan_key: str, data_dir: Path, customer: str = "cus_1") -> list[dict]:
    preview = to_preview_json(plan_period(plan_key, data_dir))
    return next(i for i in preview["invoices"] if i["customer_id"] == customer)["lines"]


def test_without_subscriptions_file_every_customer_keeps_its_plan(data_dir: Path) -> None:
    before = to_preview_json(plan_period("2026-10", data_dir))
    _write(data_dir, "", coupons=False)  # a header only: nobody on a subscription
    assert to_preview_json(plan_period("2026-10", data_dir)) == before


def test_a_full_month_row_bills_exactly_as_the_customers_plan(data_dir: Path, write_usage) -> None:
    write_usage("u.csv", "e1,cus_1,api_calls,300,2026-10-05T10:00:00Z\n")
    before = plan_period("2026-10", data_dir).invoices[0]
    _write(data_dir, "cus_1,basic,2026-01-01,,\n")
    after = plan_period("2026-10", data_dir).invoices[0]
    assert after.content_digest() == before.content_digest()  # nothing to correct on earlier periods
    assert [s.plan for s in after.segments] == ["basic"]


def test_a_mid_month_start_prorates_the_fee(data_dir: Path) -> None:
    _write(data_dir, "cus_1,basic,2026-10-16,,\n")
    (line,) = _lines("2026-10", data_dir)
    assert line["net_amount"] == "5.16"  # 10.00 × 16 / 31 = 5.161…
    assert "16–31 Oct 2026, 16 of 31 days" in line["description"]
    september = plan_period("2026-09", data_dir)  # not yet subscribed (and cus_2 has no fee, no usage)
    assert september.invoices == [] and september.usage_stats.customers_skipped == 2


def test_a_churn_on_the_20th_prorates_and_later_periods_are_not_billed(data_dir: Path) -> None:
    _write(data_dir, "cus_1,basic,2026-01-01,2026-10-20,\n")
    (line,) = _lines("2026-10", data_dir)
    assert line["net_amount"] == "6.45"  # 10.00 × 20 / 31 = 6.451…
    november = plan_period("2026-11", data_dir)
    assert "cus_1" not in {i.customer.customer_id for i in november.invoices}


def test_an_upgrade_splits_usage_and_fees_by_the_plan_in_force(data_dir: Path) -> None:
    _write(data_dir, "cus_1,basic,2026-01-01,2026-10-10,\ncus_1,metered,2026-10-11,,\n")
    plan = plan_period("2026-10", data_dir)
    invoice = next(i for i in plan.invoices if i.customer.customer_id == "cus_1")
    assert [(s.plan, s.starts_on, s.ends_on, s.days) for s in invoice.segments] == [
        ("basic", date(2026, 10, 1), date(2026, 10, 10), 10),
        ("metered", date(2026, 10, 11), date(2026, 10, 31), 21),
    ]
    assert [line.net_amount for line in invoice.lines] == [D("3.23")]  # basic's fee for 10 days
    text = render_table(plan)
    assert "plan basic from 2026-10-01 to 2026-10-10 (10 of 31 days)" in text


def test_a_coupon_becomes_a_line_discount_for_its_first_periods_only(data_dir: Path) -> None:
    _write(data_dir, "cus_1,basic,2026-09-16,,welcome20\n")
    (september,) = _lines("2026-09", data_dir)
    assert september["net_amount"] == "4.00"  # fee 5.00 (15 of 30 days) − 20 % (1.00)
    assert september["discount"] == "1.00" and september["discount_reason"] == "Welcome discount (-20 %)"
    (october,) = _lines("2026-10", data_dir)
    assert (october["net_amount"], october["discount"]) == ("8.00", "2.00")  # the second period: still on
    (november,) = _lines("2026-11", data_dir)
    assert november["net_amount"] == "10.00" and "discount" not in november  # duration_periods: 2
    invoice = to_preview_json(plan_period("2026-10", data_dir))["invoices"][0]
    assert invoice["segments"] == [
        {"plan": "basic", "starts_on": "2026-10-01", "ends_on": "2026-10-31", "days": 31, "coupons": ["welcome20"]}
    ]
    assert "-2.00" in render_table(plan_period("2026-10", data_dir))


def test_a_hundred_percent_coupon_bills_zero(data_dir: Path) -> None:
    _write(data_dir, "cus_1,basic,2026-01-01,,free\n")
    invoice = next(i for i in plan_period("2026-10", data_dir).invoices if i.customer.customer_id == "cus_1")
    assert invoice.total == D("0.00") and invoice.lines[0].discount == D("10.00")


def _priced(*nets: tuple[str | None, str]) -> list[LineDraft]:
    return [
        LineDraft(f"line {i}", "", D(1), "forfait", D(net), D("0.2"), None, D(net), metric)
        for i, (metric, net) in enumerate(nets)
    ]


def discounted(drafts: list[LineDraft], coupons: list[Coupon]) -> list[InvoiceLine]:
    """The lines the drafts become with the coupons applied (the drafts themselves untouched)."""
    copies = [dataclasses.replace(draft) for draft in drafts]
    apply_coupons(copies, coupons)
    return [draft.line() for draft in copies]


def test_amount_off_is_taken_in_invoice_order_and_never_below_zero() -> None:
    credit = Coupon(title="Credit", amount_off=D("10.00"))
    lines = discounted(_priced((None, "4.00"), ("api_calls", "3.00"), ("sms", "7.50")), [credit])
    assert [(p.discount, p.net_amount) for p in lines] == [
        (D("4.00"), D("0.00")),
        (D("3.00"), D("0.00")),
        (D("3.00"), D("4.50")),
    ]


def test_coupons_choose_their_lines() -> None:
    lines = _priced((None, "10.00"), ("api_calls", "20.00"), ("sms", "30.00"))
    fees = discounted(lines, [Coupon(title="F", percent_off=D("50"), applies_to="fees")])
    usage = discounted(lines, [Coupon(title="U", percent_off=D("10"), applies_to="usage")])
    sms = discounted(lines, [Coupon(title="S", amount_off=D("1.00"), applies_to="sms")])
    assert [p.net_amount for p in fees] == [D("5.00"), D("20.00"), D("30.00")]
    assert [p.net_amount for p in usage] == [D("10.00"), D("18.00"), D("27.00")]
    assert [p.net_amount for p in sms] == [D("10.00"), D("20.00"), D("29.00")]


@settings(max_examples=200, deadline=None)
@given(
    nets=st.lists(st.decimals(min_value=D("0.01"), max_value=D("99999"), places=2), min_size=1, max_size=6),
    percents=st.lists(st.decimals(min_value=D("0.01"), max_value=D("100"), places=2), max_size=3),
    amounts=st.lists(st.decimals(min_value=D("0.01"), max_value=D("99999"), places=2), max_size=3),
)
def test_coupons_never_bill_a_negative_line_and_a_hundred_percent_bills_zero(nets, percents, amounts) -> None:
    lines = _priced(*((None, str(net)) for net in nets))
    coupons = [Coupon(title="P", percent_off=p) for p in percents] + [Coupon(title="A", amount_off=a) for a in amounts]
    result = discounted(lines, coupons)
    assert all(p.net_amount >= 0 for p in result)
    taken = sum((p.discount or D(0) for p in result), D(0))
    assert taken <= sum(nets, D(0))
    for amount in amounts:  # each amount_off takes at most its amount
        assert taken <= sum(nets, D(0)) and amount > 0
    free = discounted(lines, [*coupons, Coupon(title="Free", percent_off=D(100))])
    assert all(p.net_amount == 0 for p in free)


@settings(max_examples=300, deadline=None)
@given(
    fee=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    month=st.integers(min_value=1, max_value=12),
    cuts=st.sets(st.integers(min_value=2, max_value=31), max_size=6),
)
def test_proration_over_a_partition_of_the_month_sums_to_the_fee(fee, month, cuts) -> None:
    period = BillingPeriod(2026, month)
    days = period.last_day.day
    starts = sorted({1, *(c for c in cuts if c <= days)})
    ends = [s - 1 for s in starts[1:]] + [days]
    plan = Plan(
        monthly_fee=MonthlyFee(title="Fee", amount=fee, vat_rate=D("0.2")),
        minimum_commitment=MinimumCommitment(title="Commitment", amount=fee * 3, vat_rate=D("0.2")),
    )
    total_fee = D(0)
    total_commitment = D(0)
    for first, last in zip(starts, ends, strict=True):
        span = DaySpan(date(2026, month, first), date(2026, month, last))
        lines = plan_lines(_customer(), plan, {}, period=period, span=span)
        exact = fee * (last - first + 1) / days
        fee_line = lines[0].net_amount if lines and lines[0].title == "Fee" else D(0)
        assert abs(fee_line - exact) <= D("0.01")  # within a cent of fee × days ÷ days in month
        total_fee += fee_line
        total_commitment += sum((p.net_amount for p in lines), D(0))
    assert total_fee == fee
    assert total_commitment == fee * 3  # fee + true-up = the prorated commitment, exactly too


@pytest.mark.parametrize(
    ("rows", "field", "reason"),
    [
        ("cus_1,basic,2026-01-01,,\ncus_1,metered,2026-06-01,,\n", "starts_on", "overlaps line 2"),
        ("cus_1,basic,2026-10-10,2026-10-01,\n", "ends_on", "the last day comes before the first"),
        ("cus_1,gold,2026-01-01,,\n", "plan", "no such plan"),
        ("cus_1,basic,2026-01-01,,nope\n", "coupons", "no such coupon"),
        ("cus_1,basic,2026-13-01,,\n", "starts_on", "not a date"),
        ("cus_1,basic,01/10/2026,,\n", "starts_on", "not a date"),
        ("cus_9,basic,2026-01-01,,\n", "customer_id", "not a customer of customers.csv"),
    ],
)
def test_bad_rows_are_refused_naming_file_line_customer_and_reason(data_dir: Path, rows, field, reason) -> None:
    _write(data_dir, rows)
    with pytest.raises(InvalidBillingInput) as raised:
        plan_period("2026-10", data_dir)
    (problem,) = [p for p in raised.value.problems if p.field == field]
    assert problem.file == "subscriptions.csv" and problem.row in (2, 3)
    assert reason in problem.reason and problem.reason.startswith("customer cus_")


def test_a_row_overlapping_an_earlier_long_row_is_reported_even_behind_a_short_one(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.csv"
    path.write_text(
        "customer_id,plan,starts_on,ends_on,coupons\n"
        "c,basic,2026-01-01,2026-12-31,\nc,basic,2026-02-01,2026-02-28,\nc,basic,2026-03-01,,\n"
    )
    book = parse_subscriptions(path)
    assert sorted(p.row for p in book.problems) == [3, 4]


@pytest.mark.parametrize(
    ("coupon", "reason"),
    [
        ('{title: X, percent_off: "120"}', "at most 100"),
        ('{title: X, percent_off: "-5"}', "non-negative"),
        ('{title: X, amount_off: "0"}', "above 0"),
        ('{title: X, amount_off: "1.005"}', "in cents"),
        ('{title: X, amount_off: "1", percent_off: "2"}', "exactly one of"),
        ('{title: X, amount_off: "1", applies_to: nothing}', "a metric declared"),
        ("{title: X, amount_off: 1.5}", "quoted decimal string"),
    ],
)
def test_bad_coupons_are_refused_with_their_line(data_dir: Path, coupon: str, reason: str) -> None:
    path = data_dir / "price_list.yaml"
    path.write_text(path.read_text() + f"coupons:\n  bad: {coupon}\n", encoding="utf-8")
    with pytest.raises(InvalidBillingInput) as raised:
        plan_period("2026-10", data_dir)
    (problem,) = raised.value.problems
    assert problem.file == "price_list.yaml" and problem.row is not None and reason in problem.reason
