"""End to end through Dagster: ``billing-pipeline bill`` on N synthetic customers at Qonto's limits.

What a user runs, as a user runs it: the real CLI in its own process, from a fresh folder without
``DAGSTER_HOME`` (so ``bill`` sets up ``./.dagster_home`` like ``make dev``, pools and run monitoring
included), the same definitions, the same collection path as the attachment sensor; against the
emulator in its own process with Qonto's rate limits (1,000 requests / 10 s, 10,000 / 10 min) and
80 ms added latency. Everything is measured: clients found or created, drafts, finalization with
the files collected as they render, the rest of the files, delivery.

    python benchmarks/end_to_end.py --invoices 2000

Two passes by default, on the same emulator and Dagster instance: the month before the period with
new customers (each client created), then the period itself with the same customers, now returning
(their clients exist). Each pass prints its phases (Dagster step times from the instance), where
the CPU went (the emulator's share is Qonto's servers' work, on our cores here) and its requests per
endpoint and invoice; the last line is the last pass's
``end-to-end: <N> invoices in <T> s, <X> invoices/min, <Y> calls/invoice, <Z> of ceiling``
(``--customers new``: one pass, new customers, as before).
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
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chaos_harness import EmulatorProcess
from benchmarks.throughput import ceiling_calls, limits_line
from benchmarks.traffic_report import breakdown_line
from billing_pipeline.billing.demo import write_demo_data
from billing_pipeline.billing.periods import BillingPeriod


def last_closed_period(today: date) -> str:
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def demo_data(out: Path, customers: int, period: str) -> None:
    write_demo_data(out, customers=customers, events=customers * 20, period=period)


def step_phases(dagster_home: Path, since: float = 0.0) -> list[tuple[str, str, float, float]]:
    """(run's job, step, start, end) of every step ``bill`` ran since ``since``, from its instance."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        steps = []
        for run in instance.get_runs():
            for stat in instance.get_run_step_stats(run.run_id):
                if stat.start_time is not None and stat.end_time is not None and stat.start_time >= since:
                    steps.append((run.job_name, stat.step_key, stat.start_time, stat.end_time))
    return sorted(steps, key=lambda step: step[2])


@dataclass
class Pass:
    label: str
    period: str
    elapsed: float
    result: dict[str, Any]
    returncode: int
    stderr: str
    before: dict[str, Any]
    after: dict[str, Any]
    emulator_cpu: float
    bill_cpu: float
    steps: list[tuple[str, str, float, float]]


def bill_pass(label: str, period: str, emulator: EmulatorProcess, env: dict[str, str], workdir: Path,
              timeout: float) -> Pass:  # fmt: skip
    """One ``billing-pipeline bill --period`` as a user runs it, with the emulator's counters around it."""
    before = emulator.admin("GET", "stats")
    emulator_cpu = process_cpu_s(emulator.process.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-m", "billing_pipeline.cli", "bill", "--period", period,
               "--wait", str(timeout), "--format", "json"]  # fmt: skip
    since = time.time()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = emulator.admin("GET", "stats")
    emulator_cpu = process_cpu_s(emulator.process.pid) - emulator_cpu
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    bill_cpu = (usage.ru_utime - children.ru_utime) + (usage.ru_stime - children.ru_stime)
    result = json.loads(done.stdout) if done.stdout.strip() else {}
    steps = step_phases(workdir / ".dagster_home", since) if result else []
    return Pass(label, period, elapsed, result, done.returncode, done.stderr, before, after, emulator_cpu,
                bill_cpu, steps)  # fmt: skip


def report(run: Pass, invoices: int) -> str | None:
    """Print the pass's figures; returns its contract line, or None (and says why) when it failed."""
    if not run.result:
        print(run.stderr[-4000:], file=sys.stderr)
        print(f"error: bill exited {run.returncode} without a result ({run.label})", file=sys.stderr)
        return None
    rows = run.result["invoices"]
    stored = sum(1 for row in rows if row["status"] == "stored")
    delivered = sum(1 for row in rows if (row.get("delivery") or {}).get("status") in ("sent", "received"))
    print(f"[{run.label}, {run.period}] bill: exit {run.returncode}, {len(rows)} invoices, {stored} files stored, "
          f"{delivered} delivered")  # fmt: skip
    if run.returncode != 0 or stored != invoices:
        log = Path(tempfile.gettempdir()) / "end-to-end-bill.log"
        log.write_text(run.stderr, encoding="utf-8")
        print(run.stderr[-4000:], file=sys.stderr)
        print(f"error: {stored} of {invoices} invoices billed end to end (bill's log: {log})", file=sys.stderr)
        return None
    in_steps = sum(end - start for _, _, start, end in run.steps)
    print("phases: " + ", ".join(f"{job}/{step} {end - start:.1f} s" for job, step, start, end in run.steps))
    print(f"outside steps (start-up, pricing check, run set-up, waits): {run.elapsed - in_steps:.1f} s")
    cores = os.cpu_count() or 1
    print(
        f"cpu: emulator {run.emulator_cpu:.0f} s (Qonto's side: serving, rendering PDFs), bill {run.bill_cpu:.0f} s "
        f"(verification, Dagster); {cores} cores x {run.elapsed:.0f} s = {cores * run.elapsed:.0f} s available"
    )
    print(breakdown_line(f"calls ({run.label})", run.before, run.after, stored))
    calls = run.after["api_requests"] - run.before["api_requests"]
    print(limits_line(calls, run.elapsed))
    return (
        f"{stored} invoices in {run.elapsed:.1f} s, {stored / run.elapsed * 60:.0f} invoices/min, "
        f"{calls / stored:.2f} calls/invoice, {calls / ceiling_calls(run.elapsed):.2f} of ceiling"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=2000, help="synthetic customers, one invoice each")
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--render-delay", type=float, default=10.0, help="seconds Qonto takes to render a Factur-X")
    parser.add_argument("--period", default=None, help="YYYY-MM (default: the last closed month)")
    parser.add_argument("--customers", choices=("both", "new"), default="both",
                        help="both: the month before, new customers; then the period, returning")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    period = args.period or last_closed_period(date.today())
    periods = [period]
    if args.customers == "both":
        periods.insert(0, BillingPeriod.parse(period).previous().key)
    with tempfile.TemporaryDirectory(prefix="end-to-end-") as work:
        workdir = Path(work)
        for key in periods:  # same customers (same seed) every month: the second month they are returning
            demo_data(workdir / "data", args.invoices, key)
        print(f"data: {args.invoices} customers, {args.invoices * 20} usage events in each of {', '.join(periods)}")
        emulator = EmulatorProcess(workdir / "emulator.sqlite", latency_ms=args.latency_ms, fault_rate=0,
                                   lost_rate=0, render_delay=args.render_delay)  # fmt: skip
        lines: list[tuple[str, str | None]] = []
        try:
            env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
            env |= {
                **emulator.env,
                "BILLING_DATA_DIR": str(workdir / "data"),
                "BILLING_STATE_DIR": str(workdir / "state"),
                "BILLING_INVOICES_DIR": str(workdir / "invoices"),
            }
            for index, key in enumerate(periods):
                label = "new customers" if index == 0 else "returning customers"
                if index:
                    # a month later both rate windows are idle again, Qonto's and our client's own log
                    emulator.admin("POST", "reset", json={"scope": "traffic"})
                    (workdir / "state" / "qonto-rate-limit.sqlite").unlink(missing_ok=True)
                line = report(bill_pass(label, key, emulator, env, workdir, args.timeout), args.invoices)
                lines.append((label, line))
                if line is None:
                    return 1
        finally:
            emulator.stop()
        for label, line in lines:  # the passes side by side; the contract line is the last pass's
            print(f"{label}: {line}")
        print(f"end-to-end: {lines[-1][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
