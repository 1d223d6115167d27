"""The order of a ``weighted_sum`` timeline's segments: (timeline, instant, event_id), in every path
``ordered`` takes (rows already in time order, or nearly — late rows appended —, a sort of packed
keys, a stable argsort, a lexsort)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_pipeline.billing.usage_weighted import ordered

# (largest group, largest instant, rows in time order: all, all but the last 1 %, none): each picks
# one of ``ordered``'s paths
PATHS = {
    "already in time order": (50, 1_000, "all"),
    "late rows appended": (60_000, 1 << 40, "tail"),
    "packed keys": (60_000, 1_000, "none"),
    "stable argsort": (1 << 10, 1 << 40, "none"),
    "lexsort": (1 << 30, 1 << 40, "none"),
}


@settings(max_examples=60, deadline=None)
@given(
    path=st.sampled_from(sorted(PATHS)),
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 9_000),
    tied=st.booleans(),
)
def test_rows_come_in_timeline_instant_and_event_id_order(path: str, seed: int, size: int, tied: bool) -> None:
    largest_group, largest_instant, time_ordered = PATHS[path]
    random = np.random.default_rng(seed)
    groups = random.integers(0, largest_group, size).astype(np.int64)
    # few distinct instants: many (group, instant) ties, broken by event_id (None first)
    instants = random.integers(0, 3 if tied else largest_instant, size).astype(np.int64)
    if tied:
        instants *= largest_instant // 3
    if time_ordered == "all":
        instants.sort()
    elif time_ordered == "tail":  # in time order, then 1 % of the rows at random instants
        instants[: size - size // 100].sort()
    names = [None if number % 5 == 0 else f"evt-{number % 11:02d}" for number in random.integers(0, 1000, size)]

    order = ordered(groups, instants, lambda rows: [names[row] for row in rows.tolist()])

    assert sorted(order.tolist()) == list(range(size))
    keys = [(groups[row], instants[row], names[row] is not None, names[row] or "") for row in order.tolist()]
    assert keys == sorted(keys)
