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

from collections.abc import Sequence
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
from billing_pipeline.billing.usage_detail import COUNT, LATEST, MAX, SUM, UNIQUE, WEIGHTED, CarryIn, Classifier

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_LIMIT = 2**63 - 1
_MICRO = 10**QUANTITY_SCALE

Key = tuple[int, int, int]  # customer code, span index (0 without spans), metric code


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
class Aggregated:
    quantities: dict[str, dict[str, Decimal]]  # customers without spans
    span_quantities: dict[str, list[dict[str, Decimal]]]
    uncovered: list[UncoveredUsage]


def aggregate(
    table: pa.Table, quantities: pa.Array, classifier: Classifier, carry: CarryIn, days: PeriodDays
) -> Aggregated:
    """Every aggregation of the (deduplicated) detail rows, per customer, span and metric."""
    customer_values, metric_values = classifier.customers.values, classifier.metrics.values
    kinds_of = classifier.kinds()
    customers = table.column("customer").to_numpy().astype(np.int64)
    metrics = table.column("metric").to_numpy().astype(np.int64)
    instants = table.column("instant").to_numpy()
    kinds = kinds_of[metrics] if len(metrics) else np.zeros(0, dtype=np.int8)
    spanned = {code: classifier.spans[value] for code, value in enumerate(customer_values) if value in classifier.spans}
    spans_at, day = _span_of_rows(customers, instants, spanned, days)

    results: dict[Key, Decimal] = {}
    width, height = max(1, len(metric_values)), max([1, *(len(spans) for spans in spanned.values())])

    def keys(rows: np.ndarray) -> np.ndarray:
        return (customers[rows] * height + spans_at[rows]) * width + metrics[rows]

    def store(found: np.ndarray, values: Sequence[object]) -> None:
        for key, value in zip(found.tolist(), values, strict=True):
            rest, metric = divmod(key, width)
            customer, span = divmod(rest, height)
            results[(customer, span, metric)] = value if isinstance(value, Decimal) else Decimal(value)

    covered = spans_at >= 0
    for kind in (SUM, COUNT, UNIQUE, MAX, LATEST):
        rows = np.flatnonzero(covered & (kinds == kind))
        if len(rows):
            store(*_by_kind(kind, keys(rows), rows, table, quantities))
    weighted = np.flatnonzero(kinds == WEIGHTED)
    if len(weighted) or carry.levels:
        # a key with events in its span is billed even at 0; one with none only for a non-zero level
        present = set(keys(weighted[covered[weighted]]).tolist())
        found, values = _weighted(
            weighted, (customers, metrics, instants), table, quantities, carry, spanned, days, (width, height)
        )
        picked = [
            index
            for index, (key, value) in enumerate(zip(found.tolist(), values, strict=True))
            if value or key in present
        ]
        store(found[picked], [values[index] for index in picked])
    return _shaped(results, spans_at, day, customers, classifier, spanned, days)


def _span_of_rows(
    customers: np.ndarray, instants: np.ndarray, spanned: dict[int, Sequence], days: PeriodDays
) -> tuple[np.ndarray, np.ndarray]:
    """(span index of each row — 0 without spans, -1 on an uncovered day —, local day index or -1)."""
    spans_at = np.zeros(len(customers), dtype=np.int64)
    day = np.full(len(customers), -1, dtype=np.int64)
    if not spanned or not len(customers):
        return spans_at, day
    dense = np.full(int(customers.max()) + 1, -1, dtype=np.int64)
    codes = [code for code in spanned if code < len(dense)]
    dense[codes] = np.arange(len(codes))
    count = len(days.starts) - 1
    by_day = np.full((max(1, len(codes)), count), -1, dtype=np.int64)
    for row, code in enumerate(codes):
        for index, span in enumerate(spanned[code]):
            first, last = (span.first - days.first).days, (span.last - days.first).days
            by_day[row, max(0, first) : min(count, last + 1)] = index
    rows = np.flatnonzero(dense[customers] >= 0)
    day[rows] = days.day_index(instants[rows])
    spans_at[rows] = by_day[dense[customers[rows]], day[rows]]
    return spans_at, day


