"""The aggregations of the detail rows (``usage_detail.py``): per customer, span and metric — the
folded results (``usage_folded.py``: sums, counts, maxima, latest events) put together with the
distinct counts and the ``weighted_sum`` integrals of the rows kept one by one.

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
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa

from billing_pipeline.billing.coverage import UncoveredUsage
from billing_pipeline.billing.cycle_collection import cycle_collection_paused
from billing_pipeline.billing.usage_arrays import Strings, distinct, runs
from billing_pipeline.billing.usage_days import PeriodDays, micros
from billing_pipeline.billing.usage_detail import (
    UNIQUE,
    WEIGHTED,
    CarryIn,
    Classifier,
    Detail,
)
from billing_pipeline.billing.usage_weighted import weighted_sums

# PeriodDays, micros: where they were first
__all__ = ["Aggregated", "PeriodDays", "UnderWay", "aggregate", "micros", "start_aggregating"]

_INT64_LIMIT = 2**63 - 1


@dataclass(frozen=True)
class Aggregated:
    quantities: dict[str, dict[str, Decimal]]  # customers without spans
    span_quantities: dict[str, list[dict[str, Decimal]]]
    uncovered: list[UncoveredUsage]


@dataclass(frozen=True)
class UniquePairs:
    """The (group key, value) pairs of the covered ``unique_count`` rows, every copy of an event
    included: ``distinct`` pairs (key × ``values`` + value code, sorted) and how many rows have each."""

    rows: np.ndarray  # the covered unique_count rows (sorted)
    pairs: np.ndarray  # the pair of each of them (-1: no value)
    distinct: np.ndarray
    copies: np.ndarray
    values: int
    keys: np.ndarray  # every group key of those rows, sorted

    def counts(self, dropped: np.ndarray) -> tuple[np.ndarray, list]:
        """(keys, distinct values of each) once the ``dropped`` rows are taken out. A dropped copy
        has the key of the event it repeats (the same customer, metric and instant), so the keys stay."""
        at = np.minimum(np.searchsorted(self.rows, dropped), max(len(self.rows) - 1, 0))
        gone = self.pairs[at[self.rows[at] == dropped]] if len(self.rows) else np.zeros(0, np.int64)
        left = self.copies.copy()
        np.subtract.at(left, np.searchsorted(self.distinct, gone[gone >= 0]), 1)
        found, counts = runs(self.distinct[left > 0] // self.values)
        empty = np.setdiff1d(self.keys, found)
        return np.concatenate([found, empty]), [*counts.tolist(), *([0] * len(empty))]


@dataclass(frozen=True)
class UnderWay:
    """The aggregations of the kept rows started before duplicates are known (``start_aggregating``)."""

    width: int  # metric codes the group keys were made with
    levels: Future[tuple[np.ndarray, list[Decimal]] | None] | None  # weighted_sum: (keys, integrals)
    pairs: Future[UniquePairs | None] | None  # unique_count (None: too many to number, counted at the end)


def start_aggregating(
    kept: Future[Detail], classifier: Classifier, carry: CarryIn, days: PeriodDays, beside: Executor
) -> UnderWay:
    """Start on ``beside`` what of the ``kept`` rows (being put together there) needs no duplicate
    dropped, as soon as the last batch is folded: the ``weighted_sum`` integrals and the
    ``unique_count`` pairs.

    A later copy of an event is the same event (a copy whose content differs is an input problem,
    and the reading is refused): it holds its level from the same instant for no time at all, so no
    integral changes; its pair is counted, then taken out (``UniquePairs.counts``). NumPy's sorts,
    gathers and sums let go of the GIL: the other core works meanwhile.
    """
    shape = (max(1, len(classifier.metrics.values)), classifier.height)
    levels = beside.submit(_levels, kept, classifier, carry, days, shape) if classifier.weighted else None
    pairs = beside.submit(_unique_pairs, kept, classifier, shape) if classifier.unique_metrics else None
    return UnderWay(shape[0], levels, pairs)


def _kinds(detail: Detail, classifier: Classifier) -> np.ndarray:
    return classifier.kinds()[detail.metrics] if len(detail.metrics) else np.zeros(0, dtype=np.int8)


def _levels(
    kept_rows: Future[Detail], classifier: Classifier, carry: CarryIn, days: PeriodDays, shape: tuple[int, int]
) -> tuple[np.ndarray, list[Decimal]] | None:
    kept = kept_rows.result()
    weighted = np.flatnonzero(_kinds(kept, classifier) == WEIGHTED)
    if not (len(weighted) or carry.levels):
        return None
    ids = Strings(lambda: weighted, kept.event_ids)  # the ids kept: of the weighted_sum rows
    columns = (kept.customers, kept.metrics, kept.instants)
    return weighted_sums(weighted, columns, ids, kept.quantities, carry, _spanned(classifier), days, shape)


def _keys(detail: Detail, rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Group key of each row: (customer × height + span) × width + metric."""
    width, height = shape
    return (detail.customers[rows].astype(np.int64) * height + detail.spans[rows]) * width + detail.metrics[rows]


