"""End to end through Dagster: ``billing-pipeline bill`` on N synthetic customers at Qonto's limits.

What a user runs, as a user runs it: the real CLI in its own process, from a fresh folder without
``DAGSTER_HOME`` (so ``bill`` sets up ``./.dagster_home`` like ``make dev``, pools and run monitoring
included), the same definitions, the same collection path as the attachment sensor; against the
emulator in its own process with Qonto's rate limits (1,000 requests / 10 s, 10,000 / 10 min) and
80 ms added latency. Everything is measured: clients found or created, drafts, finalization with
the files collected as they render, the rest of the files, delivery.

    python benchmarks/end_to_end.py --invoices 2000

Prints the phases (Dagster step times from the instance), where the CPU went (the emulator's share
is Qonto's servers' work, on our cores here), then the last line
``end-to-end: <N> invoices in <T> s, <X> invoices/min, <Y> calls/invoice, <Z> of ceiling``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chaos_harness import EmulatorProcess
from benchmarks.throughput import ceiling_calls
from billing_pipeline.billing.demo import write_demo_data


def last_closed_period(today: date) -> str:
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def step_phases(dagster_home: Path) -> list[tuple[str, str, float, float]]:
    """(run's job, step, start, end) of every step ``bill`` ran, from the instance it used."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        steps = []
        for run in instance.get_runs():
            for stat in instance.get_run_step_stats(run.run_id):
                if stat.start_time is not None and stat.end_time is not None:
                    steps.append((run.job_name, stat.step_key, stat.start_time, stat.end_time))
    return sorted(steps, key=lambda step: step[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=2000, help="synthetic customers, one invoice each")
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--render-delay", type=float, default=10.0, help="seconds Qonto takes to render a Factur-X")
    parser.add_argument("--period", default=None, help="YYYY-MM (default: the last closed month)")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    period = args.period or last_closed_period(date.today())
    with tempfile.TemporaryDirectory(prefix="end-to-end-") as work:
        workdir = Path(work)
        data = write_demo_data(workdir / "data", customers=args.invoices, events=args.invoices * 20, period=period)
        print(f"data: {args.invoices} customers, {args.invoices * 20} usage events of {period} ({data!r:.80})")
        emulator = EmulatorProcess(workdir / "emulator.sqlite", latency_ms=args.latency_ms, fault_rate=0,
                                   lost_rate=0, render_delay=args.render_delay)  # fmt: skip
        try:
            env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
            env |= {
                **emulator.env,
                "BILLING_DATA_DIR": str(workdir / "data"),
                "BILLING_STATE_DIR": str(workdir / "state"),
                "BILLING_INVOICES_DIR": str(workdir / "invoices"),
            }
            before = emulator.admin("GET", "stats")
            emulator_cpu = process_cpu_s(emulator.process.pid)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            command = [sys.executable, "-m", "billing_pipeline.cli", "bill", "--period", period,
                       "--wait", str(args.timeout), "--format", "json"]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, check=False)
            elapsed = time.perf_counter() - started
            after = emulator.admin("GET", "stats")
            emulator_cpu = process_cpu_s(emulator.process.pid) - emulator_cpu
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            bill_cpu = (usage.ru_utime - children.ru_utime) + (usage.ru_stime - children.ru_stime)
        finally:
            emulator.stop()
        if not done.stdout.strip():
            print(done.stderr[-4000:], file=sys.stderr)
            print(f"error: bill exited {done.returncode} without a result", file=sys.stderr)
            return 1
        result = json.loads(done.stdout)
        rows = result["invoices"]
        stored = sum(1 for row in rows if row["status"] == "stored")
        delivered = sum(1 for row in rows if (row.get("delivery") or {}).get("status") in ("sent", "received"))
        calls = after["api_requests"] - before["api_requests"]
        limited = after["rate_limited"] - before["rate_limited"]
        print(f"bill: exit {done.returncode}, {len(rows)} invoices, {stored} files stored, {delivered} delivered")
        if done.returncode != 0 or stored != args.invoices:
            log = Path(tempfile.gettempdir()) / "end-to-end-bill.log"
            log.write_text(done.stderr, encoding="utf-8")
            print(done.stderr[-4000:], file=sys.stderr)
            print(f"error: {stored} of {args.invoices} invoices billed end to end (bill's log: {log})", file=sys.stderr)
            return 1
        steps = step_phases(workdir / ".dagster_home")
        in_steps = sum(end - start for _, _, start, end in steps)
        print("phases: " + ", ".join(f"{job}/{step} {end - start:.1f} s" for job, step, start, end in steps))
        print(f"outside steps (start-up, pricing check, run set-up, waits): {elapsed - in_steps:.1f} s")
        cores = os.cpu_count() or 1
        print(
            f"cpu: emulator {emulator_cpu:.0f} s (Qonto's side: serving, rendering PDFs), bill {bill_cpu:.0f} s "
            f"(verification, Dagster); {cores} cores x {elapsed:.0f} s = {cores * elapsed:.0f} s available"
        )
        by_route = {
            route: count - before["requests"].get(route, 0)
            for route, count in after["requests"].items()
            if count > before["requests"].get(route, 0)
        }
        print(f"calls: {calls} API requests, {limited} answered 429; per invoice: " + ", ".join(
            f"{route} {count / stored:.2f}" for route, count in sorted(by_route.items(), key=lambda rc: -rc[1])
        ))  # fmt: skip
        per_minute = stored / elapsed * 60
        calls_per_invoice = calls / stored
        ratio = calls / ceiling_calls(elapsed)
        print(
            f"end-to-end: {stored} invoices in {elapsed:.1f} s, {per_minute:.0f} invoices/min, "
            f"{calls_per_invoice:.2f} calls/invoice, {ratio:.2f} of ceiling"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
