"""The usage aggregations, run by the engine (the rows classified by ``engine_plan``).

Per (customer, metric, subscription span) — or (customer, metric, uncovered local day) — of the
kept rows of every group: ``sum`` (Σ whole parts and Σ millionths, exact), ``count``,
``unique_count`` (COUNT DISTINCT), ``max``, ``latest`` (a window per customer, metric and span over
the rows of such metrics only: the latest instant, ties on the greatest ``event_id``),
``weighted_sum`` (LEAD over the events of a customer and metric gives how long each level holds;
the level entering the period is the latest earlier event). The tainted groups are aggregated too
and their results dropped by the caller (the file reader computes them): one GROUP BY over all the
rows costs less than joining every row with the tainted groups first. ``summary`` returns all of
it, the rows read and the tainted groups as one result."""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from billing_pipeline.billing.engine_plan import Classified, Frame, isin, ones
from billing_pipeline.billing.engine_text import MICRO, NO_INT, NO_STRING

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


def summary(plan: Classified, frame: Frame, *, apart: bool = False) -> list[ir.Table]:
    """The rows read, the tainted groups, ``aggregates`` and ``weighted``, rows told apart by
    ``part`` (c, t, a, w): ``c``: events = the window's rows; ``t``: customer and metric of a
    tainted group ("" for NULL); ``w``: whole and millionths = the two integrals.

    One query to compile and run, unless ``apart``: then several, each reading the counted rows
    (``kept``) at most once, the ``latest`` and ``unique_count`` metrics aggregated in their own.
    DuckDB (2.0) runs a sub-select read by several parts of one query once, holding its rows for
    the others even when told ``NOT MATERIALIZED``: the month's counted rows, 20 GB written to disk
    at 10^8 events. Apart, each query scans the files again instead."""
    read = plan.rows.aggregate(read=ones(plan.rows._in_window).sum())
    parts = [_shaped(read, "c", events="read"), _shaped(plan.tainted, "t", customer="_gc", metric="_gm")]
    kinds = [kind for kind in ("latest", "unique_count") if frame.metrics(kind)] if apart else []
    only: list[str | None] = [*kinds, "rest"] if apart else [None]
    parts += [_shaped(aggregates(plan.kept, frame, only=kind), "a") for kind in only]
    integrals = weighted(plan, frame)
    if integrals is not None:
        parts.append(_shaped(integrals, "w", whole="whole_time", millionths="millionths_time"))
    if not apart:
        return [ibis.union(*parts)]
    return [ibis.union(*parts[:2]), *parts[2:]]  # the rows read and the tainted groups read no kept row


def _shaped(table: ir.Table, part: str, **renamed: str) -> ir.Table:
    columns: dict[str, ir.Value] = {}
    for name, kind in SUMMARY.items():
        source = renamed.get(name, name)
        value = table[source] if source in table.columns else ibis.null(kind)
        columns[name] = value if value.type() == dt.dtype(kind) else value.cast(kind)
    columns["part"] = ibis.literal(part)
    return table.select(**columns)


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
    """``_span``: the index of the customer's span holding the row (0 for customers without
    spans, NULL on an uncovered day); ``_day``: the local day index of a row on an uncovered day,
    else NULL."""
    spans, spanned = _spans_table(frame, "s"), _spanned_table(frame)
    joined = rows.left_join(spans, [rows._cust == spans.s_cust, rows._us >= spans.s_lo, rows._us < spans.s_hi])
    joined = joined.left_join(spanned, joined._cust == spanned.c_cust)
    is_spanned = joined.c_cust.notnull()
    starts = frame.day_starts
    day = ibis.cases(*((joined._us < starts[index + 1], index) for index in range(len(starts) - 1)), else_=-1)
    return joined.mutate(
        _span=ibis.ifelse(is_spanned, joined.s_index, 0),
        _day=ibis.ifelse(is_spanned & joined.s_index.isnull(), day, NO_INT),
    )


def aggregates(kept: ir.Table, frame: Frame, *, only: str | None = None) -> ir.Table:
    """Per (customer, metric, span) — or (customer, metric, uncovered day) — every aggregation of
    the kept rows, and the repeats dropped. Without spans, grouped by customer and metric only
    (every key is hashed for every row). ``only``: the groups of the ``latest`` metrics, of the
    ``unique_count`` ones, or of the ``rest`` (any other metric, unknown ones included); None:
    every group, in one expression."""
    settled = _with_spans(kept, frame) if frame.spanned else kept
    by_span = ["_cust", "_met", "_span"] if frame.spanned else ["_cust", "_met"]
    latest, unique = frame.metrics("latest"), frame.metrics("unique_count")
    if only == "rest":
        settled = settled.filter(~isin(settled._met, latest) & ~isin(settled._met, unique))
        latest, unique = [], []
    elif only is not None:
        chosen = {"latest": latest, "unique_count": unique}[only]
        settled = settled.filter(isin(settled._met, chosen))
        latest, unique = (chosen, []) if only == "latest" else ([], chosen)
    if latest:
        # the latest event, ties broken by the greatest event_id: a window per (customer, metric,
        # span) over the rows of ``latest`` metrics only (the others need no order at all)
        of_latest = settled if only == "latest" else settled.filter(isin(settled._met, latest))
        order = [of_latest._us.desc(), of_latest._eid.desc()]
        ranked = of_latest.mutate(_rank=ibis.row_number().over(group_by=by_span, order_by=order))
        if only == "latest":
            settled = ranked
        else:
            others = settled.filter(~isin(settled._met, latest)).mutate(_rank=NO_INT)
            settled = others.union(ranked.select(*others.columns))
    s = settled
    micro_units = s._whole * MICRO + s._frac
    keys = {"customer": "_cust", "metric": "_met", **({"span": "_span", "day": "_day"} if frame.spanned else {})}
    found = s.group_by(**keys).aggregate(
        events=s.count(),
        repeats=s._reps.sum(),
        whole=s._whole.sum(),
        millionths=s._frac.sum(),
        largest=micro_units.max(),
        distinct=ibis.ifelse(isin(s._met, unique), s._uk, NO_STRING).nunique() if unique else ibis.literal(0),
        latest=ibis.ifelse(s._rank == 0, micro_units, NO_INT).max() if latest else NO_INT,
    )
    return found if frame.spanned else found.mutate(span=ibis.literal(0, "int64"), day=NO_INT)


def weighted(plan: Classified, frame: Frame) -> ir.Table | None:
    """Per (customer, weighted metric, span): Σ whole level × µs held and Σ millionths × µs held,
    both exact int64 sums (levels < 10**6, spans within the period); None without such metrics.

    Each kept event holds its level until the next event of its (customer, metric) — a window
    partitioned by them — or the period end; the latest earlier event (``_carry``) holds from the
    period start until the first one.
    """
    metrics = frame.metrics("weighted_sum")
    if not metrics:
        return None
    kept, rows = plan.kept, plan.rows
    events = kept.filter(isin(kept._met, metrics)).select(
        "_cust", "_met", "_us", "_eid", "_whole", "_frac", _opening=ibis.literal(1, "int64")
    )
    earlier = rows.filter(rows._carry)
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
