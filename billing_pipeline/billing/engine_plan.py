"""The usage aggregation, expressed once in ibis, run by the engine where the events are: the rows.

One relation ``rows`` holds the period's window (the period widened by a day: any UTC offset is
less than a day) and, for ``weighted_sum`` metrics, the earlier rows (the level carried into the
period). Each row is classified with certainty (``engine_columns``):

- ``good``: certainly in the period, ``event_id``/customer/metric present, a certain quantity, a
  ``unique_key`` where its metric counts them (and, for ``weighted_sum``, a level below 10**6 so
  that level × duration sums stay exact in int64);
- ``doubt``: anything the engine cannot decide (an odd timestamp or quantity, a missing value…),
  and earlier rows of weighted metrics that are not certain — the file reader must look at it;
- the rest: certainly another period, not looked at (as files do).

Duplicates: the ids used by more than one candidate row are found by a GROUP BY (a hash table, no
sort of the period); only their rows go through windows partitioned by ``event_id``: copies that
are all good and identical (customer, metric, instant, quantity, unique_key) are one event, the
others ``dirty``. A (customer, metric) group with any ``doubt`` or ``dirty`` row is *tainted* (a
GROUP BY of the groups, joined back): all its rows are fetched and go through ``UsageReader`` (so
the first copy, each message, every rule is the file reader's); every other group is aggregated by
the engine (``engine_aggregates``). GROUP BYs, joins and windows partitioned by id, customer or
metric only: nothing needs one worker to see every row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from billing_pipeline.billing.engine_columns import Fence, as_text, with_values
from billing_pipeline.billing.engine_text import NO_INT, NO_STRING

WEIGHTED_LEVEL_LIMIT = 10**6  # whole part of a level: level × period (in µs) fits in int64
# engines that flatten a sub-select into its reader, copying each expression into every reference
FLATTENING = frozenset({"sqlite", "postgres"})
_NO_LIMIT = 2**63 - 1
# the columns ``classified`` keeps from the values' stages: the fewer, the cheaper every later step
# (PostgreSQL and SQLite write them to a temporary table read by each step)
_VALUES = ("_eid", "_cust", "_met", "_uk", "_in_window", "_whole", "_frac")
_RAW = ("_raw_q", "_raw_ts")  # the table's own values, for the rows fetched only


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


def isin(column: ir.StringValue, values: Collection[str]) -> ir.BooleanValue:
    return column.isin(sorted(values)).fill_null(False) if values else ibis.literal(False)


@ibis.udf.scalar.builtin(name="hash")
def _duckdb_hash(text: str) -> dt.UInt64:  # type: ignore[empty-body]
    """DuckDB's 64-bit hash (ibis' own goes through a BIT cast that costs more than the hash)."""


def _id_key(event_id: ir.StringValue, backend: str) -> ir.Value:
    """What repeated ids are grouped by: a 64-bit hash where the engine has one (a GROUP BY of
    integers is faster than of ~20-byte strings, and smaller); two ids of one hash only send both
    to the exact comparison by id. Spark's hash is 32-bit (too many collisions), SQLite has none."""
    if backend == "duckdb":
        return _duckdb_hash(event_id)
    if backend == "postgres":
        return event_id.hash()  # hashtextextended
    return event_id


def fence_for(backend: str) -> Fence:
    """A barrier to flattening where the engine flattens (else nothing), so that what a stage
    computes is computed once per row: a sub-select with a LIMIT is never merged into a reader
    that filters, joins or aggregates (SQLite), or at all (PostgreSQL). A LIMIT beyond any count
    costs nothing there (a window function did the same at 2 µs a row on SQLite); elsewhere it
    would gather the rows on one worker, hence only here."""
    if backend not in FLATTENING:
        return lambda table: table
    return lambda table: table.limit(_NO_LIMIT)


@dataclass(frozen=True)
class Classified:
    """The relations of one read (each an ibis expression over the usage table):

    - ``rows``: every row of the window and the earlier weighted rows, classified;
    - ``tainted``: the (customer, metric) groups (``_gc``, ``_gm``; NULL as "") holding a doubtful
      or dirty row — the file reader's;
    - ``kept``: the rows the aggregations count, every group alike (the tainted groups' results are
      dropped by the caller): good rows of unrepeated ids, and one row per id whose copies are
      identical, with ``_reps`` (the repeats dropped).
    """

    rows: ir.Table
    tainted: ir.Table
    kept: ir.Table
    backend: str


