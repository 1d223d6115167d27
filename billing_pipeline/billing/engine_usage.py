"""Reading a period's usage through an engine (``engine_plan``), the few doubtful rows checked in Python.

``read_through_engine`` runs, on the engine holding the events: one count, one aggregation per
(customer, metric, span) and, with ``weighted_sum`` metrics, the level integrals; then fetches the
rows of the tainted groups (and of groups whose customer or metric Python refuses) into
``UsageReader``, which checks them with the file reader's code and messages. A problem about such
a row is located by table and ``event_id`` (``EventOrigin``): the engine never numbers the rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from billing_pipeline.billing.engine_aggregates import summary
from billing_pipeline.billing.engine_plan import Frame, classified, fetched, repeated_keys
from billing_pipeline.billing.engine_repeats import repeated_keys_by_bucket
from billing_pipeline.billing.engine_text import substr
from billing_pipeline.billing.problems import ProblemLog
from billing_pipeline.billing.usage_columns import QUANTITY_SCALE
from billing_pipeline.billing.usage_days import PeriodDays, micros
from billing_pipeline.billing.usage_detail import KIND
from billing_pipeline.billing.usage_reader import UsageOrigin, UsageReader
from billing_pipeline.billing.usage_totals import Settled

logger = logging.getLogger(__name__)

# Any UTC offset is less than a day, so a day on each side of the period holds every event of it.
WINDOW_MARGIN = timedelta(days=1)
MAX_BAD_KEYS = 500  # refused customers/metrics fetched by name; more: the period fails anyway, named in bulk
_KINDS = {index: name for name, index in KIND.items()}


class EventOrigin(UsageOrigin):
    """Rows fetched from a table by the engine: a problem names the event, not a row number."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.events: list[tuple[str | None, str | None, str | None, object]] = []

    @property
    def noun(self) -> str:
        return "row"

    def remember(self, batch: pa.RecordBatch) -> None:
        columns = [batch.column(name).to_pylist() for name in ("event_id", "customer_id", "metric", "timestamp")]
        self.events.extend(zip(*columns, strict=True))

    def _event(self, record: int) -> str:
        event_id, customer, metric, moment = self.events[record]
        if event_id:
            return f"event_id {event_id}"
        return f"no event_id: customer_id {customer}, metric {metric}, timestamp {moment}"

    def located(self, record: int, value: object, log: ProblemLog) -> tuple[int | None, object]:
        event = self._event(record)
        if value is None or value == "" or value == self.events[record][0]:
            return None, event
        return None, f"{value} ({event})"

    def where(self, record: int, log: ProblemLog) -> str:
        return f"{self.label} ({self._event(record)}, timestamp {self.events[record][3]})"


@dataclass(frozen=True)
class EngineTable:
    """A usage table as the engine sees it: ``typed`` when ``timestamp`` holds instants (not text);
    ``backend``: ibis' name of the engine (``duckdb``, ``sqlite``, ``postgres``, ``pyspark``)."""

    table: ir.Table
    typed: bool
    has_unique_key: bool
    backend: str


@dataclass
class _Results:
    settled: Settled = field(default_factory=Settled)
    events: set[tuple[str, str, int]] = field(default_factory=set)  # (customer, metric, span) with events
    bad_customers: set[str | None] = field(default_factory=set)
    bad_metrics: set[str | None] = field(default_factory=set)
    bad_rows: int = 0  # rows of the period in refused groups (the reader counts them again)
    settled_rows: int = 0  # rows of the period in the untainted groups


def scan(source: EngineTable, start: datetime, end: datetime) -> tuple[ir.BooleanValue, ir.BooleanValue]:
    """(the window, the rows before it): plain predicates on the raw column, which an index serves.

    Text: ISO 8601 sorts like the local date it starts with, within a day of the UTC date, so
    comparing with dates a day around the period keeps every event of it; text not starting
    like ``YYYY-MM-DD`` is always in the window (to be reported), as is NULL.
    """
    moment = source.table.timestamp
    lower, upper = start - WINDOW_MARGIN, end + WINDOW_MARGIN
    if source.typed:
        low, high = ibis.literal(lower.astimezone(UTC)), ibis.literal(upper.astimezone(UTC))
        return ((moment >= low) & (moment < high)) | moment.isnull(), moment < low
    low_day = lower.astimezone(UTC).date().isoformat()
    high_day = (end.astimezone(UTC) + 2 * WINDOW_MARGIN).date().isoformat()
    # Only text starting with an exact date shape YYYY-MM-DD is trusted to the range: it compares
    # like its date under every collation (a linguistic one, en_US or ICU, weighs punctuation
    # after letters and digits), and a malformed text such as "2026-1102T…" — past "2026-11-02"
    # to a byte comparison — is in the window, to be reported rather than skipped as another month.
    digit = [str(value) for value in range(10)]
    shaped = ibis.and_(
        *(substr(moment, at, 1).isin(digit) for at in (1, 2, 3, 4, 6, 7, 9, 10)),
        substr(moment, 5, 1) == "-",
        substr(moment, 8, 1) == "-",
    )
    window = ((moment >= low_day) & (moment < high_day)) | moment.isnull() | ~shaped.fill_null(False)
    return window, shaped.fill_null(False) & (moment < low_day)


