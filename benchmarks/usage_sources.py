"""Usage read from a table: this checkout's engine against another checkout's reader, same tables.

    python benchmarks/usage_sources.py [--rows 5000,200000] [--baseline ../main] [--duckdb-rows 10000000]
                                       [--postgres-url URL] [--rounds 3] [--out DIR]

The events are ``billing-pipeline demo-data``'s (1,000 customers, about 0.1 % repeated events, one
month), written once per size to:

- PostgreSQL: ``usage_typed_<n>`` (``timestamptz``, ``numeric``) and ``usage_text_<n>`` (ISO 8601
  text, decimal text), each with an index on ``timestamp``; on ``--postgres-url`` or on a throw-away
  server started here from Debian's binaries (as the tests do);
- SQLite: ``<out>/usage_<n>.sqlite`` (text, as SQLite stores it);
- ``--duckdb-rows``: ``<out>/usage_<n>.duckdb`` (``TIMESTAMPTZ``, ``BIGINT``; 10,000 customers),
  read by the engine and by one plain DuckDB query doing the same sum (period filter, exact
  duplicates counted once, GROUP BY customer and metric).

Each measurement is a subprocess running ``SqlUsageSource(url, table).read(...)`` ``--rounds``
times with the code of one checkout (``PYTHONPATH``), its modules imported first, as the pipeline
has them: the first read (what a one-read process pays: connecting, and what the read loads on
first use — the engine's ibis and its backend) and the best of the others are reported, each the
best over ``--processes`` subprocesses, run in turn for both checkouts (the machine's load varies).
``--baseline`` names the checkout to compare with (main's ``sql_pushdown.py``); both must give the
same quantities (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out" / "usage_sources"
PERIOD = "2026-10"
TIME_ZONE = "Europe/Paris"


def _child(url: str, table: str, rounds: int, plain_sql: bool) -> dict:
    """Run in a subprocess: ``rounds`` reads, their times and what they found."""
    from zoneinfo import ZoneInfo

    import billing_pipeline
    import billing_pipeline.billing.sql_usage  # imported before the clock starts, as by the pipeline
    from billing_pipeline.billing.periods import BillingPeriod

    period, zone = BillingPeriod.parse(PERIOD), ZoneInfo(TIME_ZONE)
    times, found = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        found = _plain_duckdb(url, period, zone) if plain_sql else _read(url, table, period, zone)
        times.append(time.perf_counter() - started)
    return {"code": str(Path(billing_pipeline.__file__).parents[1]), "times": times, "found": found}


def _read(url: str, table: str, period: object, zone: object) -> dict:
    from billing_pipeline.billing.sql_usage import SqlUsageSource

    usage = SqlUsageSource(url, table=table).read(period, zone, customers=None, metrics=None)  # type: ignore[arg-type]
    totals = {f"{c}/{m}": f"{v.normalize():f}" for c, q in usage.quantities.items() for m, v in q.items()}
    return {
        "totals": totals,
        "rows": usage.rows_in_period,
        "repeats": usage.duplicate_events,
        "problems": len(usage.problems),
    }


def _plain_duckdb(url: str, period: object, zone: object) -> dict:
    import duckdb

    connection = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
    rows = connection.execute(
        """
        WITH in_period AS (
            SELECT DISTINCT event_id, customer_id, metric, quantity, "timestamp"
            FROM usage_events WHERE "timestamp" >= ? AND "timestamp" < ?
        )
        SELECT customer_id, metric, sum(quantity), count(*) FROM in_period GROUP BY customer_id, metric
        """,
        [period.start(zone), period.end(zone)],  # type: ignore[attr-defined]
    ).fetchall()
    connection.close()
    totals = {f"{c}/{m}": str(int(q)) for c, m, q, _ in rows}
    return {"totals": totals, "rows": sum(row[3] for row in rows), "repeats": None, "problems": 0}


def _measure(code: Path, url: str, table: str, rounds: int, plain_sql: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", "--url", url, "--table", table, "--rounds", str(rounds)]
    command += ["--plain-sql"] if plain_sql else []
    environment = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=environment)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the data ----------------------------------------------------------------------------------------


def _events(rows: int, customers: int) -> object:
    import pyarrow as pa

    from billing_pipeline.billing.demo import demo_events
    from billing_pipeline.billing.periods import BillingPeriod

    table, _ = demo_events(customers, rows, BillingPeriod.parse(PERIOD), seed=42)
    return table.set_column(1, "customer_id", table["customer_id"].cast(pa.string())).set_column(
        2, "metric", table["metric"].cast(pa.string())
    )


def _iso(moment: object) -> str:
    return moment.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


def _postgres_tables(url: str, rows: int) -> dict[str, str]:
    import psycopg

    events = _events(rows, 1_000).to_pylist()  # type: ignore[attr-defined]
    tables = {}
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as connection:
        for kind, moment, amount in (("typed", "timestamptz", "numeric"), ("text", "text", "text")):
            name = f"usage_{kind}_{rows}"
            connection.execute(f"DROP TABLE IF EXISTS {name}")
            connection.execute(
                f"CREATE TABLE {name} (event_id text, customer_id text, metric text, quantity {amount}, "
                f'"timestamp" {moment})'
            )
            with connection.cursor().copy(f"COPY {name} FROM STDIN") as copy:
                for event in events:
                    instant = event["timestamp"] if kind == "typed" else _iso(event["timestamp"])
                    copy.write_row(
                        (event["event_id"], event["customer_id"], event["metric"], str(event["quantity"]), instant)
                    )
            connection.execute(f'CREATE INDEX ON {name} ("timestamp")')
            connection.execute(f"ANALYZE {name}")
            tables[f"postgresql {moment}"] = name
    return tables


def _sqlite_file(out: Path, rows: int) -> str:
    import sqlite3

    path = out / f"usage_{rows}.sqlite"
    if not path.exists():
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE usage_events (event_id, customer_id, metric, quantity, timestamp)")
        connection.executemany(
            "INSERT INTO usage_events VALUES (?, ?, ?, ?, ?)",
            ((e["event_id"], e["customer_id"], e["metric"], str(e["quantity"]), _iso(e["timestamp"]))
             for e in _events(rows, 1_000).to_pylist()),  # type: ignore[attr-defined]
        )  # fmt: skip
        connection.execute("CREATE INDEX usage_time ON usage_events (timestamp)")
        connection.commit()
        connection.close()
    return f"sqlite:///{path}"


def _duckdb_file(out: Path, rows: int) -> str:
    import duckdb

    path = out / f"usage_{rows}.duckdb"
    if not path.exists():
        started = time.perf_counter()
        events = _events(rows, 10_000)  # noqa: F841 - read by DuckDB's replacement scan
        with duckdb.connect(str(path)) as connection:
            connection.execute("CREATE TABLE usage_events AS SELECT * FROM events")
        print(f"built {path} in {time.perf_counter() - started:.1f} s", flush=True)
    return f"duckdb:///{path}"


def _postgres_server() -> tuple[str, object]:
    sys.path.insert(0, str(REPO))
    from billing_pipeline_tests.postgres.server import start_server

    server = start_server()
    server.create_database("usage")
    return server.url("usage"), server


# -- the comparison -----------------------------------------------------------------------------------


def _best(runs: list[dict]) -> tuple[float, float]:
    """(best steady read, best first read) over the subprocesses of one checkout."""
    return min(min(run["times"][1:] or run["times"]) for run in runs), min(run["times"][0] for run in runs)


def _compare(label: str, url: str, table: str, args: argparse.Namespace) -> None:
    """``--processes`` subprocesses per checkout, interleaved (the machine's load changes)."""
    checkouts = [REPO] + ([args.baseline] if args.baseline is not None else [])
    runs: dict[Path, list[dict]] = {code: [] for code in checkouts}
    for _ in range(args.processes):
        for code in checkouts:
            runs[code].append(_measure(code, url, table, args.rounds))
    engine, engine_first = _best(runs[REPO])
    line = f"{label}: engine {engine:.3f} s (first read {engine_first:.3f} s)"
    if args.baseline is not None:
        base, base_first = _best(runs[args.baseline])
        same = all(run["found"] == runs[REPO][0]["found"] for code in checkouts for run in runs[code])
        line += (
            f", baseline {base:.3f} s (first read {base_first:.3f} s): {engine / base:.2f}x "
            f"(first reads {engine_first / base_first:.2f}x), same results: {same}"
        )
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="5000,200000")
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with (e.g. main's)")
    parser.add_argument("--duckdb-rows", type=int, default=0)
    parser.add_argument("--postgres-url")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="reads per subprocess")
    parser.add_argument("--processes", type=int, default=2, help="subprocesses per checkout and table")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plain-sql", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--table", default="usage_events", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.url, args.table, args.rounds, args.plain_sql)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    server = None
    postgres_url = args.postgres_url
    if postgres_url is None and not args.no_postgres:
        postgres_url, server = _postgres_server()
    try:
        for rows in (int(size) for size in args.rows.split(",") if size):
            if postgres_url:
                for label, table in _postgres_tables(postgres_url, rows).items():
                    _compare(f"{label}, {rows:,} rows", postgres_url, table, args)
            _compare(f"sqlite text, {rows:,} rows", _sqlite_file(args.out, rows), "usage_events", args)
        if args.duckdb_rows:
            url = _duckdb_file(args.out, args.duckdb_rows)
            engine, plain = [], []
            for _ in range(args.processes):
                engine.append(_measure(REPO, url, "usage_events", args.rounds))
                plain.append(_measure(REPO, url, "usage_events", args.rounds, plain_sql=True))
            same = engine[0]["found"]["totals"] == plain[0]["found"]["totals"]
            best_engine = min(min(run["times"]) for run in engine)
            best_plain = min(min(run["times"]) for run in plain)
            print(
                f"duckdb file, {args.duckdb_rows:,} rows: engine {best_engine:.2f} s, plain DuckDB GROUP BY "
                f"{best_plain:.2f} s, {best_engine / best_plain:.2f}x, same sums: {same}",
                flush=True,
            )
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
            server.remove()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