def _by_kind(
    kind: int, keys: np.ndarray, rows: np.ndarray, table: pa.Table, quantities: pa.Array
) -> tuple[np.ndarray, list]:
    """(group keys, values) of one aggregation over ``rows``."""
    if kind == COUNT:
        found, counts = np.unique(keys, return_counts=True)
        return found, counts.tolist()
    picked = pa.array(rows)
    amounts = quantities.take(picked)
    if kind == SUM and pa.types.is_integer(amounts.type):
        largest = pc.max(amounts).as_py() or 0
        if largest * len(rows) > _INT64_LIMIT:
            amounts = amounts.cast(pa.decimal128(38, QUANTITY_SCALE))
    if kind in (SUM, MAX):
        grouped = pa.table({"k": keys, "q": amounts}).group_by("k").aggregate([("q", "sum" if kind == SUM else "max")])
        return grouped.column("k").to_numpy(), grouped.column(1).to_pylist()
    if kind == UNIQUE:
        grouped = (
            pa.table({"k": keys, "u": table.column("unique_key").take(picked)})
            .group_by("k")
            .aggregate([("u", "count_distinct")])
        )
        return grouped.column("k").to_numpy(), grouped.column(1).to_pylist()
    assert kind == LATEST
    ordered = pa.table(
        {"k": keys, "t": table.column("instant").take(picked), "e": table.column("event_id").take(picked)}
    )
    order = pc.sort_indices(ordered, sort_keys=[("k", "ascending"), ("t", "ascending"), ("e", "ascending")]).to_numpy()
    sorted_keys = keys[order]
    last = order[np.append(sorted_keys[1:] != sorted_keys[:-1], True)]
    return keys[last], amounts.take(pa.array(last)).to_pylist()


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
    table: pa.Table,
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
    timeline = customers[rows] * width + metrics[rows]
    carried = {customer * width + metric: level for (customer, metric), (_, _, level) in carry.levels.items()}
    lines = np.union1d(np.unique(timeline), np.array(sorted(carried), dtype=np.int64))
    levels = micro_units(quantities.take(pa.array(rows)))
    opening = [int(Decimal(carried[line]).scaleb(QUANTITY_SCALE)) if line in carried else 0 for line in lines.tolist()]
    if levels.dtype == object or max(opening, default=0) > _INT64_LIMIT:
        level = np.array([*opening, *levels.tolist()], dtype=object)
    else:
        level = np.concatenate([np.array(opening, dtype=np.int64), levels])
    ids = table.column("event_id").take(pa.array(rows))
    segments = pa.table(
        {
            "t": np.concatenate([lines, timeline]),
            "a": np.concatenate([np.full(len(lines), days.start, dtype=np.int64), instants[rows]]),
            "real": np.concatenate([np.zeros(len(lines), dtype=np.int8), np.ones(len(rows), dtype=np.int8)]),
            "e": pa.concat_arrays([pa.nulls(len(lines), pa.string()), *ids.cast(pa.string()).chunks]),
        }
    )
    keys = [("t", "ascending"), ("a", "ascending"), ("real", "ascending"), ("e", "ascending")]
    order = pc.sort_indices(segments, sort_keys=keys).to_numpy()
    t, a, level = segments.column("t").to_numpy()[order], segments.column("a").to_numpy()[order], level[order]
    ends = np.append(a[1:], days.end)
    ends[np.append(t[1:] != t[:-1], True)] = days.end
    period = days.end - days.start
    if level.dtype != object and int(level.max(initial=0)) * period * len(level) > _INT64_LIMIT:
        level = level.astype(object)
    elapsed = ends - a if level.dtype != object else (ends - a).astype(object)
    prefix = np.concatenate([np.zeros(1, dtype=level.dtype), np.cumsum(level * elapsed)])

    # the queries: every timeline over the whole period, or over each span of its customer
    query_t, query_low, query_high, query_key = [], [], [], []
    for line in lines.tolist():
        customer, metric = divmod(line, width)
        spans = spanned.get(customer)
        bounds = [(days.start, days.end)] if spans is None else [_bounds(span, days) for span in spans]
        for index, (low, high) in enumerate(bounds):
            query_t.append(line)
            query_low.append(low)
            query_high.append(high)
            query_key.append((customer * height + index) * width + metric)
    t_q = np.array(query_t, dtype=np.int64)
    low, high = np.array(query_low, dtype=np.int64), np.array(query_high, dtype=np.int64)
    at_low, at_high = _in_force(t, a, t_q, low), _in_force(t, a, t_q, high)
    cast = (lambda values: values.astype(object)) if level.dtype == object else (lambda values: values)
    integral = (
        prefix[at_high]
        - prefix[at_low]
        + level[at_high] * cast(high - a[at_high])
        - level[at_low] * cast(low - a[at_low])
    )
    return np.array(query_key, dtype=np.int64), [_rounded(int(value), period) for value in integral.tolist()]


def _in_force(t: np.ndarray, a: np.ndarray, t_query: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the segment in force at each query (the last of its timeline beginning at or before it).

    One stable sort of segments and queries together (segments first on a tie): no combined key
    that could overflow. Every timeline has a segment at the period start, so one always exists.
    """
    kind = np.concatenate([np.zeros(len(t), dtype=np.int8), np.ones(len(t_query), dtype=np.int8)])
    order = np.lexsort((kind, np.concatenate([a, at]), np.concatenate([t, t_query])))
    before = np.cumsum(kind[order] == 0) - 1
    result = np.empty(len(t_query), dtype=np.int64)
    queries = kind[order] == 1
    result[order[queries] - len(t)] = before[queries]
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
    for (customer, span, metric), value in sorted(results.items()):
        name = customer_values[customer]
        if customer in spanned:
            span_quantities[name][span][metric_values[metric]] = value
        else:
            quantities.setdefault(name, {})[metric_values[metric]] = value
    uncovered = []
    off = np.flatnonzero(spans_at < 0)
    if len(off):
        found, inverse = np.unique(customers[off], return_inverse=True)
        for index, customer in enumerate(found.tolist()):
            on = np.unique(day[off[inverse == index]])
            uncovered.append(
                UncoveredUsage(
                    customer_values[customer],
                    int((inverse == index).sum()),
                    tuple(days.first + timedelta(days=int(offset)) for offset in on),
                )
            )
    uncovered.sort(key=lambda usage: usage.customer_id)
    return Aggregated(quantities, span_quantities, uncovered)
