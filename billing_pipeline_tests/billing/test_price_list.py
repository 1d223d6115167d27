"""Each bad price list names the file, YAML line, field, value and reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from billing_pipeline.billing.models import InputProblem, InvalidBillingInput
from billing_pipeline.billing.price_list import GraduatedCharge, load_price_list, parse_price_list
from billing_pipeline_tests.billing.conftest import PRICE_LIST, SAMPLE_DIR


def problems_of(tmp_path: Path, text: str) -> list[InputProblem]:
    path = tmp_path / "price_list.yaml"
    path.write_text(text, encoding="utf-8")
    reading = parse_price_list(path)
    assert reading.price_list is None
    return reading.problems


def only(problems: list[InputProblem]) -> tuple[str, int | None, str | None, str | None, str]:
    assert len(problems) == 1, problems
    p = problems[0]
    return p.file, p.row, p.field, p.value, p.reason


def test_sample_price_list_parses() -> None:
    price_list = load_price_list(SAMPLE_DIR / "price_list.yaml")
    assert set(price_list.plans) == {"starter", "growth", "enterprise"}
    assert set(price_list.metrics) == {
        "api_calls", "compute_minutes", "data_transfer_gb", "sms_sent",
        "active_users", "seats", "peak_jobs", "storage_gb", "webhooks",
    }  # fmt: skip
    assert {m.aggregation for m in price_list.metrics.values()} == {
        "sum", "count", "unique_count", "max", "latest", "weighted_sum"
    }  # fmt: skip
    assert set(price_list.coupons) == {"welcome20", "api10", "loyalty50"}
    growth = price_list.plans["growth"]
    assert isinstance(growth.charges["api_calls"], GraduatedCharge)
    assert growth.minimum_commitment is not None and growth.minimum_commitment.amount == Decimal("250.00")


def test_float_amount(tmp_path: Path) -> None:
    text = PRICE_LIST.replace('unit_price: "0.01"', "unit_price: 0.01", 1)
    assert only(problems_of(tmp_path, text)) == (
        "price_list.yaml",
        19,
        "plans.basic.charges.api_calls.unit_price",
        "0.01",
        'write it as a quoted decimal string such as "0.0004" (YAML numbers with a point are floats)',
    )


def test_missing_metric_in_plan(tmp_path: Path) -> None:
    text = PRICE_LIST.replace("      storage_gb:\n        model: package", "      disk_gb:\n        model: package")
    assert only(problems_of(tmp_path, text)) == (
        "price_list.yaml",
        28,
        "plans.metered.charges.disk_gb",
        "disk_gb",
        "the plan charges a metric that the price list does not declare under metrics",
    )


TIERED = """\
currency: EUR
metrics:
  api_calls:
    description: API requests
plans:
  tiered:
    charges:
      api_calls:
        model: graduated
        title: API calls
        unit: call
        vat_rate: "0.20"
        tiers:
          - up_to: "{first}"
            unit_price: "0.01"
          - up_to: {second}
            unit_price: "0.005"
          - up_to: {third}
            unit_price: "0.001"
