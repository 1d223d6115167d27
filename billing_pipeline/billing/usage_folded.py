"""The aggregations folded batch by batch, on the detail helper thread (``usage_detail.DetailRows``).

``sum`` and ``count`` (of customers with spans, and ``count`` metrics), ``max``, ``latest`` and the
events on days no span covers need no row once its batch is folded: a running result per group
(customer, span, metric) is kept instead, so the end of a reading has little left to do. Only
``unique_count`` and ``weighted_sum`` rows are kept one by one (their values need every event).

Duplicates are known only once every batch is read (``usage_duplicates``): a later copy of an event
is folded like any row, then taken out. Sums and counts subtract it; ``max`` and ``latest`` need not:
a copy whose content differs from its first is an input problem (the reading is refused), so a
dropped copy is the same event again, which changes neither a maximum nor the latest event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

import numpy as np
import pyarrow as pa

from billing_pipeline.billing.coverage import DaySpan, UncoveredUsage
from billing_pipeline.billing.price_plans import AGGREGATIONS
from billing_pipeline.billing.usage_arrays import runs, slots
from billing_pipeline.billing.usage_columns import concat_quantities
from billing_pipeline.billing.usage_days import PeriodDays
from billing_pipeline.billing.usage_totals import RunningSums

# aggregation -> its small integer kind, as stored per metric code
KIND = {name: index for index, name in enumerate(AGGREGATIONS)}
SUM, COUNT, UNIQUE, MAX, LATEST, WEIGHTED = (KIND[name] for name in AGGREGATIONS)
_METRIC_BITS = 16  # metric codes are int16: a folded group is slot << 16 | metric
_COMBINE_EVERY = 64  # per-batch partial maxima (or latest events) kept before they are folded into one


def slot_keys(slots: np.ndarray, metrics: np.ndarray) -> np.ndarray:
    """A group per (slot, metric); a slot is customer code × height + span index."""
    return (slots.astype(np.int64) << _METRIC_BITS) | metrics.astype(np.int64)


class SpanTable:
    """Which span of its customer each local day falls in, per customer code given spans."""

    def __init__(self, customer_values: Sequence[str], spans: Mapping[str, Sequence[DaySpan]], days: PeriodDays):
        self.known = len(customer_values)
        codes = [code for code, value in enumerate(customer_values) if value in spans]
        self.dense = np.full(self.known + 1, -1, dtype=np.int64)
        self.dense[codes] = np.arange(len(codes))
        self.days = days
        count = len(days.starts) - 1
        self.by_day = np.full((max(1, len(codes)), count), -1, dtype=np.int16)
        for row, code in enumerate(codes):
            for index, span in enumerate(spans[customer_values[code]]):
                first, last = (span.first - days.first).days, (span.last - days.first).days
                self.by_day[row, max(0, first) : min(count, last + 1)] = index
        self.any = bool(codes)

    def of(self, customers: np.ndarray, instants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(span index of each row — 0 without spans, -1 on an uncovered day —, local day index or -1)."""
        spans_at = np.zeros(len(customers), dtype=np.int16)
        day = np.full(len(customers), -1, dtype=np.int16)
        if not self.any or not len(customers):
            return spans_at, day
        rows = np.flatnonzero(self.dense[customers] >= 0)
        on = self.days.day_index(instants[rows])
        day[rows] = on
        where = self.dense[customers[rows]]
        where *= self.by_day.shape[1]  # the flat index of (customer, day) in ``by_day``, in place
        where += on
        spans_at[rows] = self.by_day.ravel()[where]
        return spans_at, day


