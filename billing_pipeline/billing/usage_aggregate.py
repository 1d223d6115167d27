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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.coverage import UncoveredUsage
from billing_pipeline.billing.usage_arrays import Strings, distinct, runs, slots
from billing_pipeline.billing.usage_columns import QUANTITY_SCALE
from billing_pipeline.billing.usage_days import PeriodDays, micros
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
from billing_pipeline.billing.usage_weighted import weighted_sums

__all__ = ["Aggregated", "PeriodDays", "aggregate", "micros"]  # PeriodDays, micros: where they were first

_INT64_LIMIT = 2**63 - 1


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
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="weighted-sum") as beside:  # per call: fork-safe
        return _aggregate(detail, classifier, carry, days, beside)


def _aggregate(
    detail: Detail, classifier: Classifier, carry: CarryIn, days: PeriodDays, beside: ThreadPoolExecutor
) -> Aggregated:
    customer_values, metric_values = classifier.customers.values, classifier.metrics.values
    kinds_of = classifier.kinds()
    quantities, dropped = detail.quantities, detail.dropped
    customers, metrics, instants = detail.customers, detail.metrics, detail.instants
    kinds = kinds_of[metrics] if len(metrics) else np.zeros(0, dtype=np.int8)
    ordered = classifier.ordered()
    ids = Strings(lambda: np.flatnonzero(ordered[metrics]), detail.event_ids)
    unique_rows = np.flatnonzero(kinds == UNIQUE)
    unique = Strings(lambda: unique_rows, detail.unique_keys)
    spanned = {code: classifier.spans[value] for code, value in enumerate(customer_values) if value in classifier.spans}
    kinds[dropped] = -1  # a later copy of an event belongs to no aggregation (a fresh array: safe)
    weighted = np.flatnonzero(kinds == WEIGHTED)
    width, height = max(1, len(metric_values)), max([1, *(len(spans) for spans in spanned.values())])
    timelines = None
    if len(weighted) or carry.levels:
        # the level timelines need neither spans of rows nor group keys: integrated on the other core
        # meanwhile (NumPy's sorts, gathers and sums let go of the GIL)
        ids.rows  # noqa: B018 -- computed here, not raced for by two threads
        arguments = (weighted, (customers, metrics, instants), ids, quantities, carry, spanned, days, (width, height))
        timelines = beside.submit(weighted_sums, *arguments)
    spans_at, day = _span_of_rows(customers, instants, spanned, days)
    spans_at[dropped] = -2  # a later copy of an event is not among the uncovered events either

    every_key = customers.astype(np.int64)  # (customer × height + span) × width + metric, in place:
    every_key *= height  # one array of every row rather than four
    every_key += spans_at
    every_key *= width
    every_key += metrics

    def keys(rows: np.ndarray) -> np.ndarray:
        return every_key[rows]

    found: list[np.ndarray] = []  # group keys, and their values, kind by kind (a metric has one kind)
    values: list[Decimal | int] = []
    covered = spans_at >= 0
    for kind in (SUM, COUNT, UNIQUE, MAX, LATEST):
        if kind == UNIQUE:
            keep = covered[unique_rows]  # a mask over the unique_count rows: picked without a search
            if keep.any():
                keys_found, kind_values = _distinct_counts(keys(unique_rows[keep]), *unique.codes_where(keep))
                found.append(keys_found)
                values.extend(kind_values)
            continue
        rows = np.flatnonzero(covered & (kinds == kind))
        if len(rows):
            keys_found, kind_values = _by_kind(kind, keys(rows), rows, instants, quantities, ids)
            found.append(keys_found)
            values.extend(kind_values)
    if timelines is not None:
        # a key with events in its span is billed even at 0; one with none only for a non-zero level
        present = distinct(keys(weighted[covered[weighted]]))
        lines, sums = timelines.result()
        billed = np.isin(lines, present) | np.array([bool(value) for value in sums], dtype=bool)
        picked = np.flatnonzero(billed)
        found.append(lines[picked])
        values.extend(sums[index] for index in picked.tolist())
    every_found = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    quantities_of, span_quantities = _by_customer(every_found, values, (width, height), classifier, spanned)
    return Aggregated(quantities_of, span_quantities, _uncovered(spans_at, day, customers, classifier, days))


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
    on = days.day_index(instants[rows])
    day[rows] = on
    where = dense[customers[rows]]
    where *= count  # the flat index of (customer, day) in ``by_day``, in place
    where += on
    spans_at[rows] = by_day.ravel()[where]
    return spans_at, day


