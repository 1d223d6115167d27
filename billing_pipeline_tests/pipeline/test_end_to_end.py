"""Materialize the five assets against the emulator over loopback HTTP, then prove exactly-once."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import dagster as dg
import yaml

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.defs.metadata import table_records
from billing_pipeline.facturx import verify_pdf
from billing_pipeline.invoicing.ledger import InvoiceState
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, facturx_files
from billing_pipeline_tests.pipeline.conftest import RENDER_DELAY_S, PipelineWorld

UP_TO_FINALIZED = BILLING_ASSETS[:4]


def _bill(world: PipelineWorld, instance: dg.DagsterInstance, period: str) -> dg.ExecuteInProcessResult:
    result = dg.materialize(UP_TO_FINALIZED, partition_key=period, resources=world.resources, instance=instance)
    assert result.success
    time.sleep(RENDER_DELAY_S + 0.3)
    collected = dg.materialize([facturx_files], partition_key=period, resources=world.resources, instance=instance)
    assert collected.success
    return collected


def _invoices_per_reference(world: PipelineWorld) -> Counter:
    return Counter(i["header"] for i in world.live_invoices())


def test_one_period_end_to_end_stores_one_verified_file_per_customer(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    plan = plan_period("2026-10", world.data_dir)
    result = _bill(world, instance, "2026-10")

    ledger = world.billing.ledger()
    records = ledger.invoices("2026-10")
    assert {r.customer_id for r in records} == {i.customer.customer_id for i in plan.invoices}
    assert all(r.state == InvoiceState.STORED for r in records)
    files = sorted((world.invoices_dir / "2026-10").glob("*.pdf"))
    assert len(files) == len(plan.invoices)
    planned_totals = {i.customer.customer_id: i.total for i in plan.invoices}
    for record in records:
        report = verify_pdf(Path(record.file_path).read_bytes())
        assert report.valid, report.errors
        assert report.invoice_number == record.number
        assert report.totals.total == planned_totals[record.customer_id]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "every_finalized_invoice_has_verified_file": True,
        "facturx_matches_plan_and_qonto": True,
        "every_correction_has_verified_file": True,  # none issued: nothing to verify
    }
    # the emulator holds exactly one invoice per customer, and Qonto's totals are ours
    qonto_totals = {i["id"]: Decimal(i["total_amount"]["value"]) for i in world.live_invoices()}
    assert sorted(qonto_totals[r.invoice_id] for r in records) == sorted(planned_totals.values())
    assert sum(qonto_totals.values()) == plan.total
    # bounded metadata: a typed table of the top rows, amounts with their currency, and the full file
    usage = instance.get_latest_materialization_event(dg.AssetKey("billable_usage"))
    assert usage is not None and usage.asset_materialization is not None
    metadata = usage.asset_materialization.metadata
    assert isinstance(metadata["invoices"], dg.TableMetadataValue)
    assert {c.name: c.type for c in metadata["invoices"].schema.columns}["total"] == "money"
    top = table_records(metadata["invoices"])
    assert len(top) == min(50, len(plan.invoices)) and top[0]["total"] == f"{max(planned_totals.values())} EUR"
    assert metadata["invoices_rows"].value == len(plan.invoices)
    full = Path(metadata["invoices_file"].value).read_text(encoding="utf-8").splitlines()
    assert full[0] == "customer,name,plan,lines,discount,net,vat,total,currency" and len(full) == len(plan.invoices) + 1


def test_rematerializing_and_backfilling_twice_creates_nothing_new(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    periods = ["2026-08", "2026-09", "2026-10"]
    for period in periods:
        _bill(world, instance, period)
    state = world.emulator.state()
    clients_before, invoices_before = len(state["clients"]), len(state["client_invoices"])
    per_reference = _invoices_per_reference(world)
    assert set(per_reference.values()) == {1}
    expected = sum(len(plan_period(p, world.data_dir).invoices) for p in periods)
    assert invoices_before == expected

    for period in periods:  # the same 3-period backfill again
        _bill(world, instance, period)
    state = world.emulator.state()
    assert len(state["clients"]) == clients_before
    assert len(state["client_invoices"]) == invoices_before
    assert _invoices_per_reference(world) == per_reference


def test_corrected_usage_updates_the_draft_instead_of_creating_one(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    drafts_only = BILLING_ASSETS[:3]
    assert dg.materialize(drafts_only, partition_key="2026-10", resources=world.resources, instance=instance).success
    before = {i["id"]: i["total_amount"]["value"] for i in world.live_invoices()}
    plan = plan_period("2026-10", world.data_dir)
    customer = plan.invoices[0].customer.customer_id
    metric = _a_metric_used_by(world, customer, "2026-10")
    (world.data_dir / "usage" / "late_correction.csv").write_text(
        "event_id,customer_id,metric,quantity,timestamp\n"
        f"late-correction-1,{customer},{metric},10000000,2026-10-15T12:00:00Z\n"
    )
    result = dg.materialize(drafts_only, partition_key="2026-10", resources=world.resources, instance=instance)
    assert result.success
    after = {i["id"]: i["total_amount"]["value"] for i in world.live_invoices()}
    assert after.keys() == before.keys()  # same invoices, no new one
    changed = [invoice_id for invoice_id in after if after[invoice_id] != before[invoice_id]]
    assert len(changed) == 1
    record = world.billing.ledger().invoice(customer, "2026-10")
    assert changed == [record.invoice_id]
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_usage_change_after_finalization_fails_the_late_usage_check(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    assert dg.materialize(
        UP_TO_FINALIZED, partition_key="2026-10", resources=world.resources, instance=instance
    ).success
    invoices_before = world.live_invoices()
    plan = plan_period("2026-10", world.data_dir)
    customer = plan.invoices[0].customer.customer_id
    metric = _a_metric_used_by(world, customer, "2026-10")
    (world.data_dir / "usage" / "late.csv").write_text(
        f"event_id,customer_id,metric,quantity,timestamp\nlate-1,{customer},{metric},10000000,2026-10-20T12:00:00Z\n"
    )
    result = dg.materialize(
        UP_TO_FINALIZED, partition_key="2026-10", resources=world.resources, instance=instance, raise_on_error=False
    )
    late = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_late_usage_after_finalization"]
    assert len(late) == 1 and not late[0].passed
    assert customer in [row["customer_id"] for row in table_records(late[0].metadata["differences"])]
    # nothing was edited or created in Qonto
    assert world.live_invoices() == invoices_before


def test_invalid_usage_fails_before_any_qonto_call(world: PipelineWorld, instance: dg.DagsterInstance) -> None:
    (world.data_dir / "usage" / "broken.csv").write_text(
        "event_id,customer_id,metric,quantity,timestamp\nbroken-1,no-such-customer,api_calls,3,2026-10-10T10:00:00Z\n"
        "broken-2,cus_fr_001,api_calls,-3,2026-10-10T10:00:00Z\n"
    )
    requests_before = world.emulator.stats()["api_requests"]
    result = dg.materialize(
        UP_TO_FINALIZED, partition_key="2026-10", resources=world.resources, instance=instance, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert "2 problem(s)" in description
    assert "broken.csv" in description and "no-such-customer" in description
    problems = table_records(failure.step_failure_data.user_failure_data.metadata["problems"])
    assert {(row["value"], row["reason"]) for row in problems} >= {
        ("no-such-customer", "unknown customer_id not in customers.csv"),
        ("-3", "negative quantity"),
    }
    assert world.emulator.stats()["api_requests"] == requests_before
    assert world.emulator.state()["client_invoices"] == []


def _a_metric_used_by(world: PipelineWorld, customer_id: str, period: str) -> str:
    """A summed metric the customer's plan charges for (enough extra usage always changes the invoice)."""
    plan = plan_period(period, world.data_dir)
    prices = yaml.safe_load((world.data_dir / "price_list.yaml").read_text())
    invoice = next(i for i in plan.invoices if i.customer.customer_id == customer_id)
    summed = {name for name, metric in prices["metrics"].items() if metric.get("aggregation", "sum") == "sum"}
    return next(metric for metric in prices["plans"][invoice.customer.plan]["charges"] if metric in summed)


