"""Totals of the usage rows a ``UsageReader`` kept: summed batch by batch, duplicates taken out.

Every kept batch is added up per (customer, metric) as it is read, so no quantity has to stay in
memory; once duplicates are known (``usage_duplicates.resolve``), the later copies are subtracted
exactly. A duplicated ``event_id`` counts once; one that names a *different* event is reported
with the fields that differ.

Sums stay exact: integers while they cannot overflow, decimals otherwise, decided as if every
row were summed at once: whole numbers if every quantity is one and the largest of them times
the number of kept rows fits in 64 bits (so a total has the same type, and scale, however the
rows were batched).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.coverage import UncoveredUsage
from billing_pipeline.billing.problems import ProblemLog
from billing_pipeline.billing.usage_columns import QUANTITY_TYPE, concat_quantities
from billing_pipeline.billing.usage_duplicates import Reread, resolve
from billing_pipeline.billing.usage_store import KeptStore

if TYPE_CHECKING:
    from billing_pipeline.billing.usage_reader import UsageOrigin

_INT64_LIMIT = 2**63 - 1
_EXACT_FLOAT = 2**53  # every integer up to this is a float64
_METRIC_BITS = 16  # metric codes are int16: a key is customer << 16 | metric
_COMBINE_EVERY = 64  # partial sums kept before they are folded into one table


class RunningSums:
    """Exact sums (and row counts) per key over any number of batches, negative rows allowed."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self.whole = True  # every quantity so far is an integer
        self.largest = 0  # the largest of them
        self.rows = 0  # rows added (subtracted ones not taken off)
        self._bound = 0  # no partial sum of integers can exceed this in absolute value

    def add(self, customers: np.ndarray, metrics: np.ndarray, amounts: pa.Array) -> None:
        """Add a batch of non-negative quantities."""
        keys = _keys(customers, metrics)
        if pa.types.is_integer(amounts.type):
            largest = pc.max(amounts).as_py() or 0
            self.largest = max(self.largest, largest)
            self._bound += largest * len(keys)
            if largest * len(keys) > _INT64_LIMIT:
                amounts = amounts.cast(QUANTITY_TYPE)
        else:
            self.whole = False
        self.rows += len(keys)
        if pa.types.is_integer(amounts.type) and largest * len(keys) <= _EXACT_FLOAT:
            self._parts.append(_counted(customers, metrics, keys, amounts))
        else:
            self._parts.append(_grouped(_rows(keys, amounts)))
        if len(self._parts) >= _COMBINE_EVERY:
            self._parts = [self._combined()]

    def subtract(self, customers: np.ndarray, metrics: np.ndarray, amounts: pa.Array) -> None:
        """Take out rows added before (later copies of an event)."""
        keys = _keys(customers, metrics)
        if not pa.types.is_integer(amounts.type):
            amounts = amounts.cast(QUANTITY_TYPE)
        negated = pc.negate(amounts)
        self._parts.append(pa.table({"key": keys, "quantity": negated, "rows": np.full(len(keys), -1, np.int64)}))

    def totals(self, customers: Sequence[str], metrics: Sequence[str]) -> dict[str, dict[str, Decimal]]:
        """Quantity per customer and metric; ``customers``/``metrics``: the values behind the codes."""
        result: dict[str, dict[str, Decimal]] = {}
        for key, amount in zip(*self.keyed(), strict=True):
            customer, metric = divmod(key, 1 << _METRIC_BITS)
            result.setdefault(customers[customer], {})[metrics[metric]] = Decimal(amount)
        return result

    def keyed(self) -> tuple[list[int], list[int | Decimal]]:
        """(keys — customer << 16 | metric —, their sums) of every key with a row left."""
        if not self._parts:
            return [], []
        whole = self.whole and self.largest * self.rows <= _INT64_LIMIT
        summed = self._combined(decimals=not whole)
        summed = summed.filter(pc.greater(summed["rows"], 0))
        return summed["key"].to_pylist(), summed["quantity"].to_pylist()

    def _combined(self, *, decimals: bool = False) -> pa.Table:
        integers = not decimals and self._bound <= _INT64_LIMIT
        parts = [
            part if integers or not pa.types.is_integer(part["quantity"].type) else _as_decimals(part)
            for part in self._parts
        ]
        if any(not pa.types.is_integer(part["quantity"].type) for part in parts):
            parts = [_as_decimals(part) if pa.types.is_integer(part["quantity"].type) else part for part in parts]
        return _grouped(pa.concat_tables(parts))


def _counted(customers: np.ndarray, metrics: np.ndarray, keys: np.ndarray, amounts: pa.Array) -> pa.Table:
    """``_grouped`` for whole quantities whose every partial sum is below 2**53: a float64 bincount
    over dense (customer, metric) slots is then exact, and several times faster than a hash
    aggregation. Falls back to it when the slots would far outnumber the rows."""
    width = int(metrics.max()) + 1
    slots = (int(customers.max()) + 1) * width
    if slots > 4 * len(keys) + 65536:
        return _grouped(_rows(keys, amounts))
    dense = customers.astype(np.int64) * width + metrics
    counts = np.bincount(dense, minlength=slots)
    sums = np.bincount(dense, weights=amounts.to_numpy(zero_copy_only=False).astype(np.float64), minlength=slots)
    present = np.flatnonzero(counts)
    customer, metric = np.divmod(present, width)
    return pa.table(
        {
            "key": _keys(customer, metric),
            "quantity": pa.array(sums[present].astype(np.int64)),
            "rows": pa.array(counts[present].astype(np.int64)),
        }
    )