def classified(
    table: ir.Table,
    frame: Frame,
    *,
    backend: str,
    window: ir.BooleanValue,
    early: ir.BooleanValue,
    for_fetch: bool = False,
    repeated_ids: ir.Table | None = None,
) -> Classified:
    """``window``/``early``: the scan predicates over ``table`` (a range an index serves).
    ``for_fetch``: the rows keep the table's quantity and timestamp (``fetched``); the aggregation
    does without them (narrower rows to hold: DuckDB and PostgreSQL keep them for each reader).
    ``repeated_ids``: the ``_rid`` keys of ids used more than once, found beforehand
    (``repeated_keys``) — else found in the same query."""
    fence = fence_for(backend)
    raw = _RAW if for_fetch else ()
    weighted, unique = frame.metrics("weighted_sum"), frame.metrics("unique_count")
    rows = table.filter(window | (early & isin(as_text(table.metric, backend), weighted)))
    rows = with_values(
        rows,
        timestamp=rows.timestamp,
        quantity=rows.quantity,
        backend=backend,
        fence=fence,
        _eid=as_text(rows.event_id, backend),
        _cust=as_text(rows.customer_id, backend),
        _met=as_text(rows.metric, backend),
        _uk=as_text(rows.unique_key, backend) if "unique_key" in table.columns else NO_STRING,
        # the filter keeps the window and, for weighted metrics only, the rows before it
        _in_window=window.fill_null(False) if weighted else ibis.literal(True),
        # for the rows fetched, as the streaming query gives them (``fetched``)
        **({"_raw_q": rows.quantity, "_raw_ts": rows.timestamp} if for_fetch else {}),
    )
    r = rows
    # an instant is certain where its value is there (SQLite's strftime says NULL to what it refuses)
    ts_ok = (r._ts_ok & r._us.notnull()).fill_null(False)
    is_weighted, is_unique = isin(r._met, weighted), isin(r._met, unique)
    present = r._eid.notnull() & (r._eid != "") & r._cust.notnull() & r._met.notnull()
    level_ok = ~is_weighted | (r._whole < WEIGHTED_LEVEL_LIMIT)
    # two steps, each condition written once: SQLite and PostgreSQL evaluate what is written, and
    # the classification below reads each of these several times
    r = fence(
        r.select(
            *_VALUES,
            *raw,
            _ts_ok=ts_ok,
            _us=ibis.ifelse(ts_ok, r._us, NO_INT),  # NULL when the instant is not certain
            _now=(ts_ok & (r._us >= frame.start) & (r._us < frame.end)).fill_null(False),
            _before=(ts_ok & (r._us < frame.start)).fill_null(False),
            _weighted=is_weighted,
            # a row that is there, with a certain quantity (a level below the limit)
            _sound=(present & r._q_ok & level_ok).fill_null(False),
            _keyed=(~is_unique | (r._uk.notnull() & (r._uk != ""))).fill_null(False),
            _key=_id_key(r._eid, backend),
        )
    )
    # read by every later step: fenced, so that the engines that flatten compute it once (as a
    # CTE read several times: PostgreSQL and SQLite materialize it)
    rows = fence(
        r.select(
            *_VALUES,
            *raw,
            "_us",
            "_key",
            "_now",
            _good=r._now & r._sound & r._keyed,
            _carry=r._before & r._weighted & r._sound,
            _doubt=~r._ts_ok | (r._now & ~(r._sound & r._keyed)) | (r._before & r._weighted & ~r._sound),
            # copies that may count: those in the period, and those whose period is not known
            _cand=r._in_window & (r._now | ~r._ts_ok),
        )
    )
    return _deduplicated(rows, backend, repeated_ids if repeated_ids is not None else repeated_keys(rows))


def repeated_keys(rows: ir.Table) -> ir.Table:
    """The keys (``_rid``) of the ids used by more than one candidate row: a GROUP BY."""
    candidates = rows.filter(rows._cand)
    ids = candidates.group_by("_key").aggregate(_n=candidates.count())
    return ids.filter(ids._n > 1).select(_rid=ids._key)


