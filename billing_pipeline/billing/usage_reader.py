"""Checks usage rows of one period from any number of origins (files, tables), then adds them up.

An event belongs to the period that contains its timestamp in the billing time zone. Only rows of
the period are checked (a bad row of another month is that month's problem), except a row whose
timestamp cannot be read: it could belong to any period, so it is always reported.

Work is done on Arrow batches with vectorized kernels; Python loops only run over the small
per-batch dictionaries of customer ids and metrics, and over rows that are being reported. The
checks do not care where the batches come from: files (``usage_files.py``) and SQL tables
(``sql_usage.py``) feed ``UsageReader.read_batches``, so they share every rule and every message.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.coverage import UncoveredUsage, UsageSpans
from billing_pipeline.billing.models import InputProblem
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.problems import ROWS_LISTED_PER_KIND, ProblemLog
from billing_pipeline.billing.reader_memory import use_steady_memory
from billing_pipeline.billing.usage_aggregate import PeriodDays, aggregate, start_aggregating
from billing_pipeline.billing.usage_codes import Codes
from billing_pipeline.billing.usage_columns import (
    Checked,
    id_strings,
    missing_strings,
    plain_strings,
    quantities,
    string_hashes,
    timestamps,
)
from billing_pipeline.billing.usage_detail import CarryIn, Classifier, DetailRows
from billing_pipeline.billing.usage_origin import UsageOrigin
from billing_pipeline.billing.usage_store import CONTENT, KeptStore
from billing_pipeline.billing.usage_totals import DroppedDetail, RunningSums, Settled, add_up

COLUMNS = ("event_id", "customer_id", "metric", "quantity", "timestamp")
UNIQUE_KEY = "unique_key"  # optional: what ``unique_count`` metrics count

use_steady_memory()  # every reading allocates through the reader's module: see reader_memory


@dataclass(frozen=True)
class UsageTotals:
    """Used quantity per customer and metric for one period, and what it took to get there."""

    quantities: dict[str, dict[str, Decimal]]
    files: int
    rows_read: int
    rows_in_period: int
    duplicate_events: int
    problems: list[InputProblem]
    # customers given spans (``coverage.UsageSpans``): quantities per span, in the spans' order;
    # such a customer is not in ``quantities``
    span_quantities: dict[str, list[dict[str, Decimal]]] = field(default_factory=dict)
    uncovered: list[UncoveredUsage] = field(default_factory=list)

    @property
    def customers(self) -> frozenset[str]:
        """Customers with at least one event in the period."""
        return frozenset(self.quantities)


@dataclass
class _RowIssues:
    """Rows with one problem in one file: a count and the first few, to be reported."""

    count: int = 0
    examples: list[tuple[int, object]] = field(default_factory=list)


class UsageReader:
    """Checks usage batches of one period from any number of origins, then adds them up."""

    def __init__(
        self,
        period: BillingPeriod,
        zone: ZoneInfo,
        customers: Collection[str] | None,
        metrics: Collection[str] | None,
        aggregations: Mapping[str, str] | None = None,
        spans: UsageSpans | None = None,
    ) -> None:
        self.start: datetime = period.start(zone)
        self.end: datetime = period.end(zone)
        self.customers = Codes(customers)
        self.metrics = Codes(metrics)
        self.origins: list[UsageOrigin] = []
        self.issues: dict[tuple[int, str, str], _RowIssues] = {}
        self.log = ProblemLog()
        # valid in-period rows: summed as they come, their id hashes kept for the duplicate check
        self.store = KeptStore()
        self.sums = RunningSums()
        self.rows_read = 0
        self.rows_in_period = 0
        # results of groups aggregated elsewhere (by a SQL engine), merged into the totals at the end
        self.settled = Settled()
        # rows of non-sum metrics and of customers with spans, kept one by one (``usage_detail.py``)
        self.classifier = Classifier(aggregations, spans, self.customers, self.metrics)
        self.days = PeriodDays.of(period, zone)
        self.detail = DetailRows(self.classifier, self.days)
        self.carry = CarryIn()
        self._dropped = DroppedDetail.of([])

    # -- problems -----------------------------------------------------------------------------

    def _rows(
        self, file: int, field: str, reason: str, mask: np.ndarray, records: np.ndarray, column: pa.Array
    ) -> None:
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        issues = self.issues.setdefault((file, field, reason), _RowIssues())
        room = ROWS_LISTED_PER_KIND - len(issues.examples)
        if room > 0:
            shown = positions[:room]
            values = column.take(pa.array(shown)).to_pylist()
            issues.examples.extend(zip((int(records[p]) for p in shown), values, strict=True))
        issues.count += len(positions)

    def _report_rows(self) -> None:
        for (origin_index, column, reason), issues in self.issues.items():
            origin = self.origins[origin_index]
            for record, value in issues.examples:
                row, shown = origin.located(record, value, self.log)
                self.log.add(origin.label, reason, row=row, field=column, value=shown)
            unlisted = issues.count - len(issues.examples)
            if unlisted:
                self.log.add_unlisted(origin.label, reason, field=column, count=unlisted)

    # -- reading ------------------------------------------------------------------------------

    def read_batches(self, origin: UsageOrigin, batches: Iterable[pa.RecordBatch]) -> None:
        """Check and keep every batch of ``origin`` (columns as in ``COLUMNS``).

        An exception raised while the batches are produced propagates: the caller knows what a
        failure of its origin means and reports it. The rows of a failed origin are not counted.
        """
        index = len(self.origins)
        self.origins.append(origin)
        first = 0
        try:
            for batch in batches:
                self._batch(index, batch, first)
                first += batch.num_rows
        finally:
            self.detail.wait()  # what the helper thread failed to keep is this origin's failure
        origin.rows = first
        self.rows_read += first

    def add_settled(self, settled: Settled, *, rows_in_period: int) -> None:
        """Results of (customer, metric) groups aggregated elsewhere — every row of them in the period
        known to pass every check, none of their ids used by a row this reader sees."""
        assert all(self.customers.accepts(c) for c in settled.customers())
        self.settled = settled
        self.rows_in_period += rows_in_period

    def finish(self, sources: int) -> UsageTotals:
        """Drop duplicates, add up, and report every problem; ``sources``: files or tables read."""
        span_quantities: dict[str, list[dict[str, Decimal]]] = {}
        uncovered: list[UncoveredUsage] = []
        if not self.classifier.active:
            totals, repeats = self.totals()
            self.store = KeptStore()  # what was kept is no longer needed: free it before pricing
        else:
            # a thread per call, not per reader: nothing of it outlives the call (fork-safe)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-aggregate") as beside:
                # what needs no duplicate dropped: on the other core while they are looked for
                # (the batches' kept rows are put together there too)
                kept = beside.submit(self.detail.kept)
                under_way = start_aggregating(kept, self.classifier, self.carry, self.days, beside)
                totals, repeats = self.totals()
                self.store = KeptStore()
                detail = aggregate(
                    self.detail.table(self._dropped, kept.result()), self.classifier, self.days, under_way
                )
            for customer, metrics in detail.quantities.items():
                totals.setdefault(customer, {}).update(metrics)  # never a metric of the sums
            span_quantities, uncovered = detail.span_quantities, detail.uncovered
        uncovered = self.settled.merge(totals, span_quantities, uncovered)
        self._report_rows()
        return UsageTotals(
            quantities=totals,
            files=sources,
            rows_read=self.rows_read,
            rows_in_period=self.rows_in_period,
            duplicate_events=repeats + self.settled.repeats,
            problems=self.log.problems,
            span_quantities=span_quantities,
            uncovered=uncovered,
        )

    def _batch(self, file: int, batch: pa.RecordBatch, first: int) -> None:
        size = batch.num_rows
        if size == 0:
            return
        records = np.arange(first, first + size, dtype=np.int64)
        instants = timestamps(batch.column("timestamp"))
        for reason, mask in instants.bad.items():
            self._rows(file, "timestamp", reason, mask, records, batch.column("timestamp"))
        assert instants.values is not None
        if self.classifier.weighted:
            self._carry_in(batch, instants.values)
        kind = instants.values.type
        in_period = (
            pc.and_(
                pc.greater_equal(instants.values, pa.scalar(self.start, kind)),
                pc.less(instants.values, pa.scalar(self.end, kind)),
            )
            .fill_null(False)
            .to_numpy(zero_copy_only=False)
        )
        count = int(in_period.sum())
        self.rows_in_period += count
        if count == 0:
            return
        if count < size:
            batch, records = batch.filter(pa.array(in_period)), records[in_period]
            instant_values = instants.values.filter(pa.array(in_period))
        else:
            instant_values = instants.values
        self._validate_and_keep(file, batch, records, instant_values, first=first, batch_rows=size)

    def _validate_and_keep(
        self, file: int, batch: pa.RecordBatch, records: np.ndarray, instants: pa.Array, *, first: int, batch_rows: int
    ) -> None:
        size = batch.num_rows
        bad = np.zeros(size, dtype=bool)
        event_ids = plain_strings(batch.column("event_id"))
        missing_id = missing_strings(event_ids)
        self._rows(file, "event_id", "missing event_id", missing_id, records, event_ids)
        bad |= missing_id
        codes = {}
        for name, coder, noun in (
            ("customer_id", self.customers, "customer_id not in customers.csv"),
            ("metric", self.metrics, "metric not declared in the price list"),
        ):
            column = batch.column(name)
            values, missing, unknown = coder.encode(column)
            self._rows(file, name, f"missing {name}", missing, records, column)
            self._rows(file, name, f"unknown {noun}", unknown, records, column)
            bad |= missing | unknown
            codes[name] = values
        unique_keys = self._unique_keys(file, batch, records, codes["metric"], bad)
        amounts: Checked = quantities(batch.column("quantity"))
        for reason, mask in amounts.bad.items():
            self._rows(file, "quantity", reason, mask, records, batch.column("quantity"))
            bad |= mask
        assert amounts.values is not None
        micros = instants.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        good = ~bad
        if not good.all():
            keep = pa.array(good)
            event_ids, amount_values = event_ids.filter(keep), amounts.values.filter(keep)
            unique_keys = None if unique_keys is None else unique_keys.filter(keep)
            records, micros = records[good], micros[good]
            codes = {name: values[good] for name, values in codes.items()}
        else:
            amount_values = amounts.values
        if len(records) == 0:
            return
        metrics = codes["metric"].astype(np.int16)
        self._add_up(codes["customer_id"], metrics, amount_values, micros, event_ids, unique_keys)
        kept = np.zeros(batch_rows, dtype=bool)
        kept[records - first] = True
        content = [event_ids, pa.array(codes["customer_id"], pa.int32()), pa.array(metrics), amount_values]
        self.store.add(
            file,
            first,
            kept,
            string_hashes(event_ids),
            [*content, pa.array(micros)],
            rereadable=self.origins[file].rereadable,
        )

    def _add_up(
        self,
        customers: np.ndarray,
        metrics: np.ndarray,
        amounts: pa.Array,
        micros: np.ndarray,
        event_ids: pa.Array,
        unique_keys: pa.Array | None,
    ) -> None:
        """Sum the valid rows of plain sums; keep the others one by one (``usage_detail``)."""
        kinds = self.classifier.kinds()[metrics] if self.classifier.active else None  # looked up once a batch
        detail = None if kinds is None else self.classifier.detail_mask(customers, metrics, kinds)
        if detail is None or not detail.any():
            self.sums.add(customers, metrics, amounts)
            return
        # from the position ``store.add`` is about to give the batch's first row
        self.detail.keep(self.store.count, detail, kinds, (customers, metrics, amounts, micros), event_ids, unique_keys)
        if not detail.all():
            summed = ~detail
            self.sums.add(customers[summed], metrics[summed], amounts.filter(pa.array(summed)))

    def _unique_keys(
        self, file: int, batch: pa.RecordBatch, records: np.ndarray, metrics: np.ndarray, bad: np.ndarray
    ) -> pa.Array | None:
        """The ``unique_key`` column (None when absent); an event of a ``unique_count`` metric
        without one is a bad row (``bad`` updated)."""
        present = UNIQUE_KEY in batch.schema.names
        column = id_strings(batch.column(UNIQUE_KEY)) if present else None
        if not self.classifier.unique_metrics:
            return column
        shown = column if column is not None else pa.nulls(batch.num_rows, pa.string())
        missing = np.ones(batch.num_rows, dtype=bool) if column is None else missing_strings(column)
        for metric in sorted(self.classifier.unique_metrics):
            code = self.metrics.code_of.get(metric)
            if code is None:
                continue
            mask = missing & (metrics == code)
            reason = f"metric {metric} counts distinct unique_key values: this event has none"
            self._rows(file, UNIQUE_KEY, reason, mask, records, shown)
            bad |= mask
        return column

    def _carry_in(self, batch: pa.RecordBatch, instants: pa.Array) -> None:
        """Keep the latest valid event before the period of each (customer, weighted_sum metric)."""
        self.carry.read(batch, instants, self.start, self.classifier)

    def carry_in_batches(self, batches: Iterable[pa.RecordBatch]) -> None:
        """Rows read only for the level entering the period (a SQL source's earlier rows): never
        checked nor counted, only used by ``weighted_sum``."""
        for batch in batches:
            if batch.num_rows:
                instants = timestamps(batch.column("timestamp")).values
                assert instants is not None
                self._carry_in(batch, instants)

    def totals(self) -> tuple[dict[str, dict[str, Decimal]], int]:
        """Quantity per customer and metric, duplicates dropped, and how many exact repeats there were."""
        codes = (self.customers.values, self.metrics.values)
        # looked up at call time, so that a test can swap the hash for one that collides
        hashes_of = lambda ids: string_hashes(ids)  # noqa: E731
        detail_of = self.classifier.detail_mask if self.classifier.active else None
        totals, repeats, self._dropped = add_up(
            self.store, self.sums, self.origins, self.log, codes, self._reread, hashes_of, detail_of
        )
        return totals, repeats

    def _reread(self, origin: int, wanted: dict[int, np.ndarray]) -> dict[int, pa.RecordBatch]:
        """Content of the kept rows ``wanted`` (batch index -> kept rows) of batches not kept in memory."""
        by_start = {self.store.batches[index].start: index for index in wanted}
        found: dict[int, pa.RecordBatch] = {}
        for start, batch in self.origins[origin].reread(by_start, self.log):
            index = by_start.get(start)
            if index is not None and batch.num_rows == self.store.batches[index].size:
                found[index] = self._content(batch, self.store.batches[index].offsets(wanted[index]))
        return found

    def _content(self, batch: pa.RecordBatch, offsets: np.ndarray) -> pa.RecordBatch:
        """The kept-row content (``usage_store.CONTENT``) of the rows at ``offsets``, converted as
        the first reading did: typed columns convert row by row, so a few rows convert alike;
        text is converted whole (its fallback path depends on the other rows)."""
        rows = pa.array(offsets)
        columns = []
        for name, coder in (("customer_id", self.customers), ("metric", self.metrics)):
            column = batch.column(name).take(rows)
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            columns.append(coder.encode(column)[0])
        converted = []
        for name, convert in (("quantity", quantities), ("timestamp", timestamps)):
            column = batch.column(name)
            if _typed(column.type):
                values = convert(column.take(rows)).values
            else:
                values = convert(column).values
                assert values is not None
                values = values.take(rows)
            converted.append(values)
        micros = converted[1].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        ids = plain_strings(batch.column("event_id")).take(rows)
        content = [ids, pa.array(columns[0], pa.int32()), pa.array(columns[1].astype(np.int16)), converted[0]]
        return pa.RecordBatch.from_arrays([*content, micros], names=list(CONTENT))


def _typed(kind: pa.DataType) -> bool:
    return (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or (pa.types.is_timestamp(kind))
    )
