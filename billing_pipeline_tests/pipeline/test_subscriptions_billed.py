"""A period with an upgrade, a mid-month start, a churn and coupons, billed by a headless ``bill``
on the embedded emulator (no credentials, no DAGSTER_HOME) — then a coupon changed afterwards.

The sample data's November 2026 holds all of it (README, "Subscriptions, coupons and aggregations").
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from lxml import etree

from billing_pipeline.billing.planning import plan_period, to_preview_json
from billing_pipeline.facturx import verify_pdf
from billing_pipeline.facturx.verification import RuleSet
from billing_pipeline_tests.pipeline.conftest import copy_sample_data
from billing_pipeline_tests.pipeline.test_headless_bill import _bill

PERIOD = "2026-11"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"


def _embedded_xml(pdf: bytes) -> etree._Element:
    from facturx import get_xml_from_pdf

    _, xml = get_xml_from_pdf(pdf, check_xsd=False)
    return etree.fromstring(xml)


def test_upgrade_start_churn_and_coupons_are_billed_and_their_factur_x_pass_every_layer(tmp_path: Path) -> None:
    data = copy_sample_data(tmp_path / "data")
    preview = {i["customer_id"]: i for i in to_preview_json(plan_period(PERIOD, data))["invoices"]}
    upgraded, newcomer = preview["cus_fr_001"], preview["cus_fr_017"]
    assert [s["plan"] for s in upgraded["segments"]] == ["starter", "growth"]
    assert any("discount" in line for line in upgraded["lines"])  # api10 on the growth segment's API calls
    assert newcomer["segments"][0]["starts_on"] == "2026-11-16"

    result = _bill(tmp_path, "--period", PERIOD, "--wait", "120", "--format", "json")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "cus_fr_002" in result.stderr and "not billed" in result.stderr  # usage after its churn: a warning
    report = {i["customer_id"]: i for i in json.loads(result.stdout)["invoices"]}
    assert set(report) == set(preview)
    for customer_id, invoice in report.items():
        assert invoice["status"] == "stored", customer_id
        assert Decimal(invoice["total"]) == Decimal(preview[customer_id]["total"])  # Qonto agrees to the cent
        pdf = Path(invoice["file"]).read_bytes()
        verdict = verify_pdf(pdf, rules=RuleSet.FRANCE)
        assert verdict.valid, (customer_id, [e.message for e in verdict.errors])
    for customer_id in ("cus_fr_001", "cus_fr_003", "cus_fr_017"):  # the coupons' customers
        xml = _embedded_xml(Path(report[customer_id]["file"]).read_bytes())
        allowances = xml.findall(f".//{{{RAM}}}SpecifiedLineTradeSettlement/{{{RAM}}}SpecifiedTradeAllowanceCharge")
        expected = sum(Decimal(line.get("discount", "0")) for line in preview[customer_id]["lines"])
        found = sum(Decimal(a.findtext(f"{{{RAM}}}ActualAmount")) for a in allowances)
        assert allowances and found == expected, customer_id


def test_a_coupon_added_after_finalization_is_corrected_once(tmp_path: Path) -> None:
    data = copy_sample_data(tmp_path / "data")
    first = _bill(tmp_path, "--period", PERIOD, "--wait", "120", "--format", "json")
    assert first.returncode == 0, first.stderr[-3000:]
    billed = {i["customer_id"]: i for i in json.loads(first.stdout)["invoices"]}

    # finance grants cus_fr_017 an extra credit on November after its invoice was issued
    subscriptions = data / "subscriptions.csv"
    row = "cus_fr_017,growth,2026-11-16,,welcome20"
    subscriptions.write_text(subscriptions.read_text().replace(row, row + ";loyalty50"))
    corrected_total = Decimal(
        next(i for i in to_preview_json(plan_period(PERIOD, data))["invoices"] if i["customer_id"] == "cus_fr_017")[
            "total"
        ]
    )
    assert corrected_total < Decimal(billed["cus_fr_017"]["total"])

    second = _bill(tmp_path, "--period", PERIOD, "--wait", "120", "--format", "json")
    assert second.returncode == 0, second.stderr[-3000:]
    corrections = json.loads(second.stdout)["corrections"]
    assert {c["customer_id"] for c in corrections} == {"cus_fr_017"}
    credit = [c for c in corrections if c["kind"] == "credit_note"]
    assert credit and credit[0]["corrects"] == billed["cus_fr_017"]["number"]

    third = _bill(tmp_path, "--period", PERIOD, "--format", "json")  # nothing more to correct
    assert third.returncode == 0, third.stderr[-3000:]
    assert json.loads(third.stdout)["corrections"] == corrections
