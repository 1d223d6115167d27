"""``weighted_sum``: a level held over time, integrated exactly over the period or each span.

Levels are integers of micro-units (or whole units), instants microseconds (or whole seconds):
level × duration is summed in 64-bit integers when no product can overflow (Python integers
otherwise) and divided once, half-up to 6 decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pyarrow as pa

from billing_pipeline.billing.usage_arrays import Names, Strings, distinct
from billing_pipeline.billing.usage_columns import QUANTITY_SCALE
from billing_pipeline.billing.usage_days import PeriodDays
from billing_pipeline.billing.usage_detail import CarryIn

_INT64_LIMIT = 2**63 - 1
_MICRO = 10**QUANTITY_SCALE


def micro_units(amounts: pa.Array) -> np.ndarray:
    """Quantities as integers of millionths: int64 when they fit, Python integers otherwise."""
    if pa.types.is_integer(amounts.type):
        values = amounts.to_numpy(zero_copy_only=False).astype(np.int64)
        if not len(values) or int(values.max()) <= _INT64_LIMIT // _MICRO:
            return values * _MICRO
        return values.astype(object) * _MICRO
    if isinstance(amounts, pa.ChunkedArray):
        amounts = amounts.combine_chunks()
    # decimal128(38, 6) stores the integer of millionths itself, as two 64-bit words (low first)
    words = np.frombuffer(amounts.buffers()[1], dtype=np.uint64, count=2 * (amounts.offset + len(amounts)))
    words = words[2 * amounts.offset :].reshape(-1, 2)
    if not len(words) or ((words[:, 1] == 0).all() and int(words[:, 0].max()) <= _INT64_LIMIT):
        return words[:, 0].astype(np.int64)
    return np.array([int(value.scaleb(QUANTITY_SCALE)) for value in amounts.to_pylist()], dtype=object)


def weighted_sums(
    rows: np.ndarray,
    columns: tuple[np.ndarray, np.ndarray, np.ndarray],
    ids: Strings,
    quantities: pa.Array,
    carry: CarryIn,
    spanned: dict[int, Sequence],
    days: PeriodDays,
    shape: tuple[int, int],
) -> tuple[np.ndarray, list[Decimal]]:
    """(keys, values) of ``weighted_sum``: Σ level × time it holds in each span ÷ the period's time.

    Segments: one per event, holding from its instant to the next event of its (customer, metric)
    or the period end, plus one at the period start holding the carried-in level (0 if none); at
    one instant the events hold in ``event_id`` order, so the greatest holds on. An integral over
    [s0, s1) is F(s1) - F(s0), F being the running integral: the prefix sum of the segments before
    the one in force, plus that segment's level × the time since it began.
    """
    customers, metrics, instants = columns
    width, height = shape
    timeline = customers[rows].astype(np.int64) * width + metrics[rows]
    carried = {customer * width + metric: level for (customer, metric), (_, _, level) in carry.levels.items()}
    lines = np.union1d(distinct(timeline), np.array(sorted(carried), dtype=np.int64))
    amounts = quantities.take(pa.array(rows))
    opening = [Decimal(carried[line]) if line in carried else Decimal(0) for line in lines.tolist()]
    # the coarsest exact units: whole quantities and whole seconds in the usual case, so that
    # level × duration fits 64 bits; a prefix sum may wrap around, but every difference taken of
    # it is below the bound, and two's complement differences are then exact
    whole = pa.types.is_integer(amounts.type) and all(value == value.to_integral_value() for value in opening)
    levels = micro_units(amounts) // (_MICRO if whole else 1)
    opening_units = [int(value if whole else value.scaleb(QUANTITY_SCALE)) for value in opening]
    offsets = instants[rows] - days.start
    tick = _MICRO if not len(offsets) or not (offsets % _MICRO).any() else 1
    period = (days.end - days.start) // tick  # period bounds and spans are whole seconds
    if levels.dtype != object and all(-_INT64_LIMIT <= unit <= _INT64_LIMIT for unit in opening_units):
        level = np.concatenate([np.array(opening_units, dtype=np.int64), levels.astype(np.int64)])
    else:  # Python integers: no 64-bit bound on a level
        level = np.concatenate([np.array(opening_units, dtype=object), levels.astype(object)])
    largest = max(int(level.max(initial=0)), 1)
    if largest * period > _INT64_LIMIT // 2:
        level = level.astype(object)  # level × duration could overflow: exact Python integers
    group = _numbered(lines, np.concatenate([lines, timeline]))  # dense timeline numbers
    a = np.concatenate([np.zeros(len(lines), dtype=np.int64), offsets // tick])
    opening_count = len(lines)

    def names(indices: np.ndarray) -> list:  # the openings have no event_id: they come first
        events = indices[indices >= opening_count] - opening_count
        found = iter(ids.of(rows[events]).to_pylist())
        return [None if index < opening_count else next(found) for index in indices.tolist()]

    order = ordered(group, a, names, period)
    group, a, level = group[order], a[order], level[order]
    ends = np.append(a[1:], period)
    ends[np.append(group[1:] != group[:-1], True)] = period
    with np.errstate(over="ignore"):
        prefix = np.concatenate([np.zeros(1, dtype=level.dtype), np.cumsum(level * (ends - a).astype(level.dtype))])

    # the queries: every timeline over the whole period, or over each span of its customer
    # (timelines of customers without spans: one query over the period each, made at once)
    line_customer, line_metric = np.divmod(lines, width)
    has_spans = np.isin(line_customer, np.fromiter(spanned, dtype=np.int64, count=len(spanned)))
    whole_period = np.flatnonzero(~has_spans)
    query_line, query_low, query_high = (
        [whole_period],
        [np.zeros(len(whole_period), np.int64)],
        [np.full(len(whole_period), period, np.int64)],
    )
    query_key = [(line_customer[whole_period] * height) * width + line_metric[whole_period]]
    # timelines of customers with spans: one query per span, gathered in lists (an array per query
    # costs more than the query), each customer's span bounds computed once
    numbers, lows, highs, keys = [], [], [], []
    bounds: dict[int, list[tuple[int, int]]] = {}
    starts = days.starts.tolist()
    with_spans = np.flatnonzero(has_spans)
    for number, customer, metric in zip(
        with_spans.tolist(), line_customer[with_spans].tolist(), line_metric[with_spans].tolist(), strict=True
    ):
        if customer not in bounds:
            bounds[customer] = [_bounds(span, days, starts) for span in spanned[customer]]
        for index, (low, high) in enumerate(bounds[customer]):
            numbers.append(number)
            lows.append((low - days.start) // tick)
            highs.append((high - days.start) // tick)
            keys.append((customer * height + index) * width + metric)
    query_line.append(np.array(numbers, dtype=np.int64))
    query_low.append(np.array(lows, dtype=np.int64))
    query_high.append(np.array(highs, dtype=np.int64))
    query_key.append(np.array(keys, dtype=np.int64))
    line_q = np.concatenate(query_line).astype(np.int64)
    low, high = np.concatenate(query_low).astype(np.int64), np.concatenate(query_high).astype(np.int64)
    at_low, at_high = _in_force(group, a, line_q, low, period), _in_force(group, a, line_q, high, period)
    with np.errstate(over="ignore"):
        integral = (
            prefix[at_high]
            - prefix[at_low]
            + level[at_high] * (high - a[at_high]).astype(level.dtype)
            - level[at_low] * (low - a[at_low]).astype(level.dtype)
        )
    scale = _MICRO if whole else 1  # the result in millionths
    values = [_rounded(int(value) * scale, period) for value in integral.tolist()]
    return np.concatenate(query_key).astype(np.int64), values


def ordered(groups: np.ndarray, instants: np.ndarray, names: Names, span: int | None = None) -> np.ndarray:
    """Order of rows by (group, instant, event_id), a null ``event_id`` first; groups >= 0.

    One integer sort on a combined key when it fits 64 bits (a stable lexsort otherwise); equal
    (group, instant) pairs are rare, so only their runs are put in ``event_id`` order, one by one.
    """
    if not len(groups):
        return np.zeros(0, dtype=np.int64)
    low = int(instants.min())
    if int(groups.max()) < 1 << 16:
        # a stable sort of 16-bit integers is a radix sort: by group, it keeps the time order of
        # rows already in time order (usage files mostly are)
        descents = np.count_nonzero(np.diff(instants) < 0)
        if not descents:
            return _ties_by_event_id(np.argsort(groups.astype(np.uint16), kind="stable"), groups, instants, names)
        if descents <= len(instants) >> 6:
            # a few runs in time order (late events appended to a file): a stable sort by instant
            # merges the runs it finds (timsort), then the radix sort by group keeps that order —
            # 1.7 million rows with their repeats at the end: 0.05 s against 0.15 s below
            by_instant = np.argsort(instants, kind="stable")
            order = by_instant[np.argsort(groups[by_instant].astype(np.uint16), kind="stable")]
            return _ties_by_event_id(order, groups, instants, names)
    width = (int(instants.max()) - low if span is None else span) + 1
    index_bits = len(groups).bit_length()
    if (int(groups.max()) + 1) * width <= _INT64_LIMIT >> index_bits:
        # the row number in the low bits of the combined key: a sort of the keys themselves (half
        # the time of a stable argsort) gives the stable order
        keys = ((groups * width + (instants - low)) << index_bits) | np.arange(len(groups), dtype=np.int64)
        keys.sort()
        order = keys & ((1 << index_bits) - 1)
    elif int(groups.max()) <= (_INT64_LIMIT - width) // width:
        order = np.argsort(groups * width + (instants - low), kind="stable")
    else:
        order = np.lexsort((instants, groups))
    return _ties_by_event_id(order, groups, instants, names)


def _ties_by_event_id(order: np.ndarray, groups: np.ndarray, instants: np.ndarray, names_of: Names) -> np.ndarray:
    g, t = groups[order], instants[order]
    tie = (g[1:] == g[:-1]) & (t[1:] == t[:-1])
    if tie.any():
        starts = np.flatnonzero(tie & ~np.append(False, tie[:-1]))
        ends = np.flatnonzero(tie & ~np.append(tie[1:], False)) + 2
        runs = [(first, end) for first, end in zip(starts.tolist(), ends.tolist(), strict=True)]
        tied = np.concatenate([order[first:end] for first, end in runs])
        names = iter(names_of(tied))  # one look-up for every run
        for first, end in runs:
            run = order[first:end].tolist()
            keys = [(name is not None, name or "") for name in (next(names) for _ in run)]
            order[first:end] = [row for _, row in sorted(zip(keys, run, strict=True))]
    return order


def _numbered(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The index of each of ``values`` in ``sorted_values`` (a lookup table when they are dense)."""
    if len(sorted_values) and int(sorted_values[-1]) < 4 * len(values) + (1 << 20):
        table = np.zeros(int(sorted_values[-1]) + 1, dtype=np.int64)
        table[sorted_values] = np.arange(len(sorted_values))
        return table[values]
    return np.searchsorted(sorted_values, values)