def _unique_pairs(kept_rows: Future[Detail], classifier: Classifier, shape: tuple[int, int]) -> UniquePairs | None:
    detail = kept_rows.result()
    unique_rows = np.flatnonzero(_kinds(detail, classifier) == UNIQUE)
    covered = detail.spans[unique_rows] >= 0
    rows = unique_rows[covered]
    codes, values = Strings(lambda: unique_rows, detail.unique_keys).codes_where(covered)
    keys, values = _keys(detail, rows, shape), max(1, values)
    if (int(keys.max(initial=0)) + 1) * values > _INT64_LIMIT:
        return None
    pairs = np.where(codes >= 0, keys * values + codes, -1)
    found, copies = runs(np.sort(pairs[pairs >= 0]))
    return UniquePairs(rows, pairs, found, copies, values, distinct(keys))


def _spanned(classifier: Classifier) -> dict[int, Sequence]:
    """The spans of every customer code given some."""
    spans = classifier.spans
    return {code: spans[value] for code, value in enumerate(classifier.customers.values) if value in spans}


def aggregate(detail: Detail, classifier: Classifier, days: PeriodDays, under_way: UnderWay) -> Aggregated:
    """Every aggregation of the detail rows but the ``dropped`` ones, per customer, span and metric;
    ``under_way``: what was started before the duplicates were known (``start_aggregating``)."""
    customer_values, metric_values = classifier.customers.values, classifier.metrics.values
    spans_at, dropped = detail.spans, detail.dropped
    kinds = _kinds(detail, classifier)
    unique_rows = np.flatnonzero(kinds == UNIQUE)
    spanned = _spanned(classifier)
    width, height = max(1, len(metric_values)), classifier.height
    # codes are only handed out while reading: the keys under way were made with the same width
    assert under_way.width == width, "metric codes were handed out after the reading"
    # a later copy of an event belongs to no aggregation nor span (the arrays are shared with the
    # work under way: not changed)
    kinds[dropped] = -1
    covered = spans_at >= 0
    covered[dropped] = False
    weighted = np.flatnonzero(kinds == WEIGHTED)
    shape = (width, height)

    found, values = detail.folded.results(width)  # sums, counts, maxima, latest events
    every_found = [found]
    pairs = under_way.pairs.result() if under_way.pairs is not None else None
    if pairs is not None:
        keys_found, kind_values = pairs.counts(dropped)
        every_found.append(keys_found)
        values.extend(kind_values)
    elif under_way.pairs is not None:  # too many pairs to number: counted on the rows left
        keep = covered[unique_rows]
        unique = Strings(lambda: unique_rows, detail.unique_keys)
        codes, _ = unique.codes_where(keep)
        keys_found, kind_values = _distinct_counts(_keys(detail, unique_rows[keep], shape), codes)
        every_found.append(keys_found)
        values.extend(kind_values)
    integrals = under_way.levels.result() if under_way.levels is not None else None
    if integrals is not None:
        # a key with events in its span is billed even at 0; one with none only for a non-zero level
        present = distinct(_keys(detail, weighted[covered[weighted]], shape))
        lines, sums = integrals
        billed = np.isin(lines, present) | np.array([bool(value) for value in sums], dtype=bool)
        picked = np.flatnonzero(billed)
        every_found.append(lines[picked])
        values.extend(sums[index] for index in picked.tolist())
    with cycle_collection_paused():  # a dict and a Decimal per result, all kept (``cycle_collection``)
        quantities_of, span_quantities = _by_customer(np.concatenate(every_found), values, shape, classifier, spanned)
    return Aggregated(quantities_of, span_quantities, detail.folded.uncovered(customer_values, days))


def _distinct_counts(keys: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, list]:
    """(keys, number of distinct values of each) by Arrow's hash aggregation — for pairs too many to
    number in 64 bits (``UniquePairs`` counts the others): ``codes`` stand for the values (-1: none,
    not counted)."""
    valid = codes >= 0
    grouped = pa.table({"k": keys[valid], "u": codes[valid]}).group_by("k").aggregate([("u", "count_distinct")])
    found, counts = grouped.column("k").to_numpy(), grouped.column(1).to_numpy()
    empty = np.setdiff1d(keys[~valid], found) if not valid.all() else np.zeros(0, dtype=np.int64)
    found = np.concatenate([found, empty])
    counts = np.concatenate([counts, np.zeros(len(empty), dtype=np.int64)])
    return found, counts.tolist()


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