def _deduplicated(rows: ir.Table, backend: str, ids: ir.Table) -> Classified:
    """The rows of repeated ids compared by windows partitioned by id (few rows), the tainted
    groups, and the rows the aggregations count."""
    # one join marks the rows of repeated ids, read twice below: fenced where that makes it one
    # temporary table (ibis would repeat the join, and with it the GROUP BY, in each reader)
    if backend == "duckdb":
        # a semi join and an anti join with the (few) repeated ids: two different relations, as
        # DuckDB keeps one LEFT JOIN read twice whole in memory (or on disk: 8 GB at 10^8 events)
        repeated_rows = rows.filter(rows._cand).semi_join(ids, rows._key == ids._rid)
        unrepeated = rows.filter(rows._good).anti_join(ids, rows._key == ids._rid)
    else:
        marked = fence_for(backend)(rows.left_join(ids, rows._key == ids._rid))
        repeated_rows = marked.filter(marked._cand & marked._rid.notnull())
        unrepeated = marked.filter(marked._good & marked._rid.isnull())
    r = repeated_rows
    by_id = ibis.window(group_by=r._eid)
    identical = [
        column.min().over(by_id) == column.max().over(by_id)
        for column in (r._cust, r._met, r._us, r._whole, r._frac, r._uk.fill_null(""))
    ]
    copies = r._eid.count().over(by_id)
    same = ibis.and_(*identical).fill_null(False) & (ones(r._good).sum().over(by_id) == copies)
    repeated = r.mutate(
        _same=same,
        _reps=copies.cast("int64") - 1,
        # identical copies: which one is kept does not matter (the order only makes it one)
        _first=ibis.row_number().over(group_by=r._eid, order_by=r._good.desc()) == 0,
    )
    dirty = repeated.filter(~repeated._same)
    tainted = _groups(rows.filter(rows._doubt)).union(_groups(dirty), distinct=True)
    counted = ("_cust", "_met", "_us", "_eid", "_whole", "_frac", "_uk")
    single = unrepeated.select(*counted, _reps=ibis.literal(0, "int64"))
    once = repeated.filter(repeated._same & repeated._first).select(*counted, "_reps")
    return Classified(rows, tainted, single.union(once), backend)


def _groups(rows: ir.Table) -> ir.Table:
    """The (customer, metric) groups of ``rows``, NULL as "": a NULL customer or metric is doubtful,
    so its group is tainted anyway, and tainting the "" group with it only sends more rows to the
    file reader."""
    return rows.select(_gc=rows._cust.fill_null(""), _gm=rows._met.fill_null(""))


def in_tainted(rows: ir.Table, tainted: ir.Table) -> ir.Table:
    """``rows`` with ``_taint``: whether its group is tainted (a join with the few groups)."""
    keyed = rows.mutate(_kc=rows._cust.fill_null(""), _km=rows._met.fill_null(""))
    joined = keyed.left_join(tainted, [keyed._kc == tainted._gc, keyed._km == tainted._gm])
    return joined.mutate(_taint=joined._gc.notnull()).drop("_kc", "_km", "_gc", "_gm")


def fetched(
    plan: Classified,
    *,
    typed_timestamps: bool,
    has_unique_key: bool,
    bad_customers: Collection[str] = (),
    bad_metrics: Collection[str] = (),
) -> ir.Table:
    """The rows the file reader must see, with the table's column names: the tainted groups
    (``bad_*`` empty), or the untainted rows of groups whose customer or metric Python refused.
    ``_in_window`` tells them apart from the earlier rows only read for the carried-in level.
    Ordered (few rows) so that the first copy of a repeated id is the same on every run."""
    rows = in_tainted(plan.rows, plan.tainted)
    if bad_customers or bad_metrics:
        wanted = rows._in_window & ~rows._taint & (isin(rows._cust, bad_customers) | isin(rows._met, bad_metrics))
    else:
        wanted = rows._taint
    chosen = rows.filter(wanted)
    columns = {
        "event_id": chosen._eid,
        "customer_id": chosen._cust,
        "metric": chosen._met,
        "quantity": as_text(chosen._raw_q, plan.backend),
        # typed instants come as instants; text as the text the file reader parses
        "timestamp": chosen._raw_ts if typed_timestamps else as_text(chosen._raw_ts, plan.backend),
        **({"unique_key": chosen._uk} if has_unique_key else {}),
    }
    # the order of the streaming query (timestamp, event_id, customer_id, metric, quantity), over
    # these rows only: the first copy of a repeated id is the one a streamed read would count
    order = {f"_order{at}": chosen[name] for at, name in enumerate(("_us", "_eid", "_cust", "_met", "_whole", "_frac"))}
    ordered = chosen.select(**columns, _in_window=chosen._in_window, **order).order_by(list(order))
    return ordered.drop(*order)
