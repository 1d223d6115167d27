"""Pricing benchmark: ``plan_period`` on N Parquet events of one period, against DuckDB.

    python benchmarks/pricing.py [--events 10000000[,100000000]] [--customers 10000] [--seed 42] [--out DIR]

The data set (``billing-pipeline demo-data``, about 0.1 % repeated events) is generated once and
cached under ``--out`` (default ``benchmarks/out/``; 100 M events take 1.4 GB, 10^9 events 14 GB
in 20 files, generated in ~15 min: use a scratch folder and ``--delete-data``). Each measurement
runs in its own subprocess so that its peak resident memory (``ru_maxrss``, which does count
Arrow's and DuckDB's allocations) is its own:

- ``plan_period``: the whole dry run (read and check customers, price list and every usage
  row, drop duplicates, add up, price every customer) — the time and memory reported. Beyond
  ``usage_out_of_core.FILE_READER_ROWS`` (2 x 10^8) events it reads them as users' runs do:
  through the engine on an embedded DuckDB capped at 2 GB, spilling to disk;
- ``read_usage``: the file reader alone (read + check + deduplicate + aggregate), for reference,
  up to that size;
- DuckDB: the same aggregation in SQL (period filter, duplicate events counted once, sum per
  customer and metric) on the same files, with all its threads and DuckDB's default memory
  (``--duckdb-memory 14GB`` to cap it on a shared machine). It does less than ``plan_period``: no
  row checks, no pricing.

``--aggregations`` measures subscriptions and the metric aggregations instead: a data set whose events
spread over six metrics, one per aggregation (sum, count, unique_count, max, latest, weighted_sum,
with a ``unique_key`` column and the seat levels of the month before for the carry-in), priced by
``plan_period`` with a price list declaring those aggregations and a ``subscriptions.csv`` giving a
fifth of the customers two rows (a plan change mid-month, half of them with a day no row covers, a
coupon on every other one) — against the same events priced by ``plan_period`` as the sum-only run
(the same price list with every metric summed, no subscriptions.csv). For reference it also times
``read_usage`` alone both ways, and ``plan_period`` on the same subscriptions.csv with every metric
summed (what the subscriptions cost, their segments' extra lines included, and what the aggregations
add to them). Its last line is ``pricing: <N> events, <T> s, <M> MB peak, <R>x sum-only``.

Runs are interleaved for ``--rounds`` rounds and the best time of each is kept. The last line
is ``pricing: <N> events, <T> s, <M> MB peak, <R>x duckdb`` where T is ``plan_period``'s best
time, M its highest peak over the rounds, and R = T / DuckDB's best time — one such line per size
when ``--events`` lists several (comma-separated), followed by how time and memory grew.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TIME_ZONE = "Europe/Paris"


AGGREGATION_METRICS = {
    "api_calls": "sum",
    "requests": "count",
    "active_users": "unique_count",
    "peak_gb": "max",
    "plan_tier": "latest",
    "seats": "weighted_sum",
}


def _spans(customers: int, period: str) -> dict:
    """Two subscription rows for every fifth customer: a plan change mid-month, or a day not covered."""
    from datetime import timedelta

    from billing_pipeline.billing.coverage import DaySpan
    from billing_pipeline.billing.periods import BillingPeriod

    first, last = BillingPeriod.parse(period).first_day, BillingPeriod.parse(period).last_day
    spans = {}
    for index in range(0, customers, 5):
        gap = 1 if index % 10 else 0  # half of them: the 15th is covered by no row
        spans[f"cus_{index:06d}"] = [
            DaySpan(first, first + timedelta(days=13)),
            DaySpan(first + timedelta(days=14 + gap), last),
        ]
    return spans


_PLAN_FEES = {"starter": ("19.00", None), "growth": ("99.00", "250.00"), "enterprise": (None, "1500.00")}


def _price_list(aggregated: bool) -> str:
    """Three plans charging the six metrics per unit, with fees, commitments and two coupons; every
    metric a plain sum unless ``aggregated``."""
    lines = ["currency: EUR", "metrics:"]
    for metric, kind in AGGREGATION_METRICS.items():
        lines += [f"  {metric}:", f"    description: {metric}"]
        if aggregated and kind != "sum":
            lines.append(f"    aggregation: {kind}")
    lines.append("plans:")
    for plan, (fee, commitment) in _PLAN_FEES.items():
        lines.append(f"  {plan}:")
        for key, amount in (("monthly_fee", fee), ("minimum_commitment", commitment)):
            if amount:
                lines += [
                    f"    {key}:",
                    f"      title: {plan} {key}",
                    f'      amount: "{amount}"',
                    '      vat_rate: "0.20"',
                ]
        lines.append("    charges:")
        for number, metric in enumerate(AGGREGATION_METRICS):
            lines += [f"      {metric}:", "        model: per_unit", f"        title: {metric}", "        unit: unit"]
            lines += ['        vat_rate: "0.20"', f'        unit_price: "0.00{number + 1}"']
    lines += ["coupons:", "  welcome20:", "    title: Welcome", '    percent_off: "20"', "    applies_to: all"]
    lines += ["  api10:", "    title: API credit", '    amount_off: "10.00"', "    applies_to: api_calls"]
    return "\n".join(lines) + "\n"


def _subscriptions(data: Path, period: str) -> str:
    """Rows for every fifth customer (see ``_spans``): its plan until the 14th, then another one from
    the 15th (or the 16th: one day no row covers), a coupon on every other such customer."""
    import csv

    from billing_pipeline.billing.periods import BillingPeriod

    billing_period = BillingPeriod.parse(period)
    plans = list(_PLAN_FEES)
    rows = ["customer_id,plan,starts_on,ends_on,coupons"]
    with (data / "customers.csv").open(encoding="utf-8", newline="") as handle:
        customers = list(csv.DictReader(handle))
    every_spans = _spans(len(customers), period)
    for index, customer in enumerate(customers):
        if index % 5 == 0:
            spans = every_spans[customer["customer_id"]]
            other = plans[(plans.index(customer["plan"]) + 1) % len(plans)]
            coupon = "welcome20" if index % 10 == 0 else ""
            first_start = billing_period.previous().first_day
            rows.append(f"{customer['customer_id']},{customer['plan']},{first_start},{spans[0].last},")
            rows.append(f"{customer['customer_id']},{other},{spans[1].first},,{coupon}")
    return "\n".join(rows) + "\n"


def _pricing_folders(data: Path, period: str) -> dict[str, Path]:
    """Three folders sharing ``data``'s customers and usage: ``sums`` (every metric summed, no
    subscriptions.csv), ``aggregations`` (aggregations declared, subscriptions.csv) and, for
    reference, ``subscriptions`` (every metric summed, the same subscriptions.csv)."""
    folders = {}
    for name, aggregated, subscribed in (
        ("sums", False, False),
        ("aggregations", True, True),
        ("subscriptions", False, True),
    ):
        folder = data / "runs" / name
        folder.mkdir(parents=True, exist_ok=True)
        for shared in ("customers.csv", "usage"):
            if not (folder / shared).exists():
                (folder / shared).symlink_to(data / shared)
        (folder / "price_list.yaml").write_text(_price_list(aggregated), encoding="utf-8")
        if subscribed:
            (folder / "subscriptions.csv").write_text(_subscriptions(data, period), encoding="utf-8")
        folders[name] = folder
    return folders


# The plain DuckDB query, two ways with the same result: the period's distinct events summed per
# customer and metric. ``duckdb`` is how one writes it (a DISTINCT over whole rows); at 10^9 events
# its hash table of every row spills more than this machine's disk (60+ GB), so beyond the file
# reader's size ``duckdb_repeats_first`` finds the repeated ids first (a GROUP BY of 64-bit hashes),
# counts every other row as it is and the repeated ids' rows once per distinct copy — the shape
# of our engine's plan, written as one DuckDB query.
DUCKDB_QUERIES = {
    "duckdb": """
        WITH in_period AS (
            SELECT DISTINCT event_id, customer_id, metric, quantity, "timestamp"
            FROM read_parquet(?) WHERE "timestamp" >= ? AND "timestamp" < ?
        )
        SELECT customer_id, metric, sum(quantity) AS quantity, count(*) AS events
        FROM in_period GROUP BY customer_id, metric
        """,
    "duckdb_repeats_first": """
        WITH in_period AS NOT MATERIALIZED (
            SELECT event_id, customer_id, metric, quantity, "timestamp", hash(event_id) AS id_hash
            FROM read_parquet(?) WHERE "timestamp" >= ? AND "timestamp" < ?
        ),
        repeated AS MATERIALIZED (SELECT id_hash FROM in_period GROUP BY id_hash HAVING count(*) > 1),
        counted AS (
            SELECT customer_id, metric, quantity FROM in_period ANTI JOIN repeated USING (id_hash)
            UNION ALL
            SELECT customer_id, metric, quantity FROM (
                SELECT DISTINCT event_id, customer_id, metric, quantity, "timestamp"
                FROM in_period SEMI JOIN repeated USING (id_hash)
            )
        )
        SELECT customer_id, metric, sum(quantity) AS quantity, count(*) AS events
        FROM counted GROUP BY customer_id, metric
        """,
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _child(kind: str, data: Path, period: str) -> dict[str, float | int]:
    if kind in ("plan_period", "plan_sums", "plan_aggregations", "plan_subscriptions"):
        from billing_pipeline.billing.planning import plan_period

        # the --aggregations runs price folders sharing the data set's events (``_pricing_folders``)
        folder = data if kind == "plan_period" else data / "runs" / kind.removeprefix("plan_")
        started = time.perf_counter()
        plan = plan_period(period, folder, timezone=TIME_ZONE)
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "invoices": len(plan.invoices),
            "segments": sum(len(invoice.segments) for invoice in plan.invoices),
            "discounted": sum(1 for invoice in plan.invoices for line in invoice.lines if line.discount),
            "warnings": len(plan.warnings),
            "duplicates": plan.usage_stats.duplicate_events,
        }
    if kind in ("read_sum", "read_aggregations"):
        from billing_pipeline.billing.usage import read_usage

        customers = sum(1 for _ in (data / "customers.csv").open(encoding="utf-8")) - 1
        options = {"aggregations": AGGREGATION_METRICS, "spans": _spans(customers, period)}
        started = time.perf_counter()
        usage = read_usage(data / "usage", period, TIME_ZONE, **(options if kind == "read_aggregations" else {}))
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "invoices": len(usage.quantities) + len(usage.span_quantities),
            "duplicates": usage.duplicate_events,
            "problems": len(usage.problems),
            "uncovered": sum(item.events for item in usage.uncovered),
        }
    if kind == "read_usage":
        from billing_pipeline.billing.usage import read_usage

        started = time.perf_counter()
        usage = read_usage(data / "usage", period, TIME_ZONE)
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "invoices": len(usage.quantities),
            "duplicates": usage.duplicate_events,
        }
    import duckdb

    from billing_pipeline.billing.periods import BillingPeriod

    billing_period = BillingPeriod.parse(period)
    start, end = billing_period.start(TIME_ZONE), billing_period.end(TIME_ZONE)
    files = str(data / "usage" / "*.parquet")
    started = time.perf_counter()
    # DuckDB's defaults (80 % of the RAM), unless --duckdb-memory says otherwise; what does not fit
    # spills next to the data sets rather than into the working directory
    config = {"temp_directory": str(data.parent / ".duckdb-spill")}
    if os.environ.get("BENCH_DUCKDB_MEMORY"):
        config["memory_limit"] = os.environ["BENCH_DUCKDB_MEMORY"]
    connection = duckdb.connect(config=config)
    rows = connection.execute(DUCKDB_QUERIES[kind], [files, start, end]).fetchall()
    seconds = time.perf_counter() - started
    shutil.rmtree(config["temp_directory"], ignore_errors=True)
    events = sum(row[3] for row in rows)
    return {"seconds": seconds, "peak_mb": _peak_mb(), "invoices": len({row[0] for row in rows}), "events": events}


def _measure(kind: str, data: Path, period: str) -> dict[str, float | int]:
    command = [sys.executable, __file__, "--child", kind, "--data", str(data), "--period", period]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{kind} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _generated(kind: str, args: argparse.Namespace, events: int) -> Path:
    """The data set, generated (once) in a child process: Linux carries a process's peak resident
    memory over to the children it starts, so 10^8 events generated here would be every
    measurement's "peak" (4.8 GB instead of 1.4 GB)."""
    sizes = ["--events", str(events), "--customers", str(args.customers), "--seed", str(args.seed)]
    command = [sys.executable, __file__, "--generate", kind, *sizes, "--period", args.period, "--out", str(args.out)]
    if subprocess.run(command).returncode:
        raise SystemExit(f"generating the {kind} data set failed")
    return _folder(kind, events, args.customers, args.seed, args.period, args.out)


