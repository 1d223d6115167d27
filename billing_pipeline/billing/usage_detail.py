"""The usage rows that are not plain sums, and those of customers billed by spans.

Summing needs nothing but a running total per (customer, metric) (``usage_totals.RunningSums``), so
that stays the fast path. The other aggregations (``count``, ``unique_count``, ``max``, ``latest``,
``weighted_sum``) and the customers with subscription spans (their events are split by day) look at
each event. ``DetailRows`` takes a batch's such rows on a helper thread: it finds each one's span,
folds what can be folded (``usage_folded.Folded``: sums, counts, maxima, the latest events, events
on uncovered days) and keeps one by one only the rows of ``unique_count`` and ``weighted_sum``, in
compact columns: the row's position among the reader's kept rows (how a duplicate found later is
taken out again), customer and metric codes, quantity, instant, span — and, apart, the
``event_id`` of the ``weighted_sum`` rows and the ``unique_key`` of the ``unique_count`` rows.

``weighted_sum`` also needs the level entering the period: the quantity of the latest valid event
before the period start, whatever file or month it is in (``CarryIn``). Those earlier rows are not
checked (another month's problems are that month's), only skipped when they cannot be read.

The arithmetic on what is kept is ``usage_aggregate.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.coverage import UsageSpans
from billing_pipeline.billing.price_plans import AGGREGATIONS
from billing_pipeline.billing.usage_columns import concat_quantities, plain_strings, quantities
from billing_pipeline.billing.usage_days import PeriodDays
from billing_pipeline.billing.usage_folded import KIND, Folded, SpanTable
from billing_pipeline.billing.usage_totals import DroppedDetail

if TYPE_CHECKING:
    from billing_pipeline.billing.usage_codes import Codes

SUM, COUNT, UNIQUE, MAX, LATEST, WEIGHTED = (KIND[name] for name in AGGREGATIONS)


class Classifier:
    """Which metric codes are aggregated how, and which customer codes have spans.

    Codes are handed out by the reader's ``Codes`` as values are met: the lookup arrays grow
    with them, only ever looking at the new values.
    """

    def __init__(
        self,
        aggregations: Mapping[str, str] | None,
        spans: UsageSpans | None,
        customers: Codes,
        metrics: Codes,
    ) -> None:
        self.aggregations = {metric: KIND[kind] for metric, kind in (aggregations or {}).items()}
        self.spans = dict(spans or {})
        self.customers, self.metrics = customers, metrics
        self._kinds = np.zeros(0, dtype=np.int8)
        self._spanned = np.zeros(0, dtype=bool)
        # nothing but sums and no spans: the reader never looks at a row twice
        self.active = bool(self.spans) or any(kind != SUM for kind in self.aggregations.values())
        self.weighted = any(kind == WEIGHTED for kind in self.aggregations.values())
        self.unique_metrics = {metric for metric, kind in self.aggregations.items() if kind == UNIQUE}
        # the most rows a customer has: a group is (customer × height + span, metric)
        self.height = max([1, *(len(rows) for rows in self.spans.values())])

    def kinds(self) -> np.ndarray:
        """Aggregation kind of every metric code known so far."""
        values = self.metrics.values
        if len(self._kinds) < len(values):
            new = [self.aggregations.get(value, SUM) for value in values[len(self._kinds) :]]
            self._kinds = np.concatenate([self._kinds, np.array(new, dtype=np.int8)])
        return self._kinds

    def spanned(self) -> np.ndarray:
        """Whether each customer code known so far was given spans."""
        values = self.customers.values
        if len(self._spanned) < len(values):
            new = [value in self.spans for value in values[len(self._spanned) :]]
            self._spanned = np.concatenate([self._spanned, np.array(new, dtype=bool)])
        return self._spanned

    def detail_mask(self, customers: np.ndarray, metrics: np.ndarray, kinds: np.ndarray | None = None) -> np.ndarray:
        """Rows (valid codes) that must be kept one by one rather than summed (``kinds``: of each
        row, when the caller has them already)."""
        mask = (self.kinds()[metrics] if kinds is None else kinds) != SUM
        if self.spans:
            mask |= self.spanned()[customers]
        return mask


@dataclass(frozen=True)
class Detail:
    """The kept rows (``unique_count`` and ``weighted_sum``) and the folded results, for
    ``usage_aggregate``; the columns are NumPy arrays (concatenated from the batches' arrays:
    ``ChunkedArray.to_numpy`` was ten times slower)."""

    customers: np.ndarray  # int32 codes
    metrics: np.ndarray  # int16 codes
    instants: np.ndarray  # int64 microseconds since the epoch (UTC)
    spans: np.ndarray  # int16: the span of each row (0 without spans, -1 on a day no span covers)
    quantities: pa.Array  # int64 or decimal128(38, 6), one per row
    dropped: np.ndarray  # the rows that are later copies of an event (sorted)
    event_ids: pa.Array  # of the weighted_sum rows, in row order
    unique_keys: pa.Array  # of the unique_count rows, in row order
    folded: Folded


class DetailRows:
    """The detail rows, batch by batch: folded or kept; duplicates are taken out at the end.

    A batch's detail rows (a gather of every column, the span of each row, the folding) are handled
    on a helper thread (2 cores is our machine; NumPy's gathers and Arrow's kernels let go of the
    GIL): the reader goes on with the next batch meanwhile. The helper is at most one batch behind,
    so it never holds more than one batch's columns; its failure is raised by the reader's next
    call, at the latest when the origin ends. Folding on the helper rather than keeping every row
    for the end took the end of a reading of 10^7 events with six aggregations from ~0.95 s to
    ~0.35 s. The kept batches are put together (``kept``) on the other core once the last batch is
    folded, while the reader looks for repeated ids; ``table`` then marks the copies found.
    """

    def __init__(self, classifier: Classifier, days: PeriodDays) -> None:
        self.classifier = classifier
        self.days = days
        self.folded = Folded(classifier.height)
        # per batch: kept-row positions (int64), customer (int32) and metric (int16) codes, instants
        # (int64), spans (int16)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.quantities: list[pa.Array] = []  # int64 or decimal128(38, 6), per part
        self.event_ids: list[pa.Array] = []
        self.unique_keys: list[pa.Array] = []
        self._spans: SpanTable | None = None
        self._helper: ThreadPoolExecutor | None = None  # started by the first batch that has detail rows
        self._pending: Future[None] | None = None
        self._kept: Detail | None = None  # the batches put together (``kept``), until ``table``
        self._positions: np.ndarray | None = None  # their kept-row positions

    def span_table(self) -> SpanTable:
        """The span of each day per customer code given so far (on the reader's thread: codes are
        handed out there; the table handed to the helper is never changed)."""
        known = len(self.classifier.customers.values)
        if self._spans is None or self._spans.known < known:
            self._spans = SpanTable(self.classifier.customers.values[:known], self.classifier.spans, self.days)
        return self._spans

    def keep(
        self,
        first: int,
        detail: np.ndarray,
        kinds: np.ndarray,
        columns: tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray],
        event_ids: pa.Array,
        unique_keys: pa.Array | None,
    ) -> None:
        """Fold or keep the rows of a batch where ``detail`` holds, on the helper thread. ``first``:
        the kept-row position of the batch's first row; ``kinds``: each row's aggregation kind;
        ``columns``: each row's customer and metric codes, quantity and instant (microseconds)."""
        self.wait()
        spans = self.span_table()
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-detail")
        strings = (event_ids, unique_keys)
        self._pending = self._helper.submit(self.add, first, detail, kinds, columns, strings, spans)

    def add(
        self,
        first: int,
        detail: np.ndarray,
        kinds: np.ndarray,
        columns: tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray],
        strings: tuple[pa.Array, pa.Array | None],
        spans: SpanTable,
    ) -> None:
        """The helper's work on one batch (see ``keep``); ``strings``: its event ids and unique keys
        (None: no such column)."""
        rows = np.flatnonzero(detail)
        customers, metrics = columns[0][rows], columns[1][rows]
        amounts, micros = columns[2].take(pa.array(rows)), columns[3][rows]
        of_rows = kinds[rows]
        span, day = spans.of(customers, micros)
        event_ids, unique_keys = strings

        def ids_of(picked: np.ndarray) -> pa.Array:
            return _text(event_ids.take(pa.array(rows[picked])))

        self.folded.add(of_rows, (customers, metrics, amounts, micros), (span, day), ids_of)
        kept = np.flatnonzero((of_rows == UNIQUE) | (of_rows == WEIGHTED))
        if not len(kept):
            return
        self.parts.append(
            (
                first + rows[kept].astype(np.int64),
                customers[kept].astype(np.int32, copy=False),
                metrics[kept].astype(np.int16, copy=False),
                micros[kept].astype(np.int64, copy=False),
                span[kept],
            )
        )
        self.quantities.append(amounts.take(pa.array(kept)))
        # every row of these kinds is a detail row: picked from the batch's columns, in row order
        self.event_ids.append(_text(_picked(event_ids, kinds == WEIGHTED)))
        if unique_keys is not None:
            self.unique_keys.append(_picked(unique_keys, kinds == UNIQUE))  # as read: see ``_joined``

    def wait(self) -> None:
        """Wait for the helper's work; its exception is raised here (the reader waits at the end of
        each origin, so that a failure is reported on the origin whose rows it was keeping)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def kept(self) -> Detail:
        """Every kept row once the helper is done, before duplicates are known (none marked dropped;
        the folded results still count every copy): enough for the ``weighted_sum`` integrals, which a
        later copy of an event cannot change, and for the distinct values, its copies taken out after
        (``usage_aggregate.start_aggregating``)."""
        self.wait()
        if self._helper is not None:
            self._helper.shutdown()
            self._helper = None
        if self._kept is not None:
            return self._kept
        none = np.zeros(0, np.int64)
        if not self.parts:
            empty = pa.array([], pa.string())
            codes = (np.zeros(0, np.int32), np.zeros(0, np.int16))
            self._positions = none
            self._kept = Detail(
                *codes, none, np.zeros(0, np.int16), pa.array([], pa.int64()), none, empty, empty, self.folded
            )
            return self._kept
        parts = zip(*self.parts, strict=True)
        positions, customers, metrics, instants, spans_at = (np.concatenate(part) for part in parts)
        quantities, event_ids = concat_quantities(self.quantities), pa.concat_arrays(self.event_ids)
        unique_keys = _joined(self.unique_keys)
        self.parts, self.quantities, self.event_ids, self.unique_keys = [], [], [], []
        self._positions = positions  # increasing: rows are kept in reading order
        columns = (customers, metrics, instants, spans_at, quantities)
        self._kept = Detail(*columns, none, event_ids, unique_keys, self.folded)
        return self._kept

    def table(self, dropped: DroppedDetail, kept: Detail | None = None) -> Detail:
        """Every kept row, the rows that are ``dropped`` (later copies of an event) marked rather than
        filtered out, which would copy every column; the dropped copies taken out of the folded results.
        ``kept``: what ``kept`` returned, when it was called on another thread."""
        kept = self.kept() if kept is None else kept
        if len(dropped.positions):
            kinds = self.classifier.kinds()[dropped.metrics]
            spans = self.span_table().of(dropped.customers, dropped.instants)
            self.folded.subtract(kinds, (dropped.customers, dropped.metrics, dropped.quantities), spans)
        folded, self.folded = self.folded, Folded(self.classifier.height)
        positions, self._kept, self._positions = self._positions, None, None
        assert positions is not None
        rows = np.searchsorted(positions, dropped.positions)
        found = positions[np.minimum(rows, len(positions) - 1)] == dropped.positions if len(positions) else rows < 0
        rows = rows[(rows < len(positions)) & found]
        return replace(kept, dropped=rows, folded=folded)


def _text(column: pa.Array) -> pa.Array:
    return column.cast(pa.string()) if column.type != pa.string() else column


def _joined(parts: list[pa.Array]) -> pa.Array:
    """The unique keys of every batch in one array: the batches' dictionaries unified into one when
    they all come as dictionaries (a Parquet file's: ``usage_files``), strings otherwise."""
    if not parts:
        return pa.array([], pa.string())
    if all(part.type == parts[0].type for part in parts):
        return pa.concat_arrays(parts)
    return pa.concat_arrays([_text(part) for part in parts])


def _picked(column: pa.Array, mask: np.ndarray) -> pa.Array:
    """The values of ``column`` where ``mask`` holds, in order."""
    if mask.all():
        return column
    if not mask.any():
        return pa.array([], column.type)
    return column.filter(pa.array(mask))


class CarryIn:
    """Per (customer, metric) of a ``weighted_sum`` metric: the latest valid event before the period.

    "Latest" is by instant, then by the greatest ``event_id`` (the rule of ``latest``); the same
    row seen twice (a SQL source may fetch it twice) changes nothing.
    """

    def __init__(self) -> None:
        self.levels: dict[tuple[int, int], tuple[int, str, object]] = {}  # -> (instant, event_id, quantity)

    def read(self, batch: pa.RecordBatch, instants: pa.Array, start: datetime, classifier: Classifier) -> None:
        """Take the rows of ``batch`` (``instants``: its converted timestamps) before ``start``."""
        before = pc.less(instants, pa.scalar(start, instants.type)).fill_null(False)
        if not pc.any(before).as_py():
            return
        batch, instants = batch.filter(before), instants.filter(before)
        metrics = classifier.metrics.encode(batch.column("metric"))[0]
        ok = metrics >= 0
        ok[ok] = classifier.kinds()[metrics[ok]] == WEIGHTED
        if not ok.any():
            return
        customers = classifier.customers.encode(batch.column("customer_id"))[0]
        event_ids = plain_strings(batch.column("event_id"))
        amounts = quantities(batch.column("quantity"))
        ok &= (customers >= 0) & ~amounts.bad_mask(batch.num_rows)
        missing_id = pc.or_kleene(event_ids.is_null(), pc.equal(event_ids, "")).fill_null(True)
        ok &= ~missing_id.to_numpy(zero_copy_only=False)
        micros = instants.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        keep = pa.array(ok)
        assert amounts.values is not None
        self.add(customers[ok], metrics[ok], micros[ok], event_ids.filter(keep), amounts.values.filter(keep))

    def add(
        self, customers: np.ndarray, metrics: np.ndarray, micros: np.ndarray, event_ids: pa.Array, amounts: pa.Array
    ) -> None:
        """Valid earlier rows of weighted metrics; only the latest of each key in the batch is looked at."""
        if not len(customers):
            return
        keys = (customers.astype(np.int64) << 16) | metrics.astype(np.int64)
        table = pa.table({"key": keys, "instant": micros, "event_id": event_ids, "quantity": amounts})
        order = pc.sort_indices(
            table, sort_keys=[("key", "ascending"), ("instant", "ascending"), ("event_id", "ascending")]
        )
        table = table.take(order)
        sorted_keys = table.column("key").to_numpy()
        last = np.flatnonzero(np.append(sorted_keys[1:] != sorted_keys[:-1], True))
        latest = table.take(pa.array(last)).to_pydict()
        for key, instant, event_id, quantity in zip(
            latest["key"], latest["instant"], latest["event_id"], latest["quantity"], strict=True
        ):
            code = (key >> 16, key & 0xFFFF)
            known = self.levels.get(code)
            if known is None or (known[0], known[1]) < (instant, event_id):
                self.levels[code] = (instant, event_id, quantity)
