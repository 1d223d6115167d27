"""Several periods billed in parallel processes while the sensor ticks: no duplicate, no 429 storm;
and a sensor tick stays bounded with thousands of invoices waiting."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.defs.documents.sensor import MAX_PERIODS_PER_TICK, facturx_attachment_sensor
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import InvoiceState, Ledger
from billing_pipeline.qonto.models import Attachment, ClientInvoice
from billing_pipeline_tests.defs_for_tests import facturx_files
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.test_crash_recovery import start_run

PERIODS = ("2026-08", "2026-09", "2026-10")


def test_parallel_backfill_with_the_sensor_ticking(world: PipelineWorld, tmp_path: Path) -> None:
    ticks: list[object] = []
    stop = threading.Event()

    def tick_sensor() -> None:
        with dg.instance_for_test() as instance:
            cursor = None
            while not stop.is_set():
                with dg.build_sensor_context(instance=instance, resources=world.resources, cursor=cursor) as ctx:
                    result = facturx_attachment_sensor(ctx)
                if isinstance(result, dg.SensorResult):
                    cursor = result.cursor or cursor
                ticks.append(result)
                time.sleep(0.3)

    ticker = threading.Thread(target=tick_sensor, daemon=True)
    ticker.start()
    runs = [start_run(world, tmp_path / f"home-{period}", period) for period in PERIODS]
    for process in runs:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr.decode()[-3000:]
    time.sleep(1.0)
    stop.set()
    ticker.join(30)

    requested = {r.partition_key for t in ticks if isinstance(t, dg.SensorResult) for r in t.run_requests}
    assert requested == set(PERIODS)  # every period got its collection run requested
    with dg.instance_for_test() as instance:
        for period in PERIODS:
            assert dg.materialize([facturx_files], partition_key=period, resources=world.resources,
                                  instance=instance).success  # fmt: skip
    state = world.emulator.state()
    headers = Counter(i["header"] for i in state["client_invoices"])
    assert set(headers.values()) == {1}
    assert len(headers) == sum(len(plan_period(p, world.data_dir).invoices) for p in PERIODS)
    stats = world.emulator.stats()
    assert stats["rate_limited"] <= stats["api_requests"] / 100  # under 1 % answered 429
    for period in PERIODS:
        assert all(r.state == InvoiceState.STORED for r in world.billing.ledger().invoices(period))


class _CountingQonto:
    """Answers like Qonto for any id, and counts the calls a sensor tick makes."""

    def __init__(self, finalized_at: datetime) -> None:
        self.calls = 0
        self.finalized_at = finalized_at

    async def __aenter__(self) -> _CountingQonto:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def get_client_invoice(self, invoice_id: str) -> ClientInvoice:
        self.calls += 1
        return ClientInvoice(id=invoice_id, status="unpaid", attachment_id=f"att-{invoice_id}",
                             finalized_at=self.finalized_at)  # fmt: skip

    async def get_attachment(self, attachment_id: str) -> Attachment:
        self.calls += 1
        return Attachment(id=attachment_id, file_name="x.pdf", url="https://files.example/x",
                          updated_at=self.finalized_at + timedelta(seconds=12))  # fmt: skip


class _CountingConnection:
    def __init__(self, qonto: _CountingQonto) -> None:
        self.qonto = qonto

    def open(self) -> _CountingQonto:
        return self.qonto


def test_a_tick_with_thousands_of_waiting_invoices_makes_bounded_calls(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    finalized_at = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
    periods = [f"2026-{m:02d}" for m in range(1, 13)] + ["2025-12", "2025-11"]
    for period in periods:
        for n in range(250):  # 3,500 invoices waiting for their Factur-X file
            ledger.record_finalized(InvoiceReference.of(f"c{n}", period), invoice_id=f"{period}-{n}",
                                    client_id=f"client-{n}", number=f"F-{period}-{n}", finalized_at=finalized_at,
                                    attachment_id=None)  # fmt: skip
    fake = _CountingQonto(finalized_at)

    class FakeQontoResource(QontoResource):
        def connection(self):  # type: ignore[override]
            return _CountingConnection(fake)

    resources = {
        "qonto": FakeQontoResource(mode="custom", state_dir=str(tmp_path)),
        "billing": BillingResource(state_dir=str(tmp_path)),
    }
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            first = facturx_attachment_sensor(context)
        # each probed period costs at most an invoice read and an attachment read
        assert fake.calls <= 2 * MAX_PERIODS_PER_TICK
        assert len(first.run_requests) == MAX_PERIODS_PER_TICK
        calls_after_first = fake.calls
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
            second = facturx_attachment_sensor(context)
    # the second tick only probes the periods the first one left for later
    assert {r.partition_key for r in second.run_requests} == set(periods) - {
        r.partition_key for r in first.run_requests
    }
    assert fake.calls - calls_after_first <= 2 * (len(periods) - MAX_PERIODS_PER_TICK)
