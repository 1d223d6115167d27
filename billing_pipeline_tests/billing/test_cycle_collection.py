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


def test_what_was_built_inside_is_old_when_the_collector_runs_again() -> None:
    """No young collection traverses the period's lines after the pause: they are in the oldest
    generation already (a cycle made inside waits for a full collection)."""
    with cycle_collection_paused():
        built = [[index] for index in range(5000)]
        cycle: list = []
        cycle.append(cycle)
    young = {id(item) for generation in (0, 1) for item in gc.get_objects(generation)}
    assert not any(id(item) in young for item in built) and id(cycle) not in young
    assert any(item is built[-1] for item in gc.get_objects(2))
    del cycle
    assert gc.collect() >= 1  # the full collection finds the cycle


def test_objects_frozen_by_someone_else_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with cycle_collection_paused():
            built = [[index] for index in range(100)]
        assert gc.get_freeze_count() == frozen and built
    finally:
        gc.unfreeze()


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
