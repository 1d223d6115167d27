"""The delivery sensor: says what is in flight, requests a delivery run when the network moved, and
probes a bounded, rotating window of submitted e-invoices."""

from __future__ import annotations

import json
import time

import dagster as dg
import pytest

from billing_pipeline.defs.delivery import sensor as module
from billing_pipeline.defs.delivery.sensor import delivery_lifecycle_sensor
from billing_pipeline.invoicing.delivery.records import DeliveryState
from billing_pipeline_tests.defs_for_tests import delivered_invoices
from billing_pipeline_tests.pipeline.conftest import EINVOICING_DELAY_S, PipelineWorld
from billing_pipeline_tests.pipeline.small_world import PERIOD, failure_text, materialize
from billing_pipeline_tests.pipeline.test_delivery import _bill_collect_deliver


def _tick(world: PipelineWorld, cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(resources=world.resources, cursor=cursor) as context:
        result = delivery_lifecycle_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_the_sensor_requests_a_delivery_run_once_the_network_moved_and_skips_otherwise(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    _bill_collect_deliver(world, instance)
    submitted = world.billing.ledger().deliveries(PERIOD, {DeliveryState.SUBMITTED})
    assert submitted, "the sample's French companies are on the network"
    time.sleep(2 * EINVOICING_DELAY_S + 0.3)
    moved = _tick(world)
    assert [r.partition_key for r in moved.run_requests or []] == [PERIOD]
    again = _tick(world)
    assert [r.run_key for r in again.run_requests or []] == [r.run_key for r in moved.run_requests or []]

    followed = materialize(world, instance, [delivered_invoices])
    assert followed.success, failure_text(followed)
    assert not world.billing.ledger().deliveries(PERIOD, {DeliveryState.SUBMITTED})
    quiet = _tick(world)
    assert not quiet.run_requests
    assert quiet.skip_reason is not None and "0 e-invoice(s) on the network" in str(quiet.skip_reason)


def test_probes_are_bounded_per_tick_and_rotate(
    world: PipelineWorld, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bill_collect_deliver(world, instance)
    submitted = world.billing.ledger().deliveries(PERIOD, {DeliveryState.SUBMITTED})
    monkeypatch.setattr(module, "MAX_PROBES_PER_TICK", 5)
    probed: list[list[str]] = []
    original = module.lifecycle_moved

    async def counting(qonto, records):  # type: ignore[no-untyped-def]
        probed.append([r.invoice_id for r in records])
        return await original(qonto, records)

    monkeypatch.setattr(module, "lifecycle_moved", counting)
    cursor = None
    for _ in range(4):
        result = _tick(world, cursor)
        cursor = result.cursor
    assert all(len(window) <= 5 for window in probed)
    seen = {invoice_id for window in probed for invoice_id in window}
    assert seen == {d.invoice_id for d in submitted}  # 4 ticks of 5 cover the 16 submitted
    assert json.loads(cursor or "{}").get("offset") is not None