def _in_force(group: np.ndarray, a: np.ndarray, group_q: np.ndarray, at: np.ndarray, period: int) -> np.ndarray:
    """Index of the segment in force at each query (the last of its timeline beginning at or before it).

    Segments are sorted by (timeline, start); every timeline has one at the period start.
    """
    width = period + 1
    if len(group) and int(group.max()) <= (_INT64_LIMIT - width) // width:
        return np.searchsorted(group * width + a, group_q * width + at, side="right") - 1
    kind = np.concatenate([np.zeros(len(group), dtype=np.int8), np.ones(len(group_q), dtype=np.int8)])
    order = np.lexsort((kind, np.concatenate([a, at]), np.concatenate([group, group_q])))
    before = np.cumsum(kind[order] == 0) - 1
    result = np.empty(len(group_q), dtype=np.int64)
    queries = kind[order] == 1
    result[order[queries] - len(group)] = before[queries]
    return result


def _bounds(span: object, days: PeriodDays, starts: list[int]) -> tuple[int, int]:
    """[start, end) of a span's days as microseconds, within the period (``starts``: the days'
    starts as Python integers, converted once rather than a NumPy scalar at a time)."""
    first = min(max((span.first - days.first).days, 0), len(starts) - 1)  # type: ignore[attr-defined]
    last = min(max((span.last - days.first).days + 1, 0), len(starts) - 1)  # type: ignore[attr-defined]
    return starts[first], starts[max(first, last)]


def _rounded(numerator: int, period: int) -> Decimal:
    """numerator / period millionths, rounded half up to a millionth (numerator >= 0)."""
    return Decimal((2 * numerator + period) // (2 * period)).scaleb(-QUANTITY_SCALE)
