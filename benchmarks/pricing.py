"""Pricing benchmark: ``plan_period`` on N Parquet events of one period, against DuckDB.

    python benchmarks/pricing.py [--events 10000000[,100000000]] [--customers 10000] [--seed 42] [--out DIR]

The data set (``billing-pipeline demo-data``, about 0.1 % repeated events) is generated once and
cached under ``--out`` (default ``benchmarks/out/``; 100 M events take ~1 GB: use a scratch folder
and ``--delete-data``). Each measurement runs in its own subprocess so that its peak
resident memory (``ru_maxrss``, which does count Arrow's allocations) is its own:

- ``plan_period``: the whole dry run (read and check customers, price list and every usage
  row, drop duplicates, add up, price every customer) — the time and memory reported;
- ``read_usage``: the usage part alone (read + check + deduplicate + aggregate), for reference;
- DuckDB: the same aggregation in SQL (period filter, duplicate events counted once, sum per
  customer and metric) on the same file, with all its threads. It does less than
  ``plan_period``: no row checks, no pricing.

Runs are interleaved for ``--rounds`` rounds and the best time of each is kept. The last line
is ``pricing: <N> events, <T> s, <M> MB peak, <R>x duckdb`` where T is ``plan_period``'s best
time, M its highest peak over the rounds, and R = T / DuckDB's best time — one such line per size
when ``--events`` lists several (comma-separated), followed by how time and memory grew.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TIME_ZONE = "Europe/Paris"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _child(kind: str, data: Path, period: str) -> dict[str, float | int]:
    if kind == "plan_period":
        from billing_pipeline.billing.planning import plan_period

        started = time.perf_counter()
        plan = plan_period(period, data, timezone=TIME_ZONE)
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "peak_mb": _peak_mb(),
            "invoices": len(plan.invoices),
            "duplicates": plan.usage_stats.duplicate_events,
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
    connection = duckdb.connect()
    rows = connection.execute(
        """
        WITH in_period AS (
            SELECT DISTINCT event_id, customer_id, metric, quantity, "timestamp"
            FROM read_parquet(?) WHERE "timestamp" >= ? AND "timestamp" < ?
        )
        SELECT customer_id, metric, sum(quantity) AS quantity, count(*) AS events
        FROM in_period GROUP BY customer_id, metric
        """,
        [files, start, end],
    ).fetchall()
    seconds = time.perf_counter() - started
    events = sum(row[3] for row in rows)
    return {"seconds": seconds, "peak_mb": _peak_mb(), "invoices": len({row[0] for row in rows}), "events": events}


def _measure(kind: str, data: Path, period: str) -> dict[str, float | int]:
    command = [sys.executable, __file__, "--child", kind, "--data", str(data), "--period", period]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _data_set(events: int, customers: int, seed: int, period: str, out: Path = OUT) -> Path:
    from billing_pipeline.billing.demo import write_demo_data

    folder = out / f"pricing-{period}-{events}e-{customers}c-seed{seed}"
    marker = folder / ".complete"
    if not marker.exists():
        print(f"generating {events:,} events for {customers:,} customers in {folder} …", flush=True)
        write_demo_data(folder, customers=customers, events=events, period=period, seed=seed)
        marker.write_text("ok\n", encoding="utf-8")
    return folder


def _sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--events: one or more positive counts, comma-separated")
    return sizes


def _bench_size(args: argparse.Namespace, events: int) -> tuple[float, float, float]:
    data = _data_set(events, args.customers, args.seed, args.period, args.out)
    # Interleaved rounds, best time of each: the machine may be shared, and a slow round
    # says more about the neighbours than about the code.
    runs: dict[str, list[dict[str, float | int]]] = {"duckdb": [], "read_usage": [], "plan_period": []}
    for _ in range(args.rounds):
        for kind, results in runs.items():
            results.append(_measure(kind, data, args.period))
    duck, usage, ours = (min(results, key=lambda run: run["seconds"]) for results in runs.values())
    ours = {**ours, "peak_mb": max(run["peak_mb"] for run in runs["plan_period"])}
    print(f"duckdb aggregation: {duck['seconds']:.2f} s, {duck['peak_mb']:.0f} MB peak, {duck['events']:,} events kept")
    print(
        f"read_usage (load + check + dedupe + aggregate): {usage['seconds']:.2f} s, {usage['peak_mb']:.0f} MB peak,"
        f" {usage['duplicates']:,} duplicates dropped"
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
    parser.add_argument("--child", choices=["plan_period", "read_usage", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.data, args.period)))
        return
    results = [(events, *_bench_size(args, events)) for events in args.events]
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
            print(f"pricing: {events} events, {seconds:.2f} s, {peak:.0f} MB peak, {ratio:.2f}x duckdb")


if __name__ == "__main__":
    main()
