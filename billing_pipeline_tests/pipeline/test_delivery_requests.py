"""Requests per invoice (issue 23): delivery's check before each send, the following of e-invoices and a
collection's re-reads come from one listing of the period's invoices, not one read per invoice — and the
listing never decides alone."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from billing_pipeline.emulator.testing import running_emulator
from billing_pipeline.invoicing.delivery import lifecycle, service
from billing_pipeline.invoicing.delivery.records import DeliveryChannel, DeliveryState
from billing_pipeline.invoicing.invoices.listed import listed_invoices
from billing_pipeline.qonto.models import ClientInvoice, Page
from billing_pipeline.qonto.wire import PageMeta
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, delivered_invoices, facturx_files
from billing_pipeline_tests.pipeline.conftest import EINVOICING_DELAY_S, RENDER_DELAY_S, PipelineWorld, world_on
from billing_pipeline_tests.pipeline.small_world import PERIOD, Person, failed_checks, failure_text, materialize

BILLING = [a for a in BILLING_ASSETS if a not in (facturx_files, delivered_invoices)]
READ = "GET /v2/client_invoices/{id}"
LIST = "GET /v2/client_invoices"


def _collected(world: PipelineWorld, instance: dg.DagsterInstance) -> None:
    billed = materialize(world, instance, BILLING)
    assert billed.success, failure_text(billed)
    time.sleep(RENDER_DELAY_S + 0.5)
    collected = materialize(world, instance, [facturx_files])
    assert collected.success, failure_text(collected)


def _deliver(world: PipelineWorld, instance: dg.DagsterInstance) -> dict[str, int]:
    """Materialize delivered_invoices; the API requests it made, by route."""
    before = world.emulator.stats()["requests"]
    result = materialize(world, instance, [delivered_invoices])
    assert result.success, failure_text(result)
    assert not failed_checks(result)
    after = world.emulator.stats()["requests"]
    return {route: count - before.get(route, 0) for route, count in after.items() if count > before.get(route, 0)}


def test_delivery_checks_and_follows_from_the_listing_without_reading_each_invoice(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    _collected(world, instance)
    ledger = world.billing.ledger()
    stored = [r for r in ledger.invoices(PERIOD) if r.state.value == "stored"]
    assert len(stored) >= 20
    calls = _deliver(world, instance)
    assert calls.get(READ, 0) == 0 and calls[LIST] == 1  # one page of 100 for every pre-send check
    deliveries = ledger.deliveries(PERIOD)
    assert len(deliveries) == len(stored)
    submitted = [d for d in deliveries if d.channel == DeliveryChannel.EINVOICE]
    assert submitted and all(d.state == DeliveryState.SUBMITTED for d in submitted)

    time.sleep(2 * EINVOICING_DELAY_S + 0.3)
    calls = _deliver(world, instance)
    assert calls.get(READ, 0) == 0 and calls[LIST] == 1  # the network's progress, from the list view
    received = [d for d in ledger.deliveries(PERIOD) if d.channel == DeliveryChannel.EINVOICE]
    assert {d.state for d in received} == {DeliveryState.RECEIVED}


def test_an_invoice_canceled_after_its_file_was_verified_is_not_delivered(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    _collected(world, instance)
    ledger = world.billing.ledger()
    canceled = next(r for r in ledger.invoices(PERIOD) if r.state.value == "stored")
    person = Person(world)
    try:
        person.cancel(canceled.invoice_id or "")
    finally:
        person.close()
    calls = _deliver(world, instance)
    assert calls.get(READ, 0) == 0  # the listing shows the cancelation
    assert ledger.delivery(canceled.invoice_id or "") is None
    state = world.emulator.state()
    assert canceled.invoice_id not in {e["invoice_id"] for e in state["sent_emails"]}
    assert canceled.invoice_id not in {s["invoice_id"] for s in state["einvoice_submissions"]}


def test_an_invoice_the_listing_does_not_show_is_read_on_its_own(
    world: PipelineWorld, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _collected(world, instance)
    missing = next(r for r in world.billing.ledger().invoices(PERIOD) if r.state.value == "stored")

    async def without_one(qonto: Any, finalized: Any) -> dict[str, ClientInvoice]:
        listed = await listed_invoices(qonto, finalized)
        listed.pop(missing.invoice_id or "")
        return listed

    monkeypatch.setattr(service, "listed_invoices", without_one)
    calls = _deliver(world, instance)
    assert calls[READ] == 1
    assert world.billing.ledger().delivery(missing.invoice_id or "") is not None


def test_an_e_invoice_not_read_in_full_for_long_is_read_again_and_its_lifecycle_recorded(
    world: PipelineWorld, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _collected(world, instance)
    _deliver(world, instance)
    ledger = world.billing.ledger()
    submitted = [d for d in ledger.deliveries(PERIOD) if d.channel == DeliveryChannel.EINVOICE]
    time.sleep(2 * EINVOICING_DELAY_S + 0.3)
    # every full look is "long ago": the list view's status no longer stands for the lifecycle
    monkeypatch.setattr(lifecycle, "FULL_READ_AFTER_S", 0)
    calls = _deliver(world, instance)
    assert calls[READ] == len(submitted)
    for delivery in ledger.deliveries(PERIOD):
        if delivery.channel == DeliveryChannel.EINVOICE:
            assert delivery.state == DeliveryState.RECEIVED
            assert [e["status_code"] for e in delivery.events] == [200, 201, 202]


def _invoice(**fields: Any) -> ClientInvoice:
    return ClientInvoice.model_validate({"id": "i", "status": "unpaid", **fields})


def test_only_a_submitted_status_keeps_an_e_invoice_from_being_submitted() -> None:
    assert not service._on_the_network(_invoice())
    # "pending" may mean "not yet submitted": submitting again is Qonto's documented no-op
    assert not service._on_the_network(_invoice(einvoicing_status="pending"))
    assert service._on_the_network(_invoice(einvoicing_status="submitted"))
    assert service._on_the_network(_invoice(einvoicing_lifecycle_events=[{"status_code": 200}]))


class _Listing:
    def __init__(self, total_pages: int) -> None:
        self.total_pages = total_pages
        self.calls = 0

    async def list_client_invoices(self, **_: Any) -> Page[ClientInvoice]:
        self.calls += 1
        meta = PageMeta(current_page=1, next_page=2 if self.total_pages > 1 else None, total_pages=self.total_pages)
        return Page[ClientInvoice](items=[_invoice(id="a")], meta=meta)


def test_the_listing_is_used_only_when_it_costs_fewer_requests_than_reads() -> None:
    now = datetime.now(UTC)
    three = {"a": now, "b": now, "c": now}
    few = _Listing(total_pages=1)
    assert asyncio.run(listed_invoices(few, {"a": now, "b": now})) == {} and few.calls == 0  # type: ignore[arg-type]
    many_pages = _Listing(total_pages=4)
    assert asyncio.run(listed_invoices(many_pages, three)) == {} and many_pages.calls == 1  # type: ignore[arg-type]
    one_page = _Listing(total_pages=1)
    assert set(asyncio.run(listed_invoices(one_page, three))) == {"a"}  # type: ignore[arg-type]


def test_a_collection_pass_learns_the_attachments_it_lacks_from_one_listing(tmp_path: Path) -> None:
    """Qonto's finalize answer may come without ``attachment_id`` ("may be None initially"): the collection
    pass learns the missing ones from one listing of the period instead of reading each invoice."""
    gap_s = 3.0
    with running_emulator(
        render_delay_s=RENDER_DELAY_S, attachment_gap_s=gap_s, state_path=tmp_path / "emulator.sqlite"
    ) as emulator:
        world = world_on(emulator, tmp_path)
        with dg.instance_for_test() as instance:
            billed = materialize(world, instance, BILLING)
            assert billed.success, failure_text(billed)
            ledger = world.billing.ledger()
            lacking = [r for r in ledger.invoices(PERIOD) if r.attachment_id is None]
            assert len(lacking) >= 3
            time.sleep(gap_s + RENDER_DELAY_S + 0.5)
            before = world.emulator.stats()["requests"]
            collected = materialize(world, instance, [facturx_files])
            assert collected.success, failure_text(collected)
            after = world.emulator.stats()["requests"]
    assert after.get(READ, 0) - before.get(READ, 0) == 0
    assert after[LIST] - before.get(LIST, 0) >= 1
    assert all(r.state.value == "stored" for r in ledger.invoices(PERIOD))