class Folded:
    """Running results per group of the folded kinds, and the events on uncovered days."""

    def __init__(self, height: int) -> None:
        self.height = height  # the most spans a customer has (1 without spans)
        self.sums = RunningSums()
        self.counts = RunningSums()
        self.maxima: list[pa.Table] = []  # per batch: key, the greatest quantity
        # per batch, the rows at their group's latest instant: keys, instants, quantities, event ids
        self.latest: list[tuple[np.ndarray, np.ndarray, pa.Array, pa.Array]] = []
        self.off_days: list[tuple[np.ndarray, np.ndarray]] = []  # (customer << 16 | day, events)

    def add(
        self,
        kinds: np.ndarray,
        columns: tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray],
        spans: tuple[np.ndarray, np.ndarray],
        event_ids: Callable[[np.ndarray], pa.Array],
    ) -> None:
        """Fold a batch's detail rows: ``kinds``, ``columns`` (customer and metric codes, quantity,
        instant) and ``spans`` (span index, local day) per row; ``event_ids``: the ids of some rows."""
        customers, metrics, amounts, micros = columns
        spans_at, day = spans
        off = spans_at == -1
        if off.any():
            self._off(customers[off], day[off], 1)
        slot = customers.astype(np.int64) * self.height + spans_at
        for kind in (SUM, COUNT, MAX, LATEST):
            rows = np.flatnonzero((kinds == kind) & ~off)
            if not len(rows):
                continue
            if kind == SUM:
                self.sums.add(slot[rows], metrics[rows], amounts.take(pa.array(rows)))
            elif kind == COUNT:
                self.counts.add(slot[rows], metrics[rows], pa.array(np.ones(len(rows), dtype=np.int64)))
            elif kind == MAX:
                self.maxima.append(_maxima(slot_keys(slot[rows], metrics[rows]), amounts.take(pa.array(rows))))
            else:
                keys = slot_keys(slot[rows], metrics[rows])
                at = _at_latest_instant(keys, micros[rows])
                picked = rows[at]
                self.latest.append((keys[at], micros[picked], amounts.take(pa.array(picked)), event_ids(picked)))
        if len(self.maxima) >= _COMBINE_EVERY:  # partial results of many batches: folded into one
            self.maxima = [self._maxima()]
        if len(self.latest) >= _COMBINE_EVERY:
            self.latest = [self._latest_candidates()]

    def subtract(
        self,
        kinds: np.ndarray,
        columns: tuple[np.ndarray, np.ndarray, pa.Array],
        spans: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """Take out later copies of events folded before: their ``kinds``, ``columns`` (customer and
        metric codes, quantity) and ``spans`` (span index, local day), as ``add`` was given them."""
        customers, metrics, amounts = columns
        spans_at, day = spans
        off = spans_at == -1
        if off.any():
            self._off(customers[off], day[off], -1)
        slot = customers.astype(np.int64) * self.height + spans_at
        for kind, sums in ((SUM, self.sums), (COUNT, self.counts)):
            rows = np.flatnonzero((kinds == kind) & ~off)
            if len(rows):
                quantities = amounts.take(pa.array(rows)) if kind == SUM else pa.array(np.ones(len(rows), np.int64))
                sums.subtract(slot[rows], metrics[rows], quantities)

    def _off(self, customers: np.ndarray, day: np.ndarray, sign: int) -> None:
        found, counts = runs(np.sort((customers.astype(np.int64) << _METRIC_BITS) | day.astype(np.int64)))
        self.off_days.append((found, counts * sign))

    def results(self, width: int) -> tuple[np.ndarray, list]:
        """(group keys as ``usage_aggregate`` numbers them — slot × ``width`` + metric —, values)."""
        found: list[np.ndarray] = []
        values: list = []
        for sums in (self.sums, self.counts):
            keys, amounts = sums.keyed()
            found.append(np.array(keys, dtype=np.int64))
            values.extend(amounts)
        if self.maxima:
            maxima = self._maxima()
            found.append(maxima["k"].to_numpy())
            values.extend(maxima["q"].to_pylist())
        if self.latest:
            keys, instants, amounts, ids = self._latest_candidates()
            last, quantities = _latest(keys, instants, amounts, ids)
            found.append(last)
            values.extend(quantities)
        keys = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        slot, metric = keys >> _METRIC_BITS, keys & ((1 << _METRIC_BITS) - 1)
        return slot * width + metric, values

    def _maxima(self) -> pa.Table:
        """Every batch's maxima as one table: key, the greatest quantity."""
        keys = pa.concat_arrays([table["k"].combine_chunks() for table in self.maxima])
        return _maxima(keys.to_numpy(), concat_quantities([table["q"] for table in self.maxima]))

    def _latest_candidates(self) -> tuple[np.ndarray, np.ndarray, pa.Array, pa.Array]:
        """Every batch's candidates as one set, only those at their key's latest instant kept (all of
        them: ties are broken by ``event_id`` at the end)."""
        keys, instants, amounts, ids = (list(part) for part in zip(*self.latest, strict=True))
        every, at = np.concatenate(keys), np.concatenate(instants)
        picked = _at_latest_instant(every, at)
        taken = pa.array(picked)
        return every[picked], at[picked], concat_quantities(amounts).take(taken), pa.concat_arrays(ids).take(taken)

    def uncovered(self, customer_values: Sequence[str], days: PeriodDays) -> list[UncoveredUsage]:
        """The events of customers with spans on days none of their spans covers, per customer."""
        if not self.off_days:
            return []
        every = np.concatenate([found for found, _ in self.off_days])
        counts = np.concatenate([events for _, events in self.off_days])
        found, group = np.unique(every, return_inverse=True)
        events = np.zeros(len(found), dtype=np.int64)
        np.add.at(events, group, counts)
        found = found[events > 0]
        events = events[events > 0]
        who, when = found >> _METRIC_BITS, found & ((1 << _METRIC_BITS) - 1)
        uncovered = []
        bounds = np.flatnonzero(np.append(True, who[1:] != who[:-1])) if len(who) else who
        for first, end in zip(bounds.tolist(), [*bounds[1:].tolist(), len(who)], strict=True):
            uncovered.append(
                UncoveredUsage(
                    customer_values[int(who[first])],
                    int(events[first:end].sum()),
                    tuple(days.first + timedelta(days=int(offset)) for offset in when[first:end].tolist()),
                )
            )
        uncovered.sort(key=lambda usage: usage.customer_id)
        return uncovered


def _maxima(keys: np.ndarray, amounts: pa.Array) -> pa.Table:
    """The greatest quantity per key: in NumPy for whole quantities (a third of Arrow's hash
    aggregation's time on a batch), in Arrow for decimals."""
    if len(keys) and pa.types.is_integer(amounts.type) and not amounts.null_count:
        group = _group_index(keys)
        top = np.full(int(group.max()) + 1, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(top, group, amounts.to_numpy(zero_copy_only=False).astype(np.int64, copy=False))
        some_row = np.full(len(top), -1, dtype=np.int64)
        some_row[group] = np.arange(len(group))  # any row of each group: it names the group's key
        found = np.flatnonzero(some_row >= 0)
        return pa.table({"k": keys[some_row[found]], "q": pa.array(top[found]).cast(amounts.type)})
    grouped = pa.table({"k": keys, "q": amounts}).group_by("k").aggregate([("q", "max")])
    return pa.table({"k": grouped["k"], "q": grouped["q_max"]})


def _group_index(keys: np.ndarray) -> np.ndarray:
    """A small integer per distinct (slot, metric) key of some rows, equal keys equal integers:
    slot × metrics + metric when that table is small (no sort), the keys' ranks otherwise."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    metric = keys & ((1 << _METRIC_BITS) - 1)
    dense = (keys >> _METRIC_BITS) * (int(metric.max()) + 1) + metric
    if int(dense.max()) < 4 * len(keys) + (1 << 20):
        return dense
    return slots(keys)[1]


def _at_latest_instant(keys: np.ndarray, instants: np.ndarray, slot: np.ndarray | None = None) -> np.ndarray:
    """The rows (indices) at their key's latest instant — ties all kept: ``event_id`` breaks them
    (``slot``: each key's index among the distinct keys, when the caller has it)."""
    if slot is None:
        slot = _group_index(keys)
    latest = np.full(int(slot.max()) + 1, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(latest, slot, instants)
    return np.flatnonzero(instants == latest[slot])


def _latest(keys: np.ndarray, instants: np.ndarray, quantities: pa.Array, ids: pa.Array) -> tuple[np.ndarray, list]:
    """(keys, quantity of each key's latest event): the greatest instant, then the greatest
    ``event_id`` among events at that instant (ties are rare: compared as strings)."""
    found, slot = slots(keys)
    at = _at_latest_instant(keys, instants, slot)
    tied = np.bincount(slot[at], minlength=len(found))
    chosen = np.full(len(found), -1, dtype=np.int64)
    alone = at[tied[slot[at]] == 1]
    chosen[slot[alone]] = alone
    ties = at[tied[slot[at]] > 1]
    if len(ties):
        names = ids.take(pa.array(ties)).to_pylist()
        best: dict[int, tuple[str, int]] = {}
        for where, name in zip(ties.tolist(), names, strict=True):
            group = int(slot[where])
            if group not in best or name > best[group][0]:  # ids of ordered kinds are never null
                best[group] = (name, where)
        for group, (_, where) in best.items():
            chosen[group] = where
    return found, quantities.take(pa.array(chosen)).to_pylist()


__all__ = ["KIND", "Folded", "SpanTable", "slot_keys"]
