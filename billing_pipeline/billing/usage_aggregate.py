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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa

from billing_pipeline.billing.coverage import UncoveredUsage
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
    quantities, dropped = detail.quantities, detail.dropped
    customers, metrics, instants, spans_at = detail.customers, detail.metrics, detail.instants, detail.spans
    kinds = classifier.kinds()[metrics] if len(metrics) else np.zeros(0, dtype=np.int8)
    every_weighted = np.flatnonzero(kinds == WEIGHTED)
    ids = Strings(lambda: every_weighted, detail.event_ids)  # the ids kept: of the weighted_sum rows
    unique_rows = np.flatnonzero(kinds == UNIQUE)
    unique = Strings(lambda: unique_rows, detail.unique_keys)
    spanned = {code: classifier.spans[value] for code, value in enumerate(customer_values) if value in classifier.spans}
    kinds[dropped] = -1  # a later copy of an event belongs to no aggregation (a fresh array: safe)
    spans_at[dropped] = -2  # nor to any span (the detail's own array, not used after this)
    weighted = np.flatnonzero(kinds == WEIGHTED)
    width, height = max(1, len(metric_values)), classifier.height
    timelines = None
    if len(weighted) or carry.levels:
        # the level timelines need neither spans of rows nor group keys: integrated on the other core
        # meanwhile (NumPy's sorts, gathers and sums let go of the GIL)
        arguments = (weighted, (customers, metrics, instants), ids, quantities, carry, spanned, days, (width, height))
        timelines = beside.submit(weighted_sums, *arguments)

    def keys(rows: np.ndarray) -> np.ndarray:  # (customer × height + span) × width + metric
        return (customers[rows].astype(np.int64) * height + spans_at[rows]) * width + metrics[rows]

    found, values = detail.folded.results(width)  # sums, counts, maxima, latest events
    every_found = [found]
    covered = spans_at >= 0
    keep = covered[unique_rows]  # a mask over the unique_count rows: picked without a search
    if keep.any():
        keys_found, kind_values = _distinct_counts(keys(unique_rows[keep]), *unique.codes_where(keep))
        every_found.append(keys_found)
        values.extend(kind_values)
    if timelines is not None:
        # a key with events in its span is billed even at 0; one with none only for a non-zero level
        present = distinct(keys(weighted[covered[weighted]]))
        lines, sums = timelines.result()
        billed = np.isin(lines, present) | np.array([bool(value) for value in sums], dtype=bool)
        picked = np.flatnonzero(billed)
        every_found.append(lines[picked])
        values.extend(sums[index] for index in picked.tolist())
    shape = (width, height)
    quantities_of, span_quantities = _by_customer(np.concatenate(every_found), values, shape, classifier, spanned)
    return Aggregated(quantities_of, span_quantities, detail.folded.uncovered(customer_values, days))


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
