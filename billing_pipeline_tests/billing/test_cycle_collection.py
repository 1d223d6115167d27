"""Pricing runs with the cycle collector paused, and every way out of the pause restores it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

import billing_pipeline.billing.planning as planning
from billing_pipeline.billing import usage_aggregate
from billing_pipeline.billing.cycle_collection import cycle_collection_paused
from billing_pipeline.billing.usage import read_usage


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_paused_inside_and_runs_again_after() -> None:
    with cycle_collection_paused():
        assert not gc.isenabled()
        with cycle_collection_paused():  # nested: the inner end does not restart it
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_restarts_the_collector() -> None:
    with pytest.raises(RuntimeError, match="pricing failed"), cycle_collection_paused():
        raise RuntimeError("pricing failed")
    assert gc.isenabled()


def test_a_collector_the_caller_stopped_stays_stopped() -> None:
    gc.disable()
    with cycle_collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_of_two_threads_restart_it_when_the_last_ends() -> None:
    entered, release = threading.Event(), threading.Event()

    def other_pricing() -> None:
        with cycle_collection_paused():
            entered.set()
            release.wait(10)

    with cycle_collection_paused():
        thread = threading.Thread(target=other_pricing)
        thread.start()
        assert entered.wait(10)
    assert not gc.isenabled()  # the other thread is still pricing
    release.set()
    thread.join(10)
    assert gc.isenabled()


def _collector_seen_by(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[bool]:
    """Whether the collector was running at each call of ``module.name`` from now on."""
    seen: list[bool] = []
    function = getattr(module, name)

    def watched(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return function(*args, **kwargs)

    monkeypatch.setattr(module, name, watched)
    return seen


def test_every_customer_is_priced_with_the_collector_paused(
    data_dir: Path, write_usage: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_usage("events.csv", "e1,cus_1,api_calls,100,2026-10-02T10:00:00Z\n")
    seen = _collector_seen_by(monkeypatch, planning, "price_customer")
    plan = planning.plan_period("2026-10", data_dir)
    assert len(plan.invoices) == 1 and seen == [False]
    assert gc.isenabled()


def test_the_aggregations_results_are_built_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "usage"
    folder.mkdir()
    (folder / "events.csv").write_text(
        "event_id,customer_id,metric,quantity,timestamp\n"
        "e1,c1,peak,3,2026-10-02T10:00:00Z\n"
        "e2,c1,peak,5,2026-10-03T10:00:00Z\n",
        encoding="utf-8",
    )
    seen = _collector_seen_by(monkeypatch, usage_aggregate, "_by_customer")
    totals = read_usage(folder, "2026-10", "Europe/Paris", aggregations={"peak": "max"})
    assert totals.quantities == {"c1": {"peak": Decimal(5)}} and seen == [False]
    assert gc.isenabled()