def _rows(keys: np.ndarray, amounts: pa.Array) -> pa.Table:
    return pa.table({"key": keys, "quantity": amounts, "rows": np.ones(len(keys), np.int64)})


def _keys(customers: np.ndarray, metrics: np.ndarray) -> np.ndarray:
    return (customers.astype(np.int64) << _METRIC_BITS) | metrics.astype(np.int64)


def _as_decimals(part: pa.Table) -> pa.Table:
    return part.set_column(1, "quantity", part["quantity"].cast(QUANTITY_TYPE))


def _grouped(table: pa.Table) -> pa.Table:
    summed = table.group_by("key").aggregate([("quantity", "sum"), ("rows", "sum")])
    return pa.table({"key": summed["key"], "quantity": summed["quantity_sum"], "rows": summed["rows_sum"]})


def add_up(
    store: KeptStore,
    sums: RunningSums,
    origins: Sequence[UsageOrigin],
    log: ProblemLog,
    codes: tuple[Sequence[str], Sequence[str]],
    reread: Reread,
    hashes_of: Callable[[pa.Array], np.ndarray],
    detail_of: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[dict[str, dict[str, Decimal]], int, DroppedDetail]:
    """Drop repeated events (reporting those that differ), then the sums per customer and metric.

    ``sums`` holds every kept row of ``store`` already but the detail rows (``detail_of``: which
    rows, by customer and metric codes, were kept one by one rather than summed); ``codes``: the
    customer ids and metrics behind the integer codes of the kept rows. Also returns the dropped
    detail rows, for their keeper to take out.
    """
    if not store.batches:
        return {}, 0, DroppedDetail.of([])
    dropped = resolve(store, origins, log, reread, hashes_of)
    detail: list[tuple[np.ndarray, pa.RecordBatch]] = []
    for rows, positions in zip(dropped.rows, dropped.positions, strict=True):
        customers, metrics = rows.column("customer").to_numpy(), rows.column("metric").to_numpy()
        if detail_of is not None:
            kept_apart = detail_of(customers, metrics)
            if kept_apart.any():
                detail.append((positions[kept_apart], rows.filter(pa.array(kept_apart))))
                rows = rows.filter(pa.array(~kept_apart))
                customers, metrics = customers[~kept_apart], metrics[~kept_apart]
        if rows.num_rows:
            sums.subtract(customers, metrics, rows.column("quantity"))
    return sums.totals(*codes), dropped.repeats, DroppedDetail.of(detail)


@dataclass(frozen=True)
class DroppedDetail:
    """Later copies of events among the detail rows: kept-row positions (sorted) and content."""

    positions: np.ndarray
    customers: np.ndarray
    metrics: np.ndarray
    quantities: pa.Array  # int64 or decimal128(38, 6)
    instants: np.ndarray  # microseconds since the epoch

    @classmethod
    def of(cls, parts: Sequence[tuple[np.ndarray, pa.RecordBatch]]) -> DroppedDetail:
        """From (kept-row positions, their content) per batch."""
        if not parts:
            none = np.zeros(0, dtype=np.int64)
            return cls(none, none.astype(np.int32), none.astype(np.int16), pa.array([], pa.int64()), none)
        positions = np.concatenate([found for found, _ in parts])
        order = pa.array(np.argsort(positions, kind="stable"))

        def column(name: str) -> np.ndarray:
            return np.concatenate([batch.column(name).to_numpy() for _, batch in parts])[order.to_numpy()]

        return cls(
            positions[order.to_numpy()],
            column("customer"),
            column("metric"),
            concat_quantities([batch.column("quantity") for _, batch in parts]).take(order),
            column("instant"),
        )


@dataclass
class Settled:
    """Results computed where the events are (``engine_usage``), for groups the reader never sees.

    ``quantities``: customers without spans; ``span_quantities``: customer -> span index -> metric;
    ``uncovered``: customer -> (events, local days) on days no span covers; ``repeats``: exact
    repeats dropped.
    """

    quantities: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    span_quantities: dict[str, dict[int, dict[str, Decimal]]] = field(default_factory=dict)
    uncovered: dict[str, tuple[int, set[date]]] = field(default_factory=dict)
    repeats: int = 0

    def customers(self) -> set[str]:
        return {*self.quantities, *self.span_quantities, *self.uncovered}

    def merge(
        self,
        totals: dict[str, dict[str, Decimal]],
        span_quantities: dict[str, list[dict[str, Decimal]]],
        uncovered: list[UncoveredUsage],
    ) -> list[UncoveredUsage]:
        """Add the results to the reader's own (``span_quantities`` has a slot per span of every
        spanned customer); the merged uncovered usage is returned."""
        for customer, metrics in self.quantities.items():
            totals.setdefault(customer, {}).update(metrics)  # groups are disjoint: never a sum of both
        for customer, spans in self.span_quantities.items():
            for index, metrics in spans.items():
                span_quantities[customer][index].update(metrics)
        if not self.uncovered:
            return uncovered
        merged = {usage.customer_id: (usage.events, set(usage.days)) for usage in uncovered}
        for customer, (events, days) in self.uncovered.items():
            known, seen = merged.get(customer, (0, set()))
            merged[customer] = (known + events, seen | days)
        return [
            UncoveredUsage(customer, events, tuple(sorted(days))) for customer, (events, days) in sorted(merged.items())
        ]