def frame_of(reader: UsageReader, aggregations: dict[str, str]) -> Frame:
    days: PeriodDays = reader.days
    spans = []
    for customer, customer_spans in reader.classifier.spans.items():
        for index, span in enumerate(customer_spans):
            first = min(max((span.first - days.first).days, 0), len(days.starts) - 1)
            last = min(max((span.last - days.first).days + 1, 0), len(days.starts) - 1)
            spans.append((customer, index, int(days.starts[first]), int(days.starts[max(first, last)])))
    starts = [int(value) for value in days.starts]
    return Frame(
        micros(reader.start), micros(reader.end), starts, aggregations, spans, frozenset(reader.classifier.spans)
    )


def read_through_engine(
    source: EngineTable, reader: UsageReader, label: str, fetch_rows: int, id_buckets: int = 1
) -> None:
    """Aggregate in the engine, check and add up the doubtful groups in ``reader``; exceptions of
    the engine propagate (the caller reports them). ``id_buckets`` > 1 (DuckDB): repeated ids
    found bucket by bucket (``engine_repeats``), for months larger than its memory."""
    aggregations = {metric: _KINDS[kind] for metric, kind in reader.classifier.aggregations.items()}
    frame = frame_of(reader, aggregations)
    window, early = scan(source, reader.start, reader.end)
    planned: dict = {"backend": source.backend, "window": window, "early": early}
    if source.backend == "duckdb":
        # the GROUP BY of every id of the month, once, apart: inlined into each reader it would run
        # again in each (see ``to_arrow``); what it gives is small (the repeated ids' keys)
        rows = classified(source.table, frame, **planned).rows
        if id_buckets > 1:
            candidates = rows.filter(rows._cand).select("_key")
            keys = repeated_keys_by_bucket(candidates._find_backend().con, _duckdb_sql(candidates), id_buckets)
        else:
            keys = to_arrow(repeated_keys(rows))
        planned["repeated_ids"] = ibis.memtable(keys)
    # on DuckDB, a query per reader of the counted rows (``summary``)
    queries = summary(classified(source.table, frame, **planned), frame, apart=source.backend == "duckdb")
    found = [row for query in queries for row in to_arrow(query).to_pylist()]
    (totals,) = [row for row in found if row["part"] == "c"]
    tainted = {(row["customer"], row["metric"]) for row in found if row["part"] == "t"}
    results = _results(found, frame, reader, tainted)
    shape = {"typed_timestamps": source.typed, "has_unique_key": source.has_unique_key}
    origin = EventOrigin(label)
    early_rows: list[pa.RecordBatch] = []
    refused = len(results.bad_customers) + len(results.bad_metrics) > 0
    # nothing tainted or refused (the usual case): no second query at all; else the same plan again,
    # with the table's own values of the rows
    plan = classified(source.table, frame, **planned, for_fetch=True) if tainted or refused else None
    batches = _batches(fetched(plan, **shape), origin, early_rows, fetch_rows) if plan and tainted else iter(())
    if plan is not None and refused:
        rows = fetched(
            plan,
            **shape,
            bad_customers=_capped(results.bad_customers),
            bad_metrics=_capped(results.bad_metrics),
        )
        batches = _chain(batches, _batches(rows, origin, early_rows, fetch_rows))
    reader.read_batches(origin, batches)
    reader.carry_in_batches(early_rows)
    settled = results.settled_rows - results.bad_rows
    read = int(totals["events"] or 0)
    reader.add_settled(results.settled, rows_in_period=settled)
    reader.rows_read += read - origin.rows
    logger.info(
        "%s: %d rows of the window, %d of the period aggregated by the engine, %d fetched",
        label,
        read,
        settled,
        origin.rows,
    )


# A sub-select read by several steps (the classified rows: by the GROUP BY of repeated ids, the
# join marking their rows, the doubtful groups) is a CTE to ibis, which DuckDB materializes: every
# row of the month held, and beyond memory_limit written to disk (21 GB for 10^8 events, and still
# counting). Inlined, each reader scans the files again instead — cheaper than holding the month.
_CTE = re.compile(r'(?:(?<=WITH )|(?<=\), ))("t\d+") AS \(')


def inline_ctes(sql: str) -> str:
    return _CTE.sub(r"\1 AS NOT MATERIALIZED (", sql)


def _duckdb_sql(expression: ir.Table) -> str:
    """The expression's DuckDB SQL, its common sub-selects inlined (above), its in-memory tables
    (spans, repeated ids) registered on the connection."""
    backend = expression._find_backend()  # ibis has no public accessor
    backend._run_pre_execute_hooks(expression)
    return inline_ctes(backend.compile(expression))


