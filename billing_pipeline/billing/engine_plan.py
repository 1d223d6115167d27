"""The usage aggregation, expressed once in ibis, run by the engine where the events are.

One relation ``rows`` holds the period's window (the period widened by a day: any UTC offset is
less than a day) and, for ``weighted_sum`` metrics, the earlier rows (the level carried into the
period). Each row is classified with certainty (``engine_columns``):

- ``good``: certainly in the period, ``event_id``/customer/metric present, a plain quantity, a
  ``unique_key`` where its metric counts them (and, for ``weighted_sum``, a level below 10**6 so
  that level × duration sums stay exact in int64);
- ``doubt``: anything the engine cannot decide (an odd timestamp or quantity, a missing value…),
  and earlier rows of weighted metrics that are not plain — the file reader must look at it;
- the rest: certainly another period, not looked at (as files do).

Duplicates: a window partitioned by ``event_id`` counts the copies; copies that are all good and
identical (customer, metric, instant, quantity, unique_key) are one event, the others ``dirty``.
A (customer, metric) group with any ``doubt`` or ``dirty`` row is *tainted*: all its rows are
fetched and go through ``UsageReader`` (so the first copy, each message, every rule is the file
reader's); every other group is aggregated by the engine — sum, count, unique_count, max, latest,
weighted_sum, per subscription span — with partitioned windows and GROUP BYs only: no ORDER BY
over the period, nothing that needs one worker to see every row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from billing_pipeline.billing.engine_columns import MICRO, as_text, with_values

WEIGHTED_LEVEL_LIMIT = 10**6  # whole part of a level: level × period (in µs) fits in int64
NO_STRING = ibis.null("string")


@dataclass(frozen=True)
class Frame:
    """The inputs of one read: the period and window (µs since the epoch) and the metrics' kinds."""

    start: int
    end: int
    day_starts: Sequence[int]  # the period's local midnights, plus its end
    aggregations: Mapping[str, str]
    spans: Sequence[tuple[str, int, int, int]]  # (customer, span index, start µs, end µs)
    spanned: frozenset[str] = frozenset()  # customers billed by spans (some may have none in the period)

    def metrics(self, kind: str) -> list[str]:
        return sorted(metric for metric, found in self.aggregations.items() if found == kind)


def ones(condition: ir.BooleanValue) -> ir.IntegerValue:
    """1 where ``condition`` holds, else 0 — to count or test with SUM/MAX (PostgreSQL does not
    cast booleans to integers)."""
    return ibis.ifelse(condition, 1, 0)


def _isin(column: ir.StringValue, values: Collection[str]) -> ir.BooleanValue:
    return column.isin(sorted(values)).fill_null(False) if values else ibis.literal(False)


def classified(
    table: ir.Table,
    frame: Frame,
    *,
    typed: bool,
    window: ir.BooleanValue,
    early: ir.BooleanValue,
    barrier: bool = False,
) -> ir.Table:
    """Every row of the window and the earlier weighted rows, with its classification and taint.

    ``window``/``early``: the scan predicates over ``table`` (a range an index serves).
    """
    weighted, unique = frame.metrics("weighted_sum"), frame.metrics("unique_count")
    has_key = "unique_key" in table.columns
    metric_text = as_text(table.metric)
    rows = table.filter(window | (early & _isin(metric_text, weighted)))
    rows = with_values(
        rows,
        timestamp=as_text(rows.timestamp),
        quantity=as_text(rows.quantity),
        typed=typed,
        _eid=as_text(rows.event_id),
        _cust=as_text(rows.customer_id),
        _met=as_text(rows.metric),
        _uk=as_text(rows.unique_key) if has_key else NO_STRING,
        _in_window=window.fill_null(False),
        # SQLite and PostgreSQL flatten sub-selects into their readers, evaluating each regular
        # expression (a Python function in SQLite) once per reference, stage after stage — a
        # thousand times per row here; a sub-select with a window function is not flattened, so
        # the first stage is evaluated once per row. (DuckDB and Spark do not duplicate work.)
        **({"_stage": rows.event_id.count().over(group_by=rows.event_id)} if barrier else {}),
    )
    r = rows
    is_weighted, is_unique = _isin(r._met, weighted), _isin(r._met, unique)
    present = r._eid.notnull() & (r._eid != "") & r._cust.notnull() & r._met.notnull()
    level_ok = ~is_weighted | (r._whole < WEIGHTED_LEVEL_LIMIT)
    now = r._ts_ok & (r._us >= frame.start) & (r._us < frame.end)
    before = r._ts_ok & (r._us < frame.start)
    good = now & present & r._q_ok & level_ok & (~is_unique | (r._uk.notnull() & (r._uk != "")))
    carry = before & is_weighted & present & r._q_ok & level_ok
    doubt = ~r._ts_ok | (now & ~good) | (before & is_weighted & ~carry)
    rows = r.mutate(
        _now=now.fill_null(False),
        _good=good.fill_null(False),
        _carry=carry.fill_null(False),
        _doubt=doubt.fill_null(True),
        # copies that may count: those in the period, and those whose period is not known
        _cand=(r._in_window & (now | ~r._ts_ok)).fill_null(True),
    )
    r = rows
    by_id = ibis.window(group_by=r._eid)
    cand = r._cand

    def of_candidates(value: ir.Value) -> ir.Value:
        return ibis.ifelse(cand, value, ibis.null(value.type()))

    identical = [
        of_candidates(column).min().over(by_id) == of_candidates(column).max().over(by_id)
        for column in (r._cust, r._met, r._us, r._whole, r._frac, r._uk.fill_null(""))
    ]
    copies = ones(cand).sum().over(by_id)
    good_copies = ones(cand & r._good).sum().over(by_id)
    same = ibis.and_(*identical).fill_null(False) & (good_copies == copies)
    rows = r.mutate(
        _copies=copies,
        _dirty=(cand & (copies > 1) & ~same).fill_null(True),
        # identical copies: which one is kept does not matter (the order only makes it one)
        _first=ibis.row_number().over(group_by=r._eid, order_by=[r._cand.desc(), r._good.desc()]) == 0,
    )
    r = rows
    taint = ones(r._doubt | r._dirty).max().over(group_by=[r._cust, r._met]) > 0
    return r.mutate(_taint=taint, _keep=r._good & ((r._copies <= 1) | r._first))


