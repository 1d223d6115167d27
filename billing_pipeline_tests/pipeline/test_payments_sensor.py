"""The transactions sensor: a payment_matching run only for new credit transfers; the skip reason
says what it saw; the cursor moves with Qonto's updated_at; counted transfers never request again."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from billing_pipeline.defs.payments.sensor import payments_sensor
from billing_pipeline_tests.defs_for_tests import DEFS
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.payments_world import bill, run_payments, settled_days_ago, total


def _tick(world: PipelineWorld, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, resources=world.resources, cursor=cursor) as context:
        result = payments_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_sensor_requests_a_pass_for_new_credits_only(world: PipelineWorld, instance: dg.DagsterInstance) -> None:
    empty = _tick(world, instance)
    assert not empty.run_requests and "0 completed credit transaction(s)" in empty.skip_reason.skip_message

    invoices = bill(world, instance, {"alpha": 100})
    world.emulator.transfer("9.00", side="debit", label="frais", reference=invoices["alpha"]["number"])
    debit_only = _tick(world, instance, empty.cursor)
    assert not debit_only.run_requests  # a debit is not a payment

    world.emulator.transfer(
        str(total(invoices["alpha"])), reference=invoices["alpha"]["number"], settled_at=settled_days_ago(world, 1)
    )
    new = _tick(world, instance, debit_only.cursor)
    [request] = new.run_requests
    assert (
        request.job_name in (None, "payment_matching") and request.run_key and request.run_key.startswith("payments:")
    )
    assert new.cursor  # Qonto's updated_at high-water mark

    run_payments(world, instance)
    after = _tick(world, instance, new.cursor)
    assert not after.run_requests
    assert "1 completed credit transaction(s)" in after.skip_reason.skip_message
    assert "none new" in after.skip_reason.skip_message


def test_the_sensor_and_the_daily_schedule_target_the_payment_job() -> None:
    assert DEFS.resolve_sensor_def("payments_sensor").job_name == "payment_matching"
    schedule = DEFS.resolve_schedule_def("payment_matching_schedule")
    assert schedule.job_name == "payment_matching" and schedule.cron_schedule == "0 7 * * *"
    job = DEFS.resolve_job_def("payment_matching")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {"payments", "receivables"}
    # payments depend on the monthly invoice assets for lineage only: the job is not partitioned and a
    # tick asks for no partition, so nothing of any period's partitions can hold a pass back
    assert job.partitions_def is None
    at = datetime(2026, 11, 20, 7, tzinfo=ZoneInfo("Europe/Paris"))
    [request] = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=at)).run_requests
    assert request.partition_key is None
