"""Aggregations folded batch by batch (``usage_folded``) give what SQL gives in one query, whatever
the batches: sums, counts, maxima, latest events and uncovered days, with repeats in other batches and
other files taken out once. Every instant is explicit: nothing depends on today's date."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_pipeline.billing import usage_files, usage_folded
from billing_pipeline.billing.coverage import DaySpan
from billing_pipeline.billing.usage_folded import LATEST, MAX, Folded
from billing_pipeline_tests.billing.test_usage_aggregations import AGGREGATIONS, ev, read_from, summary, write_usage

_START = datetime(2026, 9, 30, 22, tzinfo=ZoneInfo("UTC"))  # 1 Oct 2026 00:00 in Paris
_events = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3"]),
        st.sampled_from(list(AGGREGATIONS)),
        st.integers(0, 40) | st.decimals("0", "40", places=2).map(str),
        # few distinct instants: ties at one instant, events on the uncovered 15th, one before the period
        st.sampled_from([-1, 0, 7, 14, 14.5, 20, 30]).map(lambda day: _START + timedelta(days=day)),
        st.sampled_from(["alice", "bob"]),
    ),
    min_size=1,
    max_size=40,
)
# c1 has two rows with the 15th uncovered, c2 one row; c3 none (billed by customers.csv)
_SPANS = {
    "c1": [DaySpan(date(2026, 10, 1), date(2026, 10, 14)), DaySpan(date(2026, 10, 16), date(2026, 10, 31))],
    "c2": [DaySpan(date(2026, 10, 1), date(2026, 10, 31))],
}


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="folded-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drawn=_events,
    copies=st.lists(st.integers(0, 39), max_size=6),
    rows_per_batch=st.integers(1, 6),
    files=st.integers(1, 3),
)
def test_any_batches_give_what_sql_gives(
    scratch: Path, drawn: list, copies: list[int], rows_per_batch: int, files: int
) -> None:
    events = [
        ev(f"e{index:02d}", metric, quantity, at.isoformat(), customer=customer, key=user)
        for index, (customer, metric, quantity, at, user) in enumerate(drawn)
    ]
    repeats = [dict(events[index]) for index in copies if index < len(events)]  # exact repeats, later
    # what SQL computes over the same rows in one query (the pushdown), not a folding of its own
    table = write_usage(Path(tempfile.mkdtemp(dir=scratch)), "sqlite", [events + repeats])
    expected = summary(read_from("sqlite", table, spans=_SPANS))
    split = [events[part::files] for part in range(files)]
    split[-1] = split[-1] + repeats  # the repeats in the last file, in batches of their own
    location = write_usage(Path(tempfile.mkdtemp(dir=scratch)), "parquet", split)
    with mock.patch.object(usage_files, "_BATCH_ROWS", rows_per_batch):
        assert summary(read_from("parquet", location, spans=_SPANS)) == expected


def test_a_repeat_in_a_later_batch_is_taken_out_of_folded_sums_counts_and_uncovered_days(tmp_path: Path) -> None:
    """Sums and counts of a customer with spans, and its events on uncovered days, fold as they come:
    a repeat read in a later batch must be subtracted from each (the maxima and latest need not)."""
    events = [
        ev("s1", "calls", 3, "2026-10-02T10:00:00Z"),
        ev("r1", "requests", 1, "2026-10-03T10:00:00Z"),
        ev("p1", "peak", 4, "2026-10-04T10:00:00Z"),
        ev("l1", "plan_level", 2, "2026-10-05T10:00:00Z"),
        ev("o1", "calls", 5, "2026-10-15T10:00:00Z"),  # the 15th: no row of c1 covers it
    ]
    location = write_usage(tmp_path, "parquet", [events, [dict(event) for event in events]])
    with mock.patch.object(usage_files, "_BATCH_ROWS", 2):
        usage = read_from("parquet", location, spans=_SPANS)
    assert usage.span_quantities["c1"][0] == {"calls": 3, "requests": 1, "peak": 4, "plan_level": 2}
    assert [(item.customer_id, item.events, item.days) for item in usage.uncovered] == [
        ("c1", 1, (date(2026, 10, 15),))
    ]
    assert usage.duplicate_events == len(events) and not usage.problems


def test_partial_results_of_many_batches_stay_few_and_give_what_one_batch_gives() -> None:
    """Maxima and latest events are kept per batch, then folded into one every few dozen batches:
    a month of many batches holds a bounded number of partial results, and the same answer."""
    generator = np.random.default_rng(7)
    rows = 20_000
    customers = generator.integers(0, 50, rows)
    metrics = generator.integers(0, 2, rows).astype(np.int16)
    kinds = np.where(metrics == 0, MAX, LATEST).astype(np.int8)
    amounts = pa.array(generator.integers(0, 1000, rows))
    micros = generator.integers(0, 40, rows).astype(np.int64)  # many ties at one instant
    ids = pa.array([f"e{index:05d}" for index in range(rows)])
    spans = (np.zeros(rows, dtype=np.int16), np.full(rows, -1, dtype=np.int16))

    def fold(batches: int) -> tuple[Folded, list[int]]:
        folded, held = Folded(height=1), []
        for part in np.array_split(np.arange(rows), batches):
            taken = pa.array(part)
            columns = (customers[part], metrics[part], amounts.take(taken), micros[part])
            part_spans = (spans[0][part], spans[1][part])
            folded.add(kinds[part], columns, part_spans, lambda picked, part=part: ids.take(pa.array(part[picked])))
            held.append(max(len(folded.maxima), len(folded.latest)))
        return folded, held

    many, held = fold(500)
    assert max(held) <= 64
    found, values = many.results(width=2)
    one_found, one_values = fold(1)[0].results(width=2)
    assert sorted(zip(found.tolist(), values, strict=True)) == sorted(zip(one_found.tolist(), one_values, strict=True))


@settings(max_examples=200, deadline=None)
@given(
    groups=st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**15 - 1)), min_size=1, max_size=30),
    picks=st.lists(st.integers(0, 29), min_size=1, max_size=60),
    quantities=st.lists(st.integers(-(2**40), 2**40), min_size=60, max_size=60),
)
def test_whole_maxima_and_group_numbers_agree_with_arrow(groups: list, picks: list, quantities: list) -> None:
    """Per batch, groups are numbered without a sort when slot × metrics is small (ranks otherwise),
    and whole quantities' maxima are taken in NumPy: equal keys get equal numbers, different keys
    different ones, and the maxima are Arrow's hash aggregation's, whatever the keys."""
    keys = np.array([(slot << 16) | metric for slot, metric in (groups[i % len(groups)] for i in picks)], np.int64)
    numbers = usage_folded._group_index(keys)
    pairs = set(zip(keys.tolist(), numbers.tolist(), strict=True))
    assert len(pairs) == len({key for key, _ in pairs}) == len({number for _, number in pairs})
    amounts = pa.array(quantities[: len(keys)], pa.int64())
    grouped = pa.table({"k": keys, "q": amounts}).group_by("k").aggregate([("q", "max")])
    expected = dict(zip(grouped["k"].to_pylist(), grouped["q_max"].to_pylist(), strict=True))
    found = usage_folded._maxima(keys, amounts)
    assert dict(zip(found["k"].to_pylist(), found["q"].to_pylist(), strict=True)) == expected
    assert found["q"].type == pa.int64()