def fetched(
    rows: ir.Table, columns: Sequence[str], *, bad_customers: Collection[str] = (), bad_metrics: Collection[str] = ()
) -> ir.Table:
    """The rows the file reader must see: the tainted groups (``bad_*`` empty), or the untainted
    rows of groups whose customer or metric Python refused. ``_in_window`` tells them apart from
    the earlier rows only read for the carried-in level. Ordered (few rows) so that the first copy
    of a repeated id is the same on every run."""
    if bad_customers or bad_metrics:
        wanted = rows._in_window & ~rows._taint & (_isin(rows._cust, bad_customers) | _isin(rows._met, bad_metrics))
    else:
        wanted = rows._taint
    chosen = rows.filter(wanted)
    # the order of the streaming query (timestamp, event_id, customer_id, metric, quantity), over
    # these rows only: the first copy of a repeated id is the one a streamed read would count
    order = ["_us", "_eid", "_cust", "_met", "_whole", "_frac"]
    return chosen.select(*columns, "_in_window", *order).order_by(order).drop(*order)


def counts(rows: ir.Table) -> ir.Table:
    """Rows of the window, of them the period's rows the engine settled, and the tainted rows."""
    return rows.aggregate(
        read=ones(rows._in_window).sum(),
        settled=ones(rows._in_window & rows._now & ~rows._taint).sum(),
        tainted=ones(rows._taint).sum(),
    )


SUMMARY = {
    "part": "string",
    "customer": "string",
    "metric": "string",
    "span": "int64",
    "day": "int64",
    "events": "int64",
    "repeats": "int64",
    "whole": "int64",
    "millionths": "int64",
    "largest": "int64",
    "distinct": "int64",
    "latest": "int64",
}


def summary(rows: ir.Table, frame: Frame) -> ir.Table:
    """``counts``, ``aggregates`` and ``weighted`` as one result (``part`` = c, a, w): one query to
    compile and run. ``counts``: events = read, repeats = settled, whole = tainted; ``weighted``:
    whole and millionths = the two integrals."""

    def shaped(table: ir.Table, part: str, **renamed: str) -> ir.Table:
        columns: dict[str, ir.Value] = {}
        for name, kind in SUMMARY.items():
            source = renamed.get(name, name)
            value = table[source] if source in table.columns else ibis.null(kind)
            columns[name] = value.cast(kind)
        columns["part"] = ibis.literal(part)
        return table.select(**columns)

    parts = [
        shaped(counts(rows), "c", events="read", repeats="settled", whole="tainted"),
        shaped(aggregates(rows, frame), "a"),
    ]
    integrals = weighted(rows, frame)
    if integrals is not None:
        parts.append(shaped(integrals, "w", whole="whole_time", millionths="millionths_time"))
    return ibis.union(*parts)


def _spans_table(frame: Frame, prefix: str) -> ir.Table:
    columns = ("cust", "index", "lo", "hi")
    types = ("string", "int64", "int64", "int64")
    return ibis.memtable(
        {f"{prefix}_{name}": [span[at] for span in frame.spans] for at, name in enumerate(columns)},
        schema={f"{prefix}_{name}": kind for name, kind in zip(columns, types, strict=True)},
    )


def _spanned_table(frame: Frame) -> ir.Table:
    return ibis.memtable({"c_cust": sorted(frame.spanned)}, schema={"c_cust": "string"})


