"""The file reader against the usage engine on DuckDB, on the same Parquet files.

    python benchmarks/engine.py [--events 10000000] [--customers 10000] [--aggregations] [--rounds 2]

Same data sets as ``pricing.py`` (generated once, cached under ``--out``). Each measurement runs in
its own subprocess (its peak resident memory is its own):

- ``files``: ``read_usage`` on ``usage/`` (read + check + deduplicate + aggregate, in this process);
- ``engine``: ``SqlUsageSource("duckdb://", table="<usage>/*.parquet").read(...)`` (with
  ``--engine-memory 1GB``: ``duckdb://?memory_limit=1GB``, spilling beyond — the comparison at equal
  memory): the one ibis
  aggregation (``billing/engine_plan.py``) run by an embedded DuckDB on the files in place, the
  doubtful groups (if any) fetched and checked by the file reader.

``--aggregations``: the six-metric data set, with subscription spans for a fifth of the customers.
Both must give the same quantities (checked). The last line is ``engine: <N> events, files <T1> s
<M1> MB, duckdb <T2> s <M2> MB, <R>x`` with R = files time / engine time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pricing import (  # the sibling benchmark, found through the path above
    AGGREGATION_METRICS,
    OUT,
    TIME_ZONE,
    _aggregation_data_set,
    _data_set,
    _peak_mb,
    _spans,
)


def _child(kind: str, data: Path, period: str, aggregations: bool) -> dict:
    from zoneinfo import ZoneInfo

    from billing_pipeline.billing.periods import BillingPeriod
    from billing_pipeline.billing.sql_usage import SqlUsageSource
    from billing_pipeline.billing.usage import read_usage

    customers = sum(1 for _ in (data / "customers.csv").open(encoding="utf-8")) - 1
    options = {"aggregations": AGGREGATION_METRICS, "spans": _spans(customers, period)} if aggregations else {}
    started = time.perf_counter()
    if kind == "files":
        usage = read_usage(data / "usage", period, TIME_ZONE, **options)
    else:
        # --engine-memory: DuckDB's memory_limit, to compare at equal memory (it spills beyond)
        limit = os.environ.get("BENCH_ENGINE_MEMORY")
        url = f"duckdb://?memory_limit={limit}&temp_directory={data.parent / '.engine-spill'}" if limit else "duckdb://"
        source = SqlUsageSource(url, table=f"{data / 'usage'}/*.parquet")
        usage = source.read(
            BillingPeriod.parse(period), ZoneInfo(TIME_ZONE), customers=None, metrics=None, **options
        )
    seconds = time.perf_counter() - started
    digest = json.dumps(
        [sorted((c, sorted((m, str(v.normalize())) for m, v in q.items())) for c, q in usage.quantities.items()),
         sorted((c, [sorted((m, str(v.normalize())) for m, v in span.items()) for span in spans])
                for c, spans in usage.span_quantities.items())],
    )  # fmt: skip
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "duplicates": usage.duplicate_events,
        "problems": len(usage.problems),
        "digest": hash(digest),
        "equal_check": digest if len(digest) < 50_000_000 else "",
    }


def _measure(kind: str, data: Path, period: str, aggregations: bool) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--data", str(data), "--period", period]
    command += ["--aggregations"] if aggregations else []
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--aggregations", action="store_true")
    parser.add_argument("--engine-memory", help="DuckDB's memory_limit for the engine, e.g. 1GB (default: DuckDB's)")
    parser.add_argument("--child", choices=["files", "engine"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_memory:
        os.environ["BENCH_ENGINE_MEMORY"] = args.engine_memory  # read by the engine's child
    if args.child:
        print(json.dumps(_child(args.child, args.data, args.period, args.aggregations)))
        return
    make = _aggregation_data_set if args.aggregations else _data_set
    data = make(args.events, args.customers, args.seed, args.period, args.out)
    runs: dict[str, list[dict]] = {"files": [], "engine": []}
    for _ in range(args.rounds):
        for kind, results in runs.items():
            results.append(_measure(kind, data, args.period, args.aggregations))
    files, engine = (min(results, key=lambda run: run["seconds"]) for results in runs.values())
    same = files["equal_check"] == engine["equal_check"] and files["duplicates"] == engine["duplicates"]
    for kind, run in (("read_usage", files), ("engine on duckdb", engine)):
        peak = max(item["peak_mb"] for item in runs["files" if kind == "read_usage" else "engine"])
        print(f"{kind}: {run['seconds']:.2f} s, {peak:.0f} MB peak, {run['duplicates']:,} duplicates, "
              f"{run['problems']} problems")  # fmt: skip
    print(f"same quantities and duplicates: {same}")
    files_peak = max(item["peak_mb"] for item in runs["files"])
    engine_peak = max(item["peak_mb"] for item in runs["engine"])
    print(
        f"engine: {args.events} events, files {files['seconds']:.2f} s {files_peak:.0f} MB, "
        f"duckdb {engine['seconds']:.2f} s {engine_peak:.0f} MB, {files['seconds'] / engine['seconds']:.2f}x"
    )


if __name__ == "__main__":
    main()