def _by_kind(
    kind: int,
    keys: np.ndarray,
    rows: np.ndarray,
    instants: np.ndarray,
    quantities: pa.Array,
    ids: Strings,
) -> tuple[np.ndarray, list]:
    """(group keys, values) of one aggregation over ``rows`` (``unique_count``: ``_distinct_counts``)."""
    if kind == COUNT:
        if int(keys.max()) < 4 * len(keys) + (1 << 20):
            counts = np.bincount(keys)
            found = np.flatnonzero(counts)
            return found, counts[found].tolist()
        found, counts = runs(np.sort(keys))
        return found, counts.tolist()
    if kind == LATEST:
        return _latest(keys, rows, instants[rows], quantities, ids)
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


def _distinct_counts(keys: np.ndarray, codes: np.ndarray, width: int) -> tuple[np.ndarray, list]:
    """(keys, number of distinct values of each): ``codes`` stand for the values (-1: none, not
    counted; ``width`` of them); (key, value) pairs counted once each after one integer sort."""
    width = max(1, width)
    valid = codes >= 0
    if (int(keys.max(initial=0)) + 1) * width > _INT64_LIMIT:
        grouped = pa.table({"k": keys[valid], "u": codes[valid]}).group_by("k").aggregate([("u", "count_distinct")])
        found, counts = grouped.column("k").to_numpy(), grouped.column(1).to_numpy()
    else:
        distinct, _ = runs(np.sort(keys[valid] * width + codes[valid]))
        found, counts = runs(distinct // width)
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
    found, slot = slots(keys)
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


def _by_customer(
    found: np.ndarray,
    values: Sequence[Decimal | int],
    shape: tuple[int, int],
    classifier: Classifier,
    spanned: dict[int, Sequence],
) -> tuple[dict[str, dict[str, Decimal]], dict[str, list[dict[str, Decimal]]]]:
    """The values of the group keys ``found`` as ``UsageTotals`` wants them: per customer without
    spans, per customer and span otherwise (keys decoded at once, then one loop filling the dicts)."""
    customer_values, metric_values = classifier.customers.values, classifier.metrics.values
    width, height = shape
    rest, metric = np.divmod(found, width)
    customer, span = np.divmod(rest, height)
    quantities: dict[str, dict[str, Decimal]] = {}
    span_quantities = {name: [{} for _ in spans] for name, spans in classifier.spans.items()}
    has_spans = np.zeros(len(customer_values) + 1, dtype=bool)
    has_spans[list(spanned)] = True
    for code, index, metric_code, value, apart in zip(
        customer.tolist(), span.tolist(), metric.tolist(), values, has_spans[customer].tolist(), strict=True
    ):
        amount = value if isinstance(value, Decimal) else Decimal(value)
        if apart:
            span_quantities[customer_values[code]][index][metric_values[metric_code]] = amount
        else:
            quantities.setdefault(customer_values[code], {})[metric_values[metric_code]] = amount
    return quantities, span_quantities


def _uncovered(
    spans_at: np.ndarray, day: np.ndarray, customers: np.ndarray, classifier: Classifier, days: PeriodDays
) -> list[UncoveredUsage]:
    """The events of customers with spans on days none of their spans covers, per customer."""
    customer_values = classifier.customers.values
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
    return uncovered
