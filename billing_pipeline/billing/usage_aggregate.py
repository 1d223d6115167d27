"""The aggregations of the detail rows (``usage_detail.py``): per customer, span and metric.

Every result is exact: counts and sums of integers in NumPy/Arrow integers (decimals when they
could overflow), decimal quantities in Arrow's decimal128, and ``weighted_sum`` in integers of
micro-units × microseconds (Python integers when int64 could overflow), divided once at the end
with a half-up rounding to 6 decimals — no float ever touches an amount.

A customer given spans has each event put in the span containing its local day (billing time
zone); an event on a day no span covers is counted in ``UncoveredUsage`` and aggregated nowhere.
The ``weighted_sum`` level timeline, though, is one per (customer, metric) over the whole period
— an event on an uncovered day still sets the level the next span starts with — and each span
integrates it over its own days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.coverage import UncoveredUsage
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.usage_columns import QUANTITY_SCALE
from billing_pipeline.billing.usage_detail import (
    COUNT,
    LATEST,
    MAX,
    SUM,
    UNIQUE,
    WEIGHTED,
    CarryIn,
    Classifier,
    Detail,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_LIMIT = 2**63 - 1
_MICRO = 10**QUANTITY_SCALE

Key = tuple[int, int, int]  # customer code, span index (0 without spans), metric code
Names = Callable[[np.ndarray], list]  # rows -> their event_id (None for a row that has none)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware instant (real elapsed time, whatever its zone)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class PeriodDays:
    """The period's local days as instants: ``starts[i]`` is the midnight opening day ``i``, plus the end."""

    first: date
    starts: np.ndarray  # int64 microseconds, one more than the days

    @classmethod
    def of(cls, period: BillingPeriod, zone: ZoneInfo) -> PeriodDays:
        first, last = period.first_day, period.last_day
        days = [first + timedelta(days=offset) for offset in range((last - first).days + 2)]
        starts = [micros(datetime.combine(day, time(0), tzinfo=zone)) for day in days]
        return cls(first, np.array(starts, dtype=np.int64))

    @property
    def start(self) -> int:
        return int(self.starts[0])

    @property
    def end(self) -> int:
        return int(self.starts[-1])

    def day_index(self, instants: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, instants, side="right") - 1