def test_finalize_refused_under_api_key_says_to_use_oauth(tmp_path: Path) -> None:
    from billing_pipeline.defs.resources import BillingResource, QontoResource
    from billing_pipeline.emulator.testing import running_emulator
    from billing_pipeline_tests.pipeline.conftest import copy_sample_data

    with running_emulator(refuse_api_key_finalize=True, state_path=tmp_path / "emulator.sqlite") as emulator:
        data_dir = copy_sample_data(tmp_path / "data")
        resources = {
            "qonto": QontoResource(mode="custom", base_url=emulator.base_url, api_key=emulator.api_key,
                                   state_dir=str(tmp_path / "state")),
            "billing": BillingResource(data_dir=str(data_dir), invoices_dir=str(tmp_path / "invoices"),
                                       state_dir=str(tmp_path / "state")),
        }  # fmt: skip
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                UP_TO_FINALIZED, partition_key="2026-10", resources=resources, instance=instance, raise_on_error=False
            )
        invoices = emulator.state()["client_invoices"]
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "finalized_invoices"
    assert "QONTO_OAUTH_REFRESH_TOKEN" in str(failure.event_specific_data.error)
    assert invoices and all(i["status"] == "draft" for i in invoices)  # drafts kept, nothing finalized


def test_usage_from_a_sql_table_bills_like_the_files(world: PipelineWorld, instance: dg.DagsterInstance) -> None:
    from billing_pipeline.defs.resources import BillingResource
    from billing_pipeline_tests.billing.test_sql_usage import create_usage_table, sample_events

    url = f"sqlite:///{world.state_dir.parent / 'usage.sqlite'}"
    create_usage_table(url, sample_events())
    from_table = BillingResource(
        data_dir=str(world.data_dir), invoices_dir=str(world.invoices_dir), state_dir=str(world.state_dir),
        usage_url=url,
    )  # fmt: skip
    from_table_resources = {"qonto": world.qonto, "billing": from_table}
    result = dg.materialize(BILLING_ASSETS[:1], partition_key="2026-10", resources=from_table_resources,
                            instance=instance)  # fmt: skip
    assert result.success
    materialization = result.asset_materializations_for_node("billable_usage")[0]
    assert materialization.metadata["usage_source"].value.endswith("#usage_events")
    from_files = plan_period("2026-10", world.data_dir)
    assert materialization.metadata["total"].value == str(from_files.total)
    assert materialization.metadata["customers_billed"].value == len(from_files.invoices)
