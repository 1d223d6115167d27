"""Per-event rows kept for the metrics that are not plain sums, and for customers billed by spans.

Summing needs nothing but a running total per (customer, metric) (``usage_totals.RunningSums``), so
that stays the fast path. The other aggregations (``count``, ``unique_count``, ``max``, ``latest``,
``weighted_sum``) and the customers with subscription spans (their events are split by day) need
each event; ``DetailRows`` keeps, for those rows only, compact columns: the row's position among
the reader's kept rows (how a duplicate found later is taken out again), customer and metric codes,
quantity, instant — and, apart, the ``event_id`` of the rows whose aggregation orders events and the
``unique_key`` of the ``unique_count`` rows, each in row order (no string is copied that is not read).

``weighted_sum`` also needs the level entering the period: the quantity of the latest valid event
before the period start, whatever file or month it is in (``CarryIn``). Those earlier rows are not
checked (another month's problems are that month's), only skipped when they cannot be read.

The arithmetic on what is kept is ``usage_aggregate.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.coverage import UsageSpans
from billing_pipeline.billing.price_plans import AGGREGATIONS
from billing_pipeline.billing.usage_columns import QUANTITY_TYPE, plain_strings, quantities

if TYPE_CHECKING:
    from billing_pipeline.billing.usage_codes import Codes

# aggregation -> its small integer kind, as stored per metric code
KIND = {name: index for index, name in enumerate(AGGREGATIONS)}
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

    def ordered(self) -> np.ndarray:
        """Whether each metric code known so far orders its events (``latest``, ``weighted_sum``)."""
        kinds = self.kinds()
        return (kinds == LATEST) | (kinds == WEIGHTED)

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
    """Every kept detail row and what goes with it, for ``usage_aggregate``; the columns are NumPy
    arrays (concatenated from the batches' arrays: ``ChunkedArray.to_numpy`` was ten times slower)."""

    customers: np.ndarray  # int32 codes
    metrics: np.ndarray  # int16 codes
    instants: np.ndarray  # int64 microseconds since the epoch (UTC)
    quantities: pa.Array  # int64 or decimal128(38, 6), one per row
    dropped: np.ndarray  # the rows that are later copies of an event (sorted)
    event_ids: pa.Array  # of the rows whose metric orders its events, in row order
    unique_keys: pa.Array  # of the rows of unique_count metrics, in row order


class DetailRows:
    """The kept per-event columns, batch by batch; duplicates are taken out by position at the end.

    Picking a batch's detail rows out (a gather of every column, a filter of its strings) runs on a
    helper thread (2 cores is our machine; NumPy's gathers and Arrow's kernels let go of the GIL):
    the reader goes on with the next batch meanwhile (10^7 events, six aggregations: 0.3-0.4 s of
    ~3 s). The helper is at most one batch behind, so it never holds more than one batch's columns;
    its failure is raised by the reader's next call, at the latest when the origin ends. The batches
    are put together only once the reader's kept rows are freed (``table``): done beside the search
    for duplicates it saved 0.15 s but raised the peak by a copy of every detail row (1.06 -> 1.33 GB).
    """

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier
        # per batch: kept-row positions (int64), customer (int32) and metric (int16) codes, instants (int64)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.quantities: list[pa.Array] = []  # int64 or decimal128(38, 6), per part
        self.event_ids: list[pa.Array] = []
        self.unique_keys: list[pa.Array] = []
        self._helper: ThreadPoolExecutor | None = None  # started by the first batch that has detail rows
        self._pending: Future[None] | None = None

    def keep(
        self,
        first: int,
        detail: np.ndarray,
        kinds: np.ndarray,
        columns: tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray],
        event_ids: pa.Array,
        unique_keys: pa.Array | None,
    ) -> None:
        """Keep the rows of a batch where ``detail`` holds, on the helper thread. ``first``: the kept-row
        position of the batch's first row; ``kinds``: each row's aggregation kind; ``columns``: each
        row's customer and metric codes, quantity and instant (microseconds)."""
        self.wait()
        if self._helper is None:
            self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-detail")

        def pick_out() -> None:  # on the helper thread
            customers, metrics, amounts, micros = columns
            rows = np.flatnonzero(detail)
            ids, keys = self.strings(kinds, event_ids, unique_keys)  # rows of ordered / unique kinds only
            self.add(
                first + rows, customers[rows], metrics[rows], amounts.take(pa.array(rows)), micros[rows], ids, keys
            )

        self._pending = self._helper.submit(pick_out)

    def wait(self) -> None:
        """Wait for the helper's work; its exception is raised here (the reader waits at the end of
        each origin, so that a failure is reported on the origin whose rows it was keeping)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _gathered(self) -> _Whole | None:
        """Every batch's columns put together (None when no row was kept), the batches let go."""
        whole = None
        if self.parts:
            positions, customers, metrics, instants = (np.concatenate(part) for part in zip(*self.parts, strict=True))
            quantities, event_ids = _one_type(self.quantities), pa.concat_arrays(self.event_ids)
            unique_keys = pa.concat_arrays(self.unique_keys) if self.unique_keys else pa.array([], pa.string())
            whole = (positions, customers, metrics, instants, quantities, event_ids, unique_keys)
        self.parts, self.quantities, self.event_ids, self.unique_keys = [], [], [], []
        return whole

    def add(
        self,
        positions: np.ndarray,
        customers: np.ndarray,
        metrics: np.ndarray,
        quantities: pa.Array,
        micros: np.ndarray,
        event_ids: pa.Array,
        unique_keys: pa.Array | None,
    ) -> None:
        """Keep rows already filtered to the detail ones (``positions``: their kept-row positions).

        ``event_ids`` and ``unique_keys`` are given only for the rows that need them, in row
        order: ``add_strings`` picks them out of a batch."""
        self.parts.append(
            (
                positions.astype(np.int64, copy=False),
                customers.astype(np.int32, copy=False),
                metrics.astype(np.int16, copy=False),
                micros.astype(np.int64, copy=False),
            )
        )
        self.quantities.append(quantities)
        self.event_ids.append(event_ids.cast(pa.string()) if event_ids.type != pa.string() else event_ids)
        if unique_keys is not None:
            self.unique_keys.append(unique_keys.cast(pa.string()) if unique_keys.type != pa.string() else unique_keys)

    def strings(
        self, kinds: np.ndarray, event_ids: pa.Array, unique_keys: pa.Array | None
    ) -> tuple[pa.Array, pa.Array | None]:
        """Of a batch's rows (``kinds``: the aggregation kind of each), the event ids ``add`` keeps
        (ordered kinds) and the unique keys (``unique_count``), each in row order."""
        ids = _picked(event_ids, (kinds == LATEST) | (kinds == WEIGHTED))
        if unique_keys is None:
            return ids, None
        return ids, _picked(unique_keys, kinds == UNIQUE)

    def table(self, dropped: np.ndarray) -> Detail:
        """Every kept row and the rows that are the ``dropped`` positions (later copies of an
        event): marked rather than filtered out, which would copy every column."""
        self.wait()
        if self._helper is not None:
            self._helper.shutdown()
            self._helper = None
        whole = self._gathered()
        if whole is None:
            empty, none = pa.array([], pa.string()), np.zeros(0, np.int64)
            codes = (np.zeros(0, np.int32), np.zeros(0, np.int16))
            return Detail(*codes, none, pa.array([], pa.int64()), none, empty, empty)
        positions, customers, metrics, instants, quantities, event_ids, unique_keys = whole
        # positions increase: rows are kept in reading order
        rows = np.searchsorted(positions, dropped)
        rows = rows[(rows < len(positions)) & (positions[np.minimum(rows, len(positions) - 1)] == dropped)]
        return Detail(customers, metrics, instants, quantities, rows, event_ids, unique_keys)


# positions, customer codes, metric codes, instants, quantities, event ids, unique keys
_Whole = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pa.Array, pa.Array, pa.Array]


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


def _one_type(parts: Sequence[pa.Array]) -> pa.Array:
    """The quantities as one array: int64 when every part is, decimal128(38, 6) otherwise."""
    if all(pa.types.is_integer(part.type) for part in parts):
        return pa.concat_arrays([part.cast(pa.int64()) for part in parts])
    return pa.concat_arrays([part.cast(QUANTITY_TYPE) for part in parts])