@dataclass(frozen=True)
class Strings:
    """Strings kept for some rows only (``rows``, sorted), in row order."""

    rows: np.ndarray
    values: pa.Array

    def of(self, rows: np.ndarray) -> pa.Array:
        """The strings of ``rows`` (each one of ``self.rows``), in the order given."""
        if len(rows) == len(self.rows) and np.array_equal(rows, self.rows):
            return self.values  # every row (no copy dropped, none uncovered): nothing to pick
        return self.values.take(pa.array(np.searchsorted(self.rows, rows)))

    def codes_of(self, rows: np.ndarray) -> tuple[np.ndarray, int]:
        """(an integer per row of ``rows`` standing for its string — equal strings, equal integers,
        -1 for none —, how many integers there are): the strings encoded once, then picked as integers."""
        encoded = pc.dictionary_encode(self.values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        if not (len(rows) == len(self.rows) and np.array_equal(rows, self.rows)):
            codes = codes[np.searchsorted(self.rows, rows)]
        return codes, len(encoded.dictionary)


@dataclass(frozen=True)
class Aggregated:
    quantities: dict[str, dict[str, Decimal]]  # customers without spans
    span_quantities: dict[str, list[dict[str, Decimal]]]
    uncovered: list[UncoveredUsage]


def aggregate(
    detail: Detail,
    classifier: Classifier,
    carry: CarryIn,
    days: PeriodDays,
) -> Aggregated:
    """Every aggregation of the detail rows but the ``dropped`` ones, per customer, span and metric."""
    customer_values, metric_values = classifier.customers.values, classifier.metrics.values
    kinds_of = classifier.kinds()
    table, quantities, dropped = detail.table, detail.quantities, detail.dropped
    customers = table.column("customer").to_numpy()
    metrics = table.column("metric").to_numpy()
    instants = table.column("instant").to_numpy()
    kinds = kinds_of[metrics] if len(metrics) else np.zeros(0, dtype=np.int8)
    ids = Strings(np.flatnonzero(classifier.ordered()[metrics]), detail.event_ids)
    unique = Strings(np.flatnonzero(kinds == UNIQUE), detail.unique_keys)
    spanned = {code: classifier.spans[value] for code, value in enumerate(customer_values) if value in classifier.spans}
    spans_at, day = _span_of_rows(customers, instants, spanned, days)
    kinds[dropped] = -1  # a later copy of an event belongs to no aggregation (a fresh array: safe)
    spans_at[dropped] = -2  # nor to the uncovered events

    results: dict[Key, Decimal] = {}
    width, height = max(1, len(metric_values)), max([1, *(len(spans) for spans in spanned.values())])
    every_key = (customers.astype(np.int64) * height + spans_at) * width + metrics

    def keys(rows: np.ndarray) -> np.ndarray:
        return every_key[rows]

    def store(found: np.ndarray, values: Sequence[object]) -> None:
        rest, metric = np.divmod(found, width)
        customer, span = np.divmod(rest, height)
        for key, value in zip(zip(customer.tolist(), span.tolist(), metric.tolist(), strict=True), values, strict=True):
            results[key] = value if isinstance(value, Decimal) else Decimal(value)

    covered = spans_at >= 0
    for kind in (SUM, COUNT, UNIQUE, MAX, LATEST):
        rows = np.flatnonzero(covered & (kinds == kind))
        if len(rows):
            store(*_by_kind(kind, keys(rows), rows, instants, quantities, (ids, unique)))
    weighted = np.flatnonzero(kinds == WEIGHTED)
    if len(weighted) or carry.levels:
        # a key with events in its span is billed even at 0; one with none only for a non-zero level
        present = _distinct(keys(weighted[covered[weighted]]))
        found, values = _weighted(
            weighted, (customers, metrics, instants), ids, quantities, carry, spanned, days, (width, height)
        )
        billed = np.isin(found, present) | np.array([bool(value) for value in values], dtype=bool)
        picked = np.flatnonzero(billed)
        store(found[picked], [values[index] for index in picked.tolist()])
    return _shaped(results, spans_at, day, customers, classifier, spanned, days)


def _span_of_rows(
    customers: np.ndarray, instants: np.ndarray, spanned: dict[int, Sequence], days: PeriodDays
) -> tuple[np.ndarray, np.ndarray]:
    """(span index of each row — 0 without spans, -1 on an uncovered day —, local day index or -1)."""
    spans_at = np.zeros(len(customers), dtype=np.int16)
    day = np.full(len(customers), -1, dtype=np.int16)
    if not spanned or not len(customers):
        return spans_at, day
    dense = np.full(int(customers.max()) + 1, -1, dtype=np.int64)
    codes = [code for code in spanned if code < len(dense)]
    dense[codes] = np.arange(len(codes))
    has_spans = dense >= 0  # a lookup of one byte per customer: cheaper to gather over every row
    count = len(days.starts) - 1
    by_day = np.full((max(1, len(codes)), count), -1, dtype=np.int16)
    for row, code in enumerate(codes):
        for index, span in enumerate(spanned[code]):
            first, last = (span.first - days.first).days, (span.last - days.first).days
            by_day[row, max(0, first) : min(count, last + 1)] = index
    rows = np.flatnonzero(has_spans[customers])
    day[rows] = days.day_index(instants[rows])
    spans_at[rows] = by_day[dense[customers[rows]], day[rows]]
    return spans_at, day


def _by_kind(
    kind: int,
    keys: np.ndarray,
    rows: np.ndarray,
    instants: np.ndarray,
    quantities: pa.Array,
    strings: tuple[Strings, Strings],
) -> tuple[np.ndarray, list]:
    """(group keys, values) of one aggregation over ``rows``."""
    if kind == COUNT:
        if int(keys.max()) < 4 * len(keys) + (1 << 20):
            counts = np.bincount(keys)
            found = np.flatnonzero(counts)
            return found, counts[found].tolist()
        found, counts = _runs(np.sort(keys))
        return found, counts.tolist()
    if kind == UNIQUE:
        return _distinct_counts(keys, *strings[1].codes_of(rows))
    if kind == LATEST:
        return _latest(keys, rows, instants[rows], quantities, strings[0])
    if kind in (SUM, MAX) and pa.types.is_integer(quantities.type):
        dense = _dense_int(kind, keys, quantities, rows)
        if dense is not None:
            return dense
    picked = pa.array(rows)
    amounts = quantities.take(picked)
    if kind == SUM and pa.types.is_integer(amounts.type):
        largest = pc.max(amounts).as_py() or 0
        if largest * len(rows) > _INT64_LIMIT:
            amounts = amounts.cast(pa.decimal128(38, QUANTITY_SCALE))
    if kind in (SUM, MAX):
        grouped = pa.table({"k": keys, "q": amounts}).group_by("k").aggregate([("q", "sum" if kind == SUM else "max")])
        return grouped.column("k").to_numpy(), grouped.column(1).to_pylist()
    raise AssertionError(f"aggregation kind {kind}")


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, how many times each) of a sorted array — what ``np.unique(...,
    return_counts=True)`` gives, without its hash table (ten times slower here on int64)."""
    if not len(sorted_values):
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.append(True, sorted_values[1:] != sorted_values[:-1]))
    return sorted_values[starts], np.diff(np.append(starts, len(sorted_values)))


def _distinct_counts(keys: np.ndarray, codes: np.ndarray, width: int) -> tuple[np.ndarray, list]:
    """(keys, number of distinct values of each): ``codes`` stand for the values (-1: none, not
    counted; ``width`` of them); (key, value) pairs counted once each after one integer sort."""
    width = max(1, width)
    valid = codes >= 0
    if (int(keys.max(initial=0)) + 1) * width > _INT64_LIMIT:
        grouped = pa.table({"k": keys[valid], "u": codes[valid]}).group_by("k").aggregate([("u", "count_distinct")])
        found, counts = grouped.column("k").to_numpy(), grouped.column(1).to_numpy()
    else:
        distinct, _ = _runs(np.sort(keys[valid] * width + codes[valid]))
        found, counts = _runs(distinct // width)
    empty = np.setdiff1d(keys[~valid], found) if not valid.all() else np.zeros(0, dtype=np.int64)
    found = np.concatenate([found, empty])
    counts = np.concatenate([counts, np.zeros(len(empty), dtype=np.int64)])
    return found, counts.tolist()


def _latest(
    keys: np.ndarray, rows: np.ndarray, instants: np.ndarray, quantities: pa.Array, ids: Strings
) -> tuple[np.ndarray, list]:
    """(keys, quantity of each key's latest event): the greatest instant, then the greatest
    ``event_id`` among events at that instant — found without sorting the rows: the latest
    instant of each key, then the rows at it (ties between them are rare, sorted by id alone)."""
    found, slot = _slots(keys)
    latest = np.full(len(found), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, slot, instants)
    at_latest = np.flatnonzero(instants == latest[slot])
    tied = np.bincount(slot[at_latest], minlength=len(found))
    chosen = np.full(len(found), -1, dtype=np.int64)
    alone = at_latest[tied[slot[at_latest]] == 1]
    chosen[slot[alone]] = alone
    ties = at_latest[tied[slot[at_latest]] > 1]
    if len(ties):
        names = ids.of(rows[ties]).to_pylist()
        best: dict[int, tuple[str, int]] = {}
        for where, name in zip(ties.tolist(), names, strict=True):
            group = int(slot[where])
            if group not in best or name > best[group][0]:  # ids of ordered kinds are never null
                best[group] = (name, where)
        for group, (_, where) in best.items():
            chosen[group] = where
    return found, quantities.take(pa.array(rows[chosen])).to_pylist()


def _slots(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct keys, sorted; each key's index among them)."""
    if int(keys.max()) < 4 * len(keys) + (1 << 20):
        present = np.flatnonzero(np.bincount(keys))
        lookup = np.zeros(int(keys.max()) + 1, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        return present, lookup[keys]
    order = np.argsort(keys, kind="stable")
    found, counts = _runs(keys[order])
    slot = np.empty(len(keys), dtype=np.int64)
    slot[order] = np.repeat(np.arange(len(found)), counts)
    return found, slot


def _dense_int(kind: int, keys: np.ndarray, quantities: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, list] | None:
    """Sums or maxima of whole quantities over dense keys with NumPy, when exact (float64 sums
    below 2**53); None otherwise (the caller groups with Arrow)."""
    if int(keys.max()) >= 4 * len(keys) + (1 << 20):
        return None
    values = quantities.to_numpy(zero_copy_only=False)[rows]
    counts = np.bincount(keys)
    found = np.flatnonzero(counts)
    if kind == SUM:
        if int(values.max(initial=0)) * len(values) >= 1 << 53:
            return None
        sums = np.bincount(keys, weights=values.astype(np.float64))
        return found, sums[found].astype(np.int64).tolist()
    largest = np.full(len(counts), -1, dtype=np.int64)
    np.maximum.at(largest, keys, values)
    return found, largest[found].tolist()


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


def _weighted(
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
    lines = np.union1d(_distinct(timeline), np.array(sorted(carried), dtype=np.int64))
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
    for number in np.flatnonzero(has_spans).tolist():
        customer, metric = int(line_customer[number]), int(line_metric[number])
        for index, (low, high) in enumerate(_bounds(span, days) for span in spanned[customer]):
            query_line.append(np.array([number]))
            query_low.append(np.array([(low - days.start) // tick]))
            query_high.append(np.array([(high - days.start) // tick]))
            query_key.append(np.array([(customer * height + index) * width + metric]))
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
    if (np.diff(instants) >= 0).all() and int(groups.max()) < 1 << 16:
        # rows already in time order (usage files mostly are): a stable sort by group keeps it,
        # and a sort of 16-bit integers is a radix sort
        order = np.argsort(groups.astype(np.uint16), kind="stable")
        return _ties_by_event_id(order, groups, instants, names)
    width = (int(instants.max()) - low if span is None else span) + 1
    if int(groups.max()) <= (_INT64_LIMIT - width) // width:
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


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct non-negative integers of ``values``, sorted (a bincount when they are dense)."""
    if len(values) and int(values.max()) < 4 * len(values) + (1 << 20):
        return np.flatnonzero(np.bincount(values))
    return _runs(np.sort(values))[0]


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


def _bounds(span: object, days: PeriodDays) -> tuple[int, int]:
    """[start, end) of a span's days as microseconds, within the period."""
    first = min(max((span.first - days.first).days, 0), len(days.starts) - 1)  # type: ignore[attr-defined]
    last = min(max((span.last - days.first).days + 1, 0), len(days.starts) - 1)  # type: ignore[attr-defined]
    return int(days.starts[first]), int(days.starts[max(first, last)])


def _rounded(numerator: int, period: int) -> Decimal:
    """numerator / period millionths, rounded half up to a millionth (numerator >= 0)."""
    return Decimal((2 * numerator + period) // (2 * period)).scaleb(-QUANTITY_SCALE)


def _shaped(
    results: dict[Key, Decimal],
    spans_at: np.ndarray,
    day: np.ndarray,
    customers: np.ndarray,
    classifier: Classifier,
    spanned: dict[int, Sequence],
    days: PeriodDays,
) -> Aggregated:
    """The results as ``UsageTotals`` wants them, and the uncovered events of customers with spans."""
    customer_values, metric_values = classifier.customers.values, classifier.metrics.values
    quantities: dict[str, dict[str, Decimal]] = {}
    span_quantities = {customer: [{} for _ in spans] for customer, spans in classifier.spans.items()}
    for (customer, span, metric), value in results.items():
        name = customer_values[customer]
        if customer in spanned:
            span_quantities[name][span][metric_values[metric]] = value
        else:
            quantities.setdefault(name, {})[metric_values[metric]] = value
    uncovered = []
    off = np.flatnonzero(spans_at == -1)
    if len(off):
        order = np.lexsort((day[off], customers[off]))
        who, when = customers[off][order], day[off][order]
        bounds = np.flatnonzero(np.append(True, who[1:] != who[:-1]))
        for first, end in zip(bounds.tolist(), [*bounds[1:].tolist(), len(who)], strict=True):
            on = np.unique(when[first:end])
            uncovered.append(
                UncoveredUsage(
                    customer_values[int(who[first])],
                    end - first,
                    tuple(days.first + timedelta(days=int(offset)) for offset in on),
                )
            )
    uncovered.sort(key=lambda usage: usage.customer_id)
    return Aggregated(quantities, span_quantities, uncovered)