def to_arrow(expression: ir.Table) -> pa.Table:
    """The expression's rows; on DuckDB with its common sub-selects inlined (above)."""
    backend = expression._find_backend()
    if backend.name != "duckdb":
        return expression.to_pyarrow()
    from ibis.backends.duckdb.converter import DuckDBPyArrowData

    table = backend.con.sql(_duckdb_sql(expression)).to_arrow_table()
    return expression.__pyarrow_result__(table, data_mapper=DuckDBPyArrowData)


def _capped(values: set[str | None]) -> list[str]:
    return sorted(value for value in values if value is not None)[:MAX_BAD_KEYS]


def _chain(*parts: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for part in parts:
        yield from part


def _batches(
    expression: ir.Table, origin: EventOrigin, early: list[pa.RecordBatch], fetch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The window rows of ``expression`` as reader batches; the earlier rows go to ``early``."""
    for batch in _streamed(expression, fetch_rows):
        if not batch.num_rows:
            continue
        in_window = batch.column("_in_window")
        batch = batch.drop_columns(["_in_window"])
        before = batch.filter(pa.compute.invert(in_window.fill_null(True)))
        if before.num_rows:
            early.append(before)
        now = batch.filter(in_window.fill_null(True))
        if now.num_rows:
            origin.remember(now)
            yield now


def _streamed(expression: ir.Table, fetch_rows: int) -> Iterator[pa.RecordBatch]:
    if expression._find_backend().name == "duckdb":  # ibis has no public accessor
        # ibis 12 streams DuckDB results with ``fetch_record_batch``, which duckdb 2 no longer has:
        # the fetched rows (the doubtful groups only) come as one table, cut in chunks
        yield from to_arrow(expression).to_batches(max_chunksize=fetch_rows)
        return
    yield from expression.to_pyarrow_batches(chunk_size=fetch_rows)


def _results(found_rows: list[dict], frame: Frame, reader: UsageReader, tainted: set[tuple[str, str]]) -> _Results:
    """What the engine settled: the groups' results, except the tainted groups' (the file reader
    reads their rows; the keys of ``tainted`` have "" for NULL)."""
    found = _Results()
    settled = found.settled
    spanned = reader.classifier.spans
    accepts_customer, accepts_metric = reader.customers.accepts, reader.metrics.accepts
    for row in (row for row in found_rows if row["part"] in ("a", "w")):
        row["tainted"] = (row["customer"] or "", row["metric"] or "") in tainted
    for row in (row for row in found_rows if row["part"] == "a" and not row["tainted"]):
        customer, metric, span, day = row["customer"], row["metric"], row["span"], row["day"]
        found.settled_rows += int(row["events"] or 0) + int(row["repeats"] or 0)
        if not (accepts_customer(customer) and accepts_metric(metric)):
            found.bad_customers.update([customer] if not accepts_customer(customer) else [])
            found.bad_metrics.update([metric] if not accepts_metric(metric) else [])
            found.bad_rows += int(row["events"] or 0) + int(row["repeats"] or 0)
            continue
        settled.repeats += int(row["repeats"] or 0)
        events = int(row["events"] or 0)
        if day is not None or span is None:
            if events:
                known, days = settled.uncovered.get(customer, (0, set()))
                days.add(reader.days.first + timedelta(days=int(day)))
                settled.uncovered[customer] = (known + events, days)
            continue
        kind = frame.aggregations.get(metric, "sum")
        if events:
            found.events.add((customer, metric, int(span)))
        if kind == "weighted_sum":
            continue  # from ``weighted`` below
        value = _value(kind, row)
        if customer in spanned:
            settled.span_quantities.setdefault(customer, {}).setdefault(int(span), {})[metric] = value
        else:
            settled.quantities.setdefault(customer, {})[metric] = value
    period = frame.end - frame.start
    for row in (row for row in found_rows if row["part"] == "w" and not row["tainted"]):
        customer, metric, span = row["customer"], row["metric"], int(row["span"])
        if not (accepts_customer(customer) and accepts_metric(metric)):
            continue  # refused above when it has events; a level alone is not billed
        if customer in found.bad_customers or metric in found.bad_metrics:
            continue
        numerator = int(row["whole"] or 0) * 10**QUANTITY_SCALE + int(row["millionths"] or 0)
        value = Decimal((2 * numerator + period) // (2 * period)).scaleb(-QUANTITY_SCALE)
        if not value and (customer, metric, span) not in found.events:
            continue
        if customer in spanned:
            settled.span_quantities.setdefault(customer, {}).setdefault(span, {})[metric] = value
        else:
            settled.quantities.setdefault(customer, {})[metric] = value
    return found


def _value(kind: str, row: dict) -> Decimal:
    if kind == "count":
        return Decimal(int(row["events"]))
    if kind == "unique_count":
        return Decimal(int(row["distinct"]))
    if kind == "max":
        return Decimal(int(row["largest"])).scaleb(-QUANTITY_SCALE)
    if kind == "latest":
        return Decimal(int(row["latest"])).scaleb(-QUANTITY_SCALE)
    return Decimal(int(row["whole"])) + Decimal(int(row["millionths"])).scaleb(-QUANTITY_SCALE)