"""


def test_overlapping_tiers(tmp_path: Path) -> None:
    text = TIERED.format(first="1000", second='"1000"', third="null")
    assert only(problems_of(tmp_path, text)) == (
        "price_list.yaml",
        16,
        "plans.tiered.charges.api_calls.tiers[1].up_to",
        "1000",
        "tiers overlap or are not sorted: up_to must be above the previous bound 1000",
    )


def test_unsorted_tiers(tmp_path: Path) -> None:
    text = TIERED.format(first="5000", second='"1000"', third="null")
    assert only(problems_of(tmp_path, text))[1:4] == (16, "plans.tiered.charges.api_calls.tiers[1].up_to", "1000")


def test_bounded_last_tier_and_unbounded_middle_tier(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, TIERED.format(first="1000", second="null", third='"9000"'))
    assert [(p.row, p.field, p.reason) for p in problems] == [
        (16, "plans.tiered.charges.api_calls.tiers[1].up_to", "only the last tier may be unbounded (up_to: null)"),
        (
            18,
            "plans.tiered.charges.api_calls.tiers[2].up_to",
            "the last tier must be unbounded (up_to: null) so every quantity has a price",
        ),
    ]


def test_zero_vat_needs_a_qonto_exemption_code(tmp_path: Path) -> None:
    text = PRICE_LIST.replace(
        '      amount: "10.00"\n      vat_rate: "0.20"', '      amount: "10.00"\n      vat_rate: "0"'
    )
    assert only(problems_of(tmp_path, text)) == (
        "price_list.yaml",
        12,
        "plans.basic.monthly_fee.vat_rate",
        "0",
        "a 0 VAT rate needs a vat_exemption_reason (a Qonto code such as S293B)",
    )
    text = text.replace('vat_rate: "0"', 'vat_rate: "0"\n      vat_exemption_reason: "X99"')
    problem = only(problems_of(tmp_path, text))
    assert problem[1:4] == (13, "plans.basic.monthly_fee.vat_exemption_reason", "X99")
    assert problem[4].startswith("not a Qonto VAT exemption code (S122, S13B")


def test_vat_rate_as_a_percentage(tmp_path: Path) -> None:
    text = PRICE_LIST.replace(
        '      amount: "10.00"\n      vat_rate: "0.20"', '      amount: "10.00"\n      vat_rate: "20"'
    )
    assert only(problems_of(tmp_path, text)) == (
        "price_list.yaml",
        12,
        "plans.basic.monthly_fee.vat_rate",
        "20",
        'a VAT rate is a fraction: "0.20" for 20 %',
    )


def test_unknown_key_and_unknown_model(tmp_path: Path) -> None:
    text = PRICE_LIST.replace("        model: package", "        model: bundle").replace(
        '        unit_price: "0.01"\n  metered:', '        unit_price: "0.01"\n        discount: "5"\n  metered:'
    )
    problems = problems_of(tmp_path, text)
    assert [(p.row, p.field, p.value) for p in problems] == [
        (20, "plans.basic.charges.api_calls.discount", "5"),
        (30, "plans.metered.charges.storage_gb.model", "bundle"),
    ]
    assert problems[0].reason == "unknown key (check its spelling)"
    assert "'per_unit', 'graduated', 'volume', 'package'" in problems[1].reason


def test_duplicate_plan_name(tmp_path: Path) -> None:
    text = PRICE_LIST.replace("  metered:", "  basic:")
    problem = only(problems_of(tmp_path, text))
    assert problem == (
        "price_list.yaml",
        20,
        "plans.basic",
        "basic",
        "duplicate key: YAML would silently keep only the last one",
    )


def test_amount_with_sub_cents_and_currency(tmp_path: Path) -> None:
    text = PRICE_LIST.replace('amount: "10.00"', 'amount: "10.005"').replace("currency: EUR", "currency: USD")
    problems = problems_of(tmp_path, text)
    assert [(p.row, p.field, p.value, p.reason) for p in problems] == [
        (1, "currency", "USD", "Qonto issues invoices in EUR only: the price list currency must be EUR"),
        (11, "plans.basic.monthly_fee.amount", "10.005", "an amount has at most 2 decimals (cents)"),
    ]


def test_graduated_title_too_long_for_tier_lines(tmp_path: Path) -> None:
    text = TIERED.format(first="1000", second='"2000"', third="null").replace(
        "title: API calls", "title: Requests to the public REST API x"
    )
    problem = only(problems_of(tmp_path, text))
    assert problem[1:4] == (10, "plans.tiered.charges.api_calls.title", "Requests to the public REST API x")
    assert problem[4] == (
        "graduated lines are titled like 'Requests to the public REST API x (tier 3)', "
        "over Qonto's 40 characters: shorten the title"
    )


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    problem = only(problems_of(tmp_path, "currency: EUR\nplans: [unclosed\n"))
    assert problem[:3] == ("price_list.yaml", 3, None)
    assert problem[4].startswith("not valid YAML")
    with pytest.raises(InvalidBillingInput, match=r"price_list\.yaml: file not found"):
        load_price_list(tmp_path / "nowhere" / "price_list.yaml")
