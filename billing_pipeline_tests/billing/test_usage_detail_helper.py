"""The detail rows are picked out on a helper thread (``usage_detail.DetailRows``): its failure is the
reader's, it is never more than one batch behind, and it gives what picking them in line gave."""

from __future__ import annotations

import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.usage_codes import Codes
from billing_pipeline.billing.usage_days import PeriodDays
from billing_pipeline.billing.usage_detail import WEIGHTED, Classifier, DetailRows
from billing_pipeline.billing.usage_totals import DroppedDetail
from billing_pipeline_tests.billing.test_usage_aggregations import MONTH, ev, usage_of


def test_a_failure_on_the_helper_fails_the_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: DetailRows, *args: object) -> None:
        raise MemoryError("no room for the detail rows")

    monkeypatch.setattr(DetailRows, "add", broken)
    with pytest.raises(MemoryError, match="no room for the detail rows"):
        usage_of(tmp_path, "parquet", MONTH)


def test_a_failure_on_the_helper_is_reported_on_the_file_it_was_keeping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper lags one batch: a failure keeping a file's last batch must not be charged to the next file."""
    calls: list[int] = []
    keeping = DetailRows.add

    def fails_first(self: DetailRows, *args: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise pa.ArrowInvalid("cannot keep these rows")
        keeping(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(DetailRows, "add", fails_first)
    first = [ev("r1", "requests", 1, "2026-10-02T10:00:00Z")]
    second = [ev("r2", "requests", 1, "2026-10-03T10:00:00Z")]
    usage = usage_of(tmp_path, "parquet", first, second)
    unreadable = [(problem.file, problem.reason) for problem in usage.problems]
    assert unreadable == [("usage/part0.parquet", "cannot read the file: cannot keep these rows")]


def test_the_helper_is_never_more_than_one_batch_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second batch is handed over only once the first is kept: at most one batch's columns wait."""
    release, started = threading.Event(), threading.Event()
    kept: list[int] = []
    keeping = DetailRows.add

    def slow_add(self: DetailRows, first: int, *args: object) -> None:
        started.set()
        release.wait(5)
        kept.append(first)
        keeping(self, first, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(DetailRows, "add", slow_add)
    customers, metrics = Codes(["c1", "c2"]), Codes(["seats"])
    customers.encode(pa.array(["c1", "c2"]))
    metrics.encode(pa.array(["seats"]))
    classifier = Classifier({"seats": "weighted_sum"}, None, customers, metrics)
    rows = DetailRows(classifier, PeriodDays.of(BillingPeriod.parse("2026-10"), ZoneInfo("Europe/Paris")))
    columns = (np.array([0, 1]), np.array([0, 0]), pa.array([1, 2]), np.array([10, 20]))
    ids = pa.array(["e1", "e2"])
    kinds = np.array([WEIGHTED, WEIGHTED], dtype=np.int8)
    rows.keep(0, np.array([True, True]), kinds, columns, ids, None)
    assert started.wait(5)
    second = threading.Thread(target=rows.keep, args=(2, np.array([True, False]), kinds, columns, ids, None))
    second.start()
    second.join(0.3)
    assert second.is_alive() and kept == []  # waiting for the first batch
    release.set()
    second.join(5)
    detail = rows.table(DroppedDetail.of([]))
    assert kept == [0, 2]
    assert detail.customers.tolist() == [0, 1, 0] and detail.instants.tolist() == [10, 20, 10]


def test_many_batches_keep_their_order(tmp_path: Path) -> None:
    """Rows kept by the helper come back in reading order, whatever the batches (a repeated event
    across files is still dropped once)."""
    files = [
        [ev(f"r{part}-{index}", "requests", 1, f"2026-10-{1 + index % 28:02d}T10:00:00Z") for index in range(50)]
        for part in range(8)
    ]
    files.append([ev("r0-0", "requests", 1, "2026-10-01T10:00:00Z")])  # a copy, in the last file
    usage = usage_of(tmp_path, "parquet", *files)
    assert usage.quantities["c1"]["requests"] == 400
    assert usage.duplicate_events == 1
