"""Fixtures for the Dagster end-to-end tests: the emulator over loopback HTTP, a copy of the sample
data, resources pointing at both (mode "custom": credentials + QONTO_BASE_URL, exactly like Qonto),
and the Dagster instance configuration of `make dev` (pools, run monitoring)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.dev_instance import prepare_dev_home
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.run_monitoring import monitored, worker_tags

REPO = Path(__file__).resolve().parents[2]
RENDER_DELAY_S = 0.5
# seconds between e-invoicing lifecycle steps (submitted → issued → received): 5 s by default
EINVOICING_DELAY_S = 0.3
# a re-run after a kill waits this long for creates that may still land (60 s in production)
IN_FLIGHT_GRACE_S = 3.0


@dataclass
class PipelineWorld:
    emulator: RunningEmulator
    data_dir: Path
    state_dir: Path
    invoices_dir: Path
    qonto: QontoResource
    billing: BillingResource

    @property
    def resources(self) -> dict[str, dg.ConfigurableResource]:
        return {"qonto": self.qonto, "billing": self.billing}

    def environment(self) -> dict[str, str]:
        """The same world as environment variables, for subprocess runs of the real CLI."""
        return {
            "QONTO_BASE_URL": self.emulator.base_url,
            "QONTO_API_KEY": self.emulator.api_key,
            "BILLING_DATA_DIR": str(self.data_dir),
            "BILLING_STATE_DIR": str(self.state_dir),
            "BILLING_INVOICES_DIR": str(self.invoices_dir),
            "BILLING_IN_FLIGHT_GRACE_S": str(IN_FLIGHT_GRACE_S),
        }

    def live_invoices(self) -> list[dict]:
        return [i for i in self.emulator.state()["client_invoices"] if i["status"] != "canceled"]


def copy_sample_data(target: Path) -> Path:
    shutil.copytree(REPO / "data", target, ignore=shutil.ignore_patterns("invoices"))
    return target


def world_on(emulator: RunningEmulator, tmp_path: Path) -> PipelineWorld:
    """A copy of the sample data and resources pointing at ``emulator`` (mode "custom", like Qonto)."""
    data_dir = copy_sample_data(tmp_path / "data")
    state_dir = tmp_path / "state"
    invoices_dir = tmp_path / "invoices"
    return PipelineWorld(
        emulator=emulator,
        data_dir=data_dir,
        state_dir=state_dir,
        invoices_dir=invoices_dir,
        qonto=QontoResource(
            mode="custom", base_url=emulator.base_url, api_key=emulator.api_key, state_dir=str(state_dir)
        ),
        billing=BillingResource(
            data_dir=str(data_dir),
            invoices_dir=str(invoices_dir),
            state_dir=str(state_dir),
            timezone="Europe/Paris",
            in_flight_grace_s=IN_FLIGHT_GRACE_S,
        ),
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[PipelineWorld]:
    with running_emulator(
        render_delay_s=RENDER_DELAY_S, einvoicing_delay_s=EINVOICING_DELAY_S, state_path=tmp_path / "emulator.sqlite"
    ) as emulator:
        yield world_on(emulator, tmp_path)


@pytest.fixture
def slow_world(tmp_path: Path) -> Iterator[PipelineWorld]:
    # 40 ms per request spreads the run over a few seconds, so a kill lands between calls
    with running_emulator(
        render_delay_s=0.5,
        latency_ms=40,
        einvoicing_delay_s=EINVOICING_DELAY_S,
        state_path=tmp_path / "emulator.sqlite",
    ) as emulator:
        yield world_on(emulator, tmp_path)


@contextmanager
def dev_instance(home: Path) -> Iterator[dg.DagsterInstance]:
    """The instance of `make dev` in ``home``: deploy/dagster.dev.yaml, `qonto_writes` limited to 1."""
    with dg.DagsterInstance.from_config(str(prepare_dev_home(home))) as dev:
        yield dev


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dev_instance(tmp_path / "dagster_home") as dev:
        yield dev


# no materialization of the sample data takes a tenth of this; a run blocked for good fails the test
RUN_TIMEOUT_S = 240.0


def materialize_monitored(
    assets: Sequence[object],
    partition_key: str,
    resources: dict[str, dg.ConfigurableResource],
    instance: dg.DagsterInstance,
    timeout_s: float = RUN_TIMEOUT_S,
    **kwargs: object,
) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` the way `billing-pipeline bill` runs a job: in this process, under run
    monitoring (dead runs failed, their pool slots given back), and bounded in time."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            with monitored(instance):
                outcome["result"] = dg.materialize(
                    assets, partition_key=partition_key, resources=resources, instance=instance,  # type: ignore[arg-type]
                    tags=worker_tags(), **kwargs,  # type: ignore[arg-type]
                )  # fmt: skip
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    worker = threading.Thread(target=run, name="materialize", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        slots = instance.event_log_storage.get_concurrency_info("qonto_writes")
        raise AssertionError(f"materialization still running after {timeout_s} s (qonto_writes: {slots})")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
