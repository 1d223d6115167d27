"""The bounded-memory duplicate check: hashes for every row, content read again only for repeats.

Checked against a naive reference (every row in memory, a dict of event ids) on random files cut
into tiny batches, with rows kept in memory or read again from their file, and with a hash
squeezed into a few values so that different events collide all the time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_pipeline.billing import usage_files, usage_reader, usage_store
from billing_pipeline.billing.usage import read_usage
from billing_pipeline.billing.usage_columns import string_hashes
from billing_pipeline.billing.usage_duplicates import CHANGED

CUSTOMERS = {"cus_1", "cus_2"}
METRICS = {"api_calls", "storage_gb"}
HEADER = "event_id,customer_id,metric,quantity,timestamp\n"
OCTOBER = np.datetime64("2026-10-01T00:00:00", "s")  # Paris midnight is 22:00 UTC the day before
DUPLICATE = "event_id already used by a different event"


@dataclass(frozen=True)
class Row:
    event_id: str
    customer: str
    metric: str
    quantity: Decimal
    second: int  # seconds after 2026-10-01T00:00:00Z (negative: September, out of the period)

    @property
    def valid(self) -> bool:
        return self.customer in CUSTOMERS and self.quantity >= 0

    @property
    def in_period(self) -> bool:
        # October in Paris: 2026-09-30T22:00:00Z (CEST) to 2026-10-31T23:00:00Z (CET)
        return -2 * 3600 <= self.second < 30 * 86400 + 23 * 3600

    @property
    def timestamp(self) -> str:
        return f"{OCTOBER + np.timedelta64(self.second, 's')}Z"


rows = st.builds(
    Row,
    event_id=st.sampled_from([f"e{index}" for index in range(12)]),
    customer=st.sampled_from(["cus_1", "cus_2", "cus_9"]),
    metric=st.sampled_from(sorted(METRICS)),
    quantity=st.sampled_from([Decimal("0"), Decimal("1.5"), Decimal("7"), Decimal("1000000.25"), Decimal("-1")]),
    second=st.sampled_from([-3 * 3600, -3600, 0, 5, 86400, 30 * 86400 + 82799, 31 * 86400]),
)
# a file: its format and rows; a row may repeat an earlier row of any file exactly (index into all rows so far)
files = st.lists(
    st.tuples(st.sampled_from(["csv", "parquet"]), st.lists(st.one_of(rows, st.integers(0, 200)), max_size=14)),
    min_size=1,
    max_size=4,
)


def _materialize(spec: list[tuple[str, list[Row | int]]]) -> list[tuple[str, list[Row]]]:
    seen: list[Row] = []
    out = []
    for number, (kind, items) in enumerate(spec):
        file_rows = []
        for item in items:
            row = seen[item % len(seen)] if isinstance(item, int) and seen else item
            if isinstance(row, int):
                continue
            file_rows.append(row)
            seen.append(row)
        out.append((f"f{number}.{kind}", file_rows))
    return out


def _write(folder: Path, name: str, file_rows: list[Row], *, integers: bool = False) -> None:
    path = folder / name
    if name.endswith(".csv"):
        lines = [f"{r.event_id},{r.customer},{r.metric},{r.quantity},{r.timestamp}\n" for r in file_rows]
        path.write_text(HEADER + "".join(lines), encoding="utf-8")
        return
    seconds = np.array([r.second for r in file_rows], dtype=np.int64)
    table = pa.table(
        {
            "event_id": pa.array([r.event_id for r in file_rows], pa.string()),
            "customer_id": pa.array([r.customer for r in file_rows], pa.string()),
            "metric": pa.array([r.metric for r in file_rows], pa.string()),
            # scale 6, as CSV quantities are read: the same event reads the same from both formats
            "quantity": (
                pa.array([int(r.quantity) for r in file_rows], pa.int64())
                if integers
                else pa.array([r.quantity for r in file_rows], pa.decimal128(20, 6))
            ),
            "timestamp": pa.array(
                (OCTOBER.astype("datetime64[us]").astype(np.int64) + seconds * 1_000_000), pa.timestamp("us", tz="UTC")
            ),
        }
    )
    pq.write_table(table, path, row_group_size=5)


def _reference(layout: list[tuple[str, list[Row]]]) -> tuple[dict, int, int, list[tuple]]:
    """Totals, duplicates, rows in period and the duplicate problems, the obvious way."""
    first: dict[str, tuple[Row, str, int, int]] = {}  # id -> row, file, row number, position
    totals: dict[str, dict[str, Decimal]] = {}
    repeats = in_period = 0
    conflicts = []
    position = 0
    for name, file_rows in layout:
        for index, row in enumerate(file_rows):
            number = index + 2 if name.endswith(".csv") else index + 1
            if not row.in_period:
                continue
            in_period += 1
            if not row.valid:
                continue
            position += 1
            if row.event_id not in first:
                first[row.event_id] = (row, name, number, position)
                metrics = totals.setdefault(row.customer, {})
                metrics[row.metric] = metrics.get(row.metric, Decimal(0)) + row.quantity
                continue
            original, first_name, first_number, _ = first[row.event_id]
            fields = [
                label
                for label, a, b in (
                    ("customer_id", row.customer, original.customer),
                    ("metric", row.metric, original.metric),
                    ("quantity", row.quantity, original.quantity),
                    ("timestamp", row.second, original.second),
                )
                if a != b
            ]
            if not fields:
                repeats += 1
                continue
            noun = "line" if first_name.endswith(".csv") else "record"
            reason = f"{DUPLICATE} at usage/{first_name} {noun} {first_number} ({', '.join(fields)} differ)"
            conflicts.append(((row.event_id, position), (f"usage/{name}", number, "event_id", row.event_id, reason)))
    return totals, repeats, in_period, [problem for _, problem in sorted(conflicts)]


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "usage"
        folder.mkdir()
        yield folder


def _instants(count: int) -> pa.Array:
    """``count`` times 2026-10-02T10:00:00Z."""
    micros = np.datetime64("2026-10-02T10:00:00", "us").astype(np.int64)
    return pa.array(np.full(count, micros), pa.timestamp("us", tz="UTC"))


def _squeezed(values: int):
    return lambda column: string_hashes(column) % np.uint64(values)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=files, budget=st.sampled_from([0, 1 << 30]), collide=st.sampled_from([0, 1, 3]))
def test_two_pass_equals_a_naive_reference(
    spec: list, budget: int, collide: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tiny batches: repeats fall in other batches, other row groups and other files
    monkeypatch.setattr(usage_files, "_BATCH_ROWS", 3)
    monkeypatch.setattr(usage_store, "MEMORY_BUDGET", budget)
    if collide:
        monkeypatch.setattr(usage_reader, "string_hashes", _squeezed(collide))
    layout = _materialize(spec)
    with _folder() as folder:
        for name, file_rows in layout:
            _write(folder, name, file_rows)
        usage = read_usage(folder, "2026-10", "Europe/Paris", customers=CUSTOMERS, metrics=METRICS)
    totals, repeats, in_period, conflicts = _reference(layout)
    assert usage.quantities == totals
    assert usage.duplicate_events == repeats
    assert (usage.rows_read, usage.rows_in_period) == (sum(len(r) for _, r in layout), in_period)
    found = [(p.file, p.row, p.field, p.value, p.reason) for p in usage.problems if p.reason.startswith(DUPLICATE)]
    assert found == conflicts
    # every other problem is a bad field of a row of the period, none is about a duplicate
    bad_fields = sum(
        (row.customer not in CUSTOMERS) + (row.quantity < 0)
        for _, file_rows in layout
        for row in file_rows
        if row.in_period
    )
    assert len(usage.problems) - len(found) == bad_fields


whole_rows = st.builds(
    Row,
    event_id=st.sampled_from([f"e{index}" for index in range(12)]),
    customer=st.sampled_from(["cus_1", "cus_2"]),
    metric=st.sampled_from(sorted(METRICS)),
    quantity=st.integers(0, 2**40).map(Decimal),
    second=st.sampled_from([0, 5, 86400]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spec=st.lists(st.lists(st.one_of(whole_rows, st.integers(0, 200)), max_size=14), min_size=1, max_size=3),
    budget=st.sampled_from([0, 1 << 30]),
)
def test_whole_quantities_sum_exactly_batch_by_batch(spec: list, budget: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage_files, "_BATCH_ROWS", 3)
    monkeypatch.setattr(usage_store, "MEMORY_BUDGET", budget)
    layout = _materialize([("parquet", items) for items in spec])
    with _folder() as folder:
        for name, file_rows in layout:
            _write(folder, name, file_rows, integers=True)
        usage = read_usage(folder, "2026-10", "Europe/Paris", customers=CUSTOMERS, metrics=METRICS)
    totals, repeats, _, conflicts = _reference(layout)
    assert usage.quantities == totals
    assert all(str(q) == str(int(q)) for metrics in usage.quantities.values() for q in metrics.values())
    assert usage.duplicate_events == repeats
    assert [(p.file, p.row, p.field, p.value, p.reason) for p in usage.problems] == conflicts


@pytest.mark.parametrize("budget", [0, 1 << 30])
def test_colliding_hashes_never_merge_different_events(budget: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # every id hashes to one of two values: e1..e6 collide with each other, in other files and batches
    monkeypatch.setattr(usage_reader, "string_hashes", _squeezed(2))
    monkeypatch.setattr(usage_store, "MEMORY_BUDGET", budget)
    monkeypatch.setattr(usage_files, "_BATCH_ROWS", 2)
    stamp = "2026-10-02T10:00:00Z"
    with _folder() as folder:
        (folder / "a.csv").write_text(
            HEADER + "".join(f"e{i},cus_1,api_calls,{i},{stamp}\n" for i in range(1, 7)), encoding="utf-8"
        )
        rows = {
            "event_id": ["e7", "e3", "e8"],
            "customer_id": ["cus_2", "cus_1", "cus_2"],
            "metric": ["storage_gb", "api_calls", "storage_gb"],
            "quantity": pa.array([Decimal(10), Decimal(3), Decimal(20)], pa.decimal128(10, 6)),
            "timestamp": _instants(3),
        }
        pq.write_table(pa.table(rows), folder / "b.parquet", row_group_size=2)
        usage = read_usage(folder, "2026-10", "Europe/Paris", customers=CUSTOMERS, metrics=METRICS)
    assert usage.problems == []
    assert usage.duplicate_events == 1  # e3 only
    assert usage.quantities == {"cus_1": {"api_calls": Decimal(21)}, "cus_2": {"storage_gb": Decimal(30)}}


def test_a_file_changed_between_the_two_readings_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage_store, "MEMORY_BUDGET", 0)
    versions = iter([(1, 1), (2, 2)])  # the file's size and time are not the same the second time
    monkeypatch.setattr(usage_files, "_version", lambda path: next(versions))
    with _folder() as folder:
        (folder / "a.csv").write_text(
            HEADER + "e1,cus_1,api_calls,5,2026-10-02T10:00:00Z\ne1,cus_1,api_calls,5,2026-10-02T10:00:00Z\n",
            encoding="utf-8",
        )
        usage = read_usage(folder, "2026-10", "Europe/Paris", customers=CUSTOMERS, metrics=METRICS)
    assert [(p.file, p.reason) for p in usage.problems] == [("usage/a.csv", CHANGED)]


def test_sums_keep_their_type_whatever_the_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole numbers stay integers while the largest times the row count fits in 64 bits, else
    every total is a 6-decimal one, as when all rows were summed at once; repeats come off exactly."""
    monkeypatch.setattr(usage_files, "_BATCH_ROWS", 2)
    monkeypatch.setattr(usage_store, "MEMORY_BUDGET", 0)
    big = 2**61
    ids = ["a", "b", "a", "c", "d"]
    quantities = [big, big, big, 1, 2]
    with _folder() as folder:
        rows = {
            "event_id": ids,
            "customer_id": ["cus_1"] * 4 + ["cus_2"],
            "metric": ["api_calls"] * 5,
            "quantity": pa.array(quantities, pa.int64()),
            "timestamp": _instants(5),
        }
        pq.write_table(pa.table(rows), folder / "a.parquet", row_group_size=2)
        usage = read_usage(folder, "2026-10", "Europe/Paris", customers=CUSTOMERS, metrics=METRICS)
        assert usage.duplicate_events == 1
        totals = usage.quantities
        assert totals == {"cus_1": {"api_calls": Decimal(2 * big + 1)}, "cus_2": {"api_calls": Decimal(2)}}
        assert str(totals["cus_2"]["api_calls"]) == "2.000000"  # 2**61 times 5 rows does not fit in 64 bits
        pq.write_table(pa.table({**rows, "quantity": pa.array([5, 6, 5, 1, 2], pa.int64())}), folder / "a.parquet")
        small = read_usage(folder, "2026-10", "Europe/Paris", customers=CUSTOMERS, metrics=METRICS).quantities
    assert small == {"cus_1": {"api_calls": Decimal(12)}, "cus_2": {"api_calls": Decimal(2)}}
    assert str(small["cus_1"]["api_calls"]) == "12"
