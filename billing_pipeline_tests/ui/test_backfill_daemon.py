"""Under `dagster dev` (UI + daemon) on the embedded emulator: the README's GraphQL backfill recipe
bills three periods, running it again creates nothing, and the attachment sensor — running by
default — collects every Factur-X file on its own. Slow (a few minutes): `make test-ui` runs it."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.emulator.config import EmulatorConfig
from billing_pipeline.emulator.testing import in_process_transport
from billing_pipeline.invoicing.ledger import InvoiceState, Ledger
from billing_pipeline_tests.ui.conftest import INVOICING_ASSETS, LOCATION, REPO, _environment
from billing_pipeline_tests.ui.dagster_dev import DagsterDev

pytestmark = pytest.mark.slow

PERIODS = ["2026-08", "2026-09", "2026-10"]
LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } } }"""
INSTIGATORS = """
{ sensorsOrError(repositorySelector: {repositoryLocationName: "billing_pipeline", repositoryName: "__repository__"})
  { ... on Sensors { results { name sensorState { status } } } }
  schedulesOrError(repositorySelector: {repositoryLocationName: "billing_pipeline", repositoryName: "__repository__"})
  { ... on Schedules { results { name scheduleState { status } } } } }"""


def _backfill(dev: DagsterDev) -> None:
    params = {"partitionNames": PERIODS, "assetSelection": [{"path": [name]} for name in INVOICING_ASSETS]}
    launched = dev.graphql(LAUNCH_BACKFILL, {"p": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = dev.graphql(BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]
        if status.startswith("COMPLETED") or status in {"FAILED", "CANCELED"}:
            assert status == "COMPLETED_SUCCESS", f"{status}\n{dev.log_tail()}"
            return
        time.sleep(2)
    raise AssertionError(f"backfill not finished\n{dev.log_tail()}")


def _emulated_invoices(state_dir: Path) -> list[dict]:
    transport = in_process_transport(EmulatorConfig(state_path=state_dir / "qonto-emulator.sqlite"))
    with httpx.Client(transport=_SyncBridge(transport), base_url="http://admin.invalid") as client:
        return client.get("/_emulator/state").json()["client_invoices"]


class _SyncBridge(httpx.BaseTransport):
    """Reads the embedded emulator's state through its own app (it has no socket)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        async def call() -> httpx.Response:
            response = await self.transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(call())


def test_graphql_backfill_twice_then_the_sensor_collects_every_file(tmp_path: Path) -> None:
    data_dir = Path(shutil.copytree(REPO / "data", tmp_path / "data", ignore=shutil.ignore_patterns("invoices")))
    env = _environment(tmp_path, data_dir)
    state_dir = Path(env["BILLING_STATE_DIR"])
    with DagsterDev(REPO / "workspace.yaml", env, cwd=tmp_path, log_file=tmp_path / "dagster.log") as dev:
        dev.wait_until_loaded(LOCATION)
        instigators = dev.graphql(INSTIGATORS)
        sensors = {s["name"]: s["sensorState"]["status"] for s in instigators["sensorsOrError"]["results"]}
        schedules = {s["name"]: s["scheduleState"]["status"] for s in instigators["schedulesOrError"]["results"]}
        assert sensors["facturx_attachment_sensor"] == "RUNNING"
        assert schedules["monthly_invoicing_schedule"] == "RUNNING"

        _backfill(dev)
        first = _emulated_invoices(state_dir)
        expected = sum(len(plan_period(p, data_dir).invoices) for p in PERIODS)
        assert len(first) == expected
        _backfill(dev)  # the same backfill again: nothing new in Qonto
        second = _emulated_invoices(state_dir)
        assert sorted(i["id"] for i in second) == sorted(i["id"] for i in first)
        assert set(Counter(i["header"] for i in second).values()) == {1}

        ledger = Ledger(f"sqlite:///{state_dir / 'ledger.sqlite'}")
        deadline = time.monotonic() + 300  # sensor every 30 s, then a collection run per period
        while time.monotonic() < deadline:
            records = [r for p in PERIODS for r in ledger.invoices(p)]
            if len(records) == expected and all(r.state == InvoiceState.STORED for r in records):
                break
            time.sleep(3)
        else:
            raise AssertionError(f"files not all collected by the sensor\n{dev.log_tail()}")
        for period in PERIODS:
            assert len(list((Path(env["BILLING_INVOICES_DIR"]) / period).glob("*.pdf"))) == len(
                plan_period(period, data_dir).invoices
            )