def _with_spans(rows: ir.Table, frame: Frame) -> ir.Table:
    """``_span``: the index of the customer's span holding the row (0 without spans, NULL on an
    uncovered day); ``_day``: the local day index of a row on an uncovered day, else NULL."""
    if not frame.spanned:
        return rows.mutate(_span=ibis.literal(0, "int64"), _day=ibis.null("int64"))
    spans, spanned = _spans_table(frame, "s"), _spanned_table(frame)
    joined = rows.left_join(spans, [rows._cust == spans.s_cust, rows._us >= spans.s_lo, rows._us < spans.s_hi])
    joined = joined.left_join(spanned, joined._cust == spanned.c_cust)
    is_spanned = joined.c_cust.notnull()
    starts = frame.day_starts
    day = ibis.cases(*((joined._us < starts[index + 1], index) for index in range(len(starts) - 1)), else_=-1)
    return joined.mutate(
        _span=ibis.ifelse(is_spanned, joined.s_index, 0),
        _day=ibis.ifelse(is_spanned & joined.s_index.isnull(), day, ibis.null("int64")),
    )


def aggregates(rows: ir.Table, frame: Frame) -> ir.Table:
    """Per (customer, metric, span) of the untainted groups — or (customer, metric, uncovered day)
    — every aggregation of the kept rows, and the repeats dropped."""
    settled = _with_spans(rows.filter(~rows._taint & rows._good), frame)
    s = settled
    micro_units = s._whole * MICRO + s._frac
    keep = s._keep
    latest = frame.metrics("latest")
    if latest:
        # the latest event, ties broken by the greatest event_id: a window per (customer, metric, span)
        order = [s._keep.desc(), s._us.desc(), s._eid.desc()]
        s = s.mutate(_rank=ibis.row_number().over(group_by=[s._cust, s._met, s._span], order_by=order))
        latest_value = ibis.ifelse((s._rank == 0) & _isin(s._met, latest), micro_units, ibis.null("int64")).max()
    else:
        latest_value = ibis.null("int64")
    unique = frame.metrics("unique_count")
    return s.group_by(customer="_cust", metric="_met", span="_span", day="_day").aggregate(
        events=ones(keep).sum(),
        repeats=ones(~keep).sum(),
        whole=ibis.ifelse(keep, s._whole, 0).sum(),
        millionths=ibis.ifelse(keep, s._frac, 0).sum(),
        largest=micro_units.max(),
        distinct=ibis.ifelse(_isin(s._met, unique), s._uk, NO_STRING).nunique() if unique else ibis.literal(0),
        latest=latest_value,
    )


def weighted(rows: ir.Table, frame: Frame) -> ir.Table | None:
    """Per (customer, weighted metric, span): Σ whole level × µs held and Σ millionths × µs held,
    both exact int64 sums (levels < 10**6, spans within the period); None without such metrics.

    Each kept event holds its level until the next event of its (customer, metric) — a window
    partitioned by them — or the period end; the latest earlier event (``_carry``) holds from the
    period start until the first one.
    """
    metrics = frame.metrics("weighted_sum")
    if not metrics:
        return None
    clean = rows.filter(~rows._taint & _isin(rows._met, metrics))
    events = clean.filter(clean._keep).select(
        "_cust", "_met", "_us", "_eid", "_whole", "_frac", _opening=ibis.literal(1, "int64")
    )
    earlier = clean.filter(clean._carry)
    earlier = earlier.mutate(
        _rank=ibis.row_number().over(
            group_by=[earlier._cust, earlier._met], order_by=[earlier._us.desc(), earlier._eid.desc()]
        )
    )
    opening = earlier.filter(earlier._rank == 0).select(
        "_cust",
        "_met",
        "_eid",
        "_whole",
        "_frac",
        _us=ibis.literal(frame.start, "int64"),
        _opening=ibis.literal(0, "int64"),
    )
    line = events.union(opening.select(*events.columns))
    order = [line._us, line._opening, line._eid]
    line = line.mutate(
        _next=line._us.lead().over(group_by=[line._cust, line._met], order_by=order).fill_null(frame.end)
    )
    if frame.spanned:
        # a spanned customer's segment counts within each of its spans: joined once per span
        spans, spanned = _spans_table(frame, "w"), _spanned_table(frame)
        line = line.left_join(spans, line._cust == spans.w_cust).left_join(spanned, line._cust == spanned.c_cust)
        is_spanned = line.c_cust.notnull()
        line = line.filter(~is_spanned | line.w_cust.notnull())  # a customer without spans here: nothing
        line = line.mutate(
            _span=ibis.ifelse(is_spanned, line.w_index, 0),
            _lo=ibis.ifelse(is_spanned, line.w_lo, frame.start),
            _hi=ibis.ifelse(is_spanned, line.w_hi, frame.end),
        )
    else:
        line = line.mutate(
            _span=ibis.literal(0, "int64"), _lo=ibis.literal(frame.start, "int64"), _hi=ibis.literal(frame.end, "int64")
        )
    low = ibis.greatest(line._us, line._lo)
    held = ibis.greatest(ibis.least(line._next, line._hi) - low, 0)
    return line.group_by(customer="_cust", metric="_met", span="_span").aggregate(
        whole_time=(line._whole * held).sum(), millionths_time=(line._frac * held).sum()
    )