def _folder(kind: str, events: int, customers: int, seed: int, period: str, out: Path) -> Path:
    return out / f"{kind}-{period}-{events}e-{customers}c-seed{seed}"


def _data_set(events: int, customers: int, seed: int, period: str, out: Path = OUT) -> Path:
    from billing_pipeline.billing.demo import write_demo_data

    folder = _folder("pricing", events, customers, seed, period, out)
    marker = folder / ".complete"
    if not marker.exists():
        print(f"generating {events:,} events for {customers:,} customers in {folder} …", flush=True)
        write_demo_data(folder, customers=customers, events=events, period=period, seed=seed)
        marker.write_text("ok\n", encoding="utf-8")
    return folder


def _aggregation_data_set(events: int, customers: int, seed: int, period: str, out: Path = OUT) -> Path:
    """The demo events spread over ``AGGREGATION_METRICS`` by event number (so a repeated event
    stays identical), with a ``unique_key``, plus one seat level per customer the month before."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from billing_pipeline.billing.demo import demo_events
    from billing_pipeline.billing.periods import BillingPeriod

    folder = _folder("aggregations", events, customers, seed, period, out)
    marker = folder / ".complete"
    if marker.exists():
        return folder
    print(f"generating {events:,} events over {len(AGGREGATION_METRICS)} aggregations in {folder} …", flush=True)
    base = _data_set(min(events, 1000), customers, seed, period, out)  # customers.csv and price list
    (folder / "usage").mkdir(parents=True, exist_ok=True)
    shutil.copy(base / "customers.csv", folder / "customers.csv")
    billing_period = BillingPeriod.parse(period)
    table, _ = demo_events(customers, events, billing_period, seed=seed)
    numbers = pc.cast(pc.utf8_slice_codeunits(table["event_id"], -10), pa.int64()).to_numpy()
    names = list(AGGREGATION_METRICS)
    metric = pa.DictionaryArray.from_arrays(pa.array((numbers % len(names)).astype(np.int8)), pa.array(names))
    users = pc.binary_join_element_wise("user-", pc.cast(pa.array(numbers * 7919 % 50_000), pa.string()), "")
    table = table.set_column(2, "metric", metric).append_column("unique_key", users)
    pq.write_table(table, folder / "usage" / f"events-{period}.parquet", row_group_size=1 << 20)
    before = billing_period.previous()
    rng = np.random.default_rng(seed)
    start = int(before.start(TIME_ZONE).timestamp() * 1_000_000)
    earlier = pa.table(
        {
            "event_id": [f"evt-{before.key}-seat-{index:06d}" for index in range(customers)],
            "customer_id": [f"cus_{index:06d}" for index in range(customers)],
            "metric": ["seats"] * customers,
            "quantity": pa.array(rng.integers(1, 50, customers)),
            "timestamp": pa.array(
                start + rng.integers(0, 20 * 86_400_000_000, customers), pa.timestamp("us", tz="UTC")
            ),
            "unique_key": pa.nulls(customers, pa.string()),
        }
    )
    pq.write_table(earlier, folder / "usage" / f"events-{before.key}.parquet")
    marker.write_text("ok\n", encoding="utf-8")
    return folder


# a data set's kind (its folder's prefix, ``_folder``) -> what generates it
_GENERATORS = {"pricing": _data_set, "aggregations": _aggregation_data_set}


def _bench_aggregations(args: argparse.Namespace, events: int) -> tuple[float, float, float]:
    data = _generated("aggregations", args, events)
    _pricing_folders(data, args.period)
    kinds = ("plan_sums", "plan_aggregations", "plan_subscriptions", "read_sum", "read_aggregations")
    runs: dict[str, list[dict[str, float | int]]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind, results in runs.items():
            results.append(_measure(kind, data, args.period))
    best = {kind: min(results, key=lambda run: run["seconds"]) for kind, results in runs.items()}
    peak = {kind: max(run["peak_mb"] for run in results) for kind, results in runs.items()}
    plain, ours = best["read_sum"], best["read_aggregations"]
    print(
        f"read_usage alone, every metric summed, no spans: {plain['seconds']:.2f} s, {peak['read_sum']:.0f} MB peak; "
        f"{len(AGGREGATION_METRICS)} aggregations and spans for a fifth of the customers: {ours['seconds']:.2f} s, "
        f"{peak['read_aggregations']:.0f} MB peak ({ours['seconds'] / plain['seconds']:.2f}x), "
        f"{ours['duplicates']:,} duplicates dropped, {ours['uncovered']:,} uncovered events, "
        f"{ours['problems']} problems"
    )
    plain, ours = best["plan_sums"], best["plan_aggregations"]
    print(
        f"plan_period, sum-only ({plain['invoices']:,} invoices): {plain['seconds']:.2f} s, "
        f"{peak['plan_sums']:.0f} MB peak"
    )
    print(
        f"plan_period, subscriptions and every aggregation ({ours['invoices']:,} invoices, {ours['segments']:,} "
        f"segments, {ours['discounted']:,} discounted lines, {ours['warnings']:,} warnings): {ours['seconds']:.2f} s, "
        f"{peak['plan_aggregations']:.0f} MB peak"
    )
    same = best["plan_subscriptions"]
    print(
        f"plan_period, the same subscriptions with every metric summed ({same['invoices']:,} invoices, "
        f"{same['segments']:,} segments): {same['seconds']:.2f} s, {peak['plan_subscriptions']:.0f} MB peak — "
        f"the aggregations alone {ours['seconds'] / same['seconds']:.2f}x, the subscriptions alone "
        f"{same['seconds'] / plain['seconds']:.2f}x"
    )
    ratio = ours["seconds"] / plain["seconds"]
    peak_mb = peak["plan_aggregations"]
    print(f"pricing: {events} events, {ours['seconds']:.2f} s, {peak_mb:.0f} MB peak, {ratio:.2f}x sum-only")
    if args.delete_data:
        shutil.rmtree(data)
    return float(ours["seconds"]), float(peak_mb), ratio


def _sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--events: one or more positive counts, comma-separated")
    return sizes


def _bench_size(args: argparse.Namespace, events: int) -> tuple[float, float, float]:
    from billing_pipeline.billing.usage_out_of_core import ENGINE_MEMORY, FILE_READER_ROWS

    data = _generated("pricing", args, events)
    # Beyond FILE_READER_ROWS plan_period reads the files through DuckDB out of core
    # (usage_out_of_core.py); the file reader alone is not timed there: it would need 0.8 GB per 10^8 rows.
    out_of_core = events > FILE_READER_ROWS
    duck_kind = "duckdb_repeats_first" if out_of_core else "duckdb"
    kinds = (duck_kind, "plan_period") if out_of_core else (duck_kind, "read_usage", "plan_period")
    # Interleaved rounds, best time of each: the machine may be shared, and a slow round
    # says more about the neighbours than about the code.
    runs: dict[str, list[dict[str, float | int]]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind, results in runs.items():
            results.append(_measure(kind, data, args.period))
    duck, ours = (min(runs[kind], key=lambda run: run["seconds"]) for kind in (duck_kind, "plan_period"))
    ours = {**ours, "peak_mb": max(run["peak_mb"] for run in runs["plan_period"])}
    shape = " (repeated ids first: see DUCKDB_QUERIES)" if out_of_core else ""
    print(
        f"duckdb aggregation{shape}: {duck['seconds']:.2f} s, {duck['peak_mb']:.0f} MB peak, "
        f"{duck['events']:,} events kept"
    )
    if out_of_core:
        print(
            f"usage read by plan_period through the engine on an embedded DuckDB (memory_limit {ENGINE_MEMORY}, "
            f"spilling to disk): more than {FILE_READER_ROWS:,} rows, beyond the file reader; "
            f"{ours['duplicates']:,} duplicates dropped"
        )
    else:
        usage = min(runs["read_usage"], key=lambda run: run["seconds"])
        print(
            f"read_usage (load + check + dedupe + aggregate): {usage['seconds']:.2f} s, {usage['peak_mb']:.0f} MB "
            f"peak, {usage['duplicates']:,} duplicates dropped"
        )
    print(
        f"plan_period (everything, {ours['invoices']:,} invoices): {ours['seconds']:.2f} s, "
        f"{ours['peak_mb']:.0f} MB peak"
    )
    ratio = ours["seconds"] / duck["seconds"]
    print(f"pricing: {events} events, {ours['seconds']:.2f} s, {ours['peak_mb']:.0f} MB peak, {ratio:.2f}x duckdb")
    if args.delete_data:
        shutil.rmtree(data)
    return float(ours["seconds"]), float(ours["peak_mb"]), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=_sizes, default=[10_000_000], help="e.g. 10000000,100000000")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best time of each is kept")
    parser.add_argument("--out", type=Path, default=OUT, help="where the data sets are generated (cached)")
    parser.add_argument("--delete-data", action="store_true", help="delete each data set once measured")
    parser.add_argument(
        "--duckdb-memory", help="memory_limit of the plain DuckDB query (default: DuckDB's, 80 %% of the RAM)"
    )
    parser.add_argument(
        "--aggregations", action="store_true", help="measure the six aggregations and spans against plain sums"
    )
    parser.add_argument(
        "--child",
        choices=[
            "plan_period",
            "read_usage",
            "duckdb",
            "read_sum",
            "read_aggregations",
            "plan_sums",
            "plan_aggregations",
            "plan_subscriptions",
            "duckdb_repeats_first",
        ],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", choices=list(_GENERATORS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:  # ``_generated``
        _GENERATORS[args.generate](args.events[0], args.customers, args.seed, args.period, args.out)
        return
    if args.duckdb_memory:
        os.environ["BENCH_DUCKDB_MEMORY"] = args.duckdb_memory  # read by the DuckDB child
    if args.child:
        print(json.dumps(_child(args.child, args.data, args.period)))
        return
    bench = _bench_aggregations if args.aggregations else _bench_size
    baseline = "sum-only" if args.aggregations else "duckdb"
    results = [(events, *bench(args, events)) for events in args.events]
    lines = []
    for (small, small_s, small_mb, _), (large, large_s, large_mb, _) in itertools.pairwise(results):
        lines.append(
            f"scaling {small:,} -> {large:,} events ({large / small:.0f}x): time {large_s / small_s:.1f}x, "
            f"peak memory {large_mb / small_mb:.1f}x"
        )
    for line in lines:
        print(line)
    # the contract's last line(s): one per size, in the order measured
    if len(results) > 1:
        for events, seconds, peak, ratio in results:
            print(f"pricing: {events} events, {seconds:.2f} s, {peak:.0f} MB peak, {ratio:.2f}x {baseline}")


if __name__ == "__main__":
    main()
