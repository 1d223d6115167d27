"""Chaos harness: bill several periods against a faulty emulator while SIGKILLing the runs.

Used by ``benchmarks/chaos.py`` (many seeds), ``benchmarks/throughput.py`` (the emulator process) and
the tests (``billing_pipeline_tests/test_chaos.py``, crash tests); it imports nothing from the tests.
Each attempt is the real headless command, ``billing-pipeline bill --period P --wait …``, on the
instance configuration of ``make dev`` (``deploy/dagster.dev.yaml``, ``qonto_writes`` limited to 1,
run monitoring): a run killed inside a Qonto-writing step must not block the next attempt.
Everything is judged from the emulator's own state, not from what the pipeline believes.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO

import httpx

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.dev_instance import prepare_dev_home
from billing_pipeline.facturx import verify_pdf

REPO = Path(__file__).resolve().parents[1]
SELECTION = "billable_usage,qonto_clients,draft_invoices,finalized_invoices"
_REFERENCE = re.compile(r"(BP-\d{4}-\d{2}-\S+)")


@dataclass
class ChaosOutcome:
    seed: int
    runs: int = 0
    kills: int = 0
    duplicates: int = 0
    lost: int = 0
    invalid_files: int = 0
    wrong_amounts: int = 0
    duplicate_clients: int = 0
    duplicate_deliveries: int = 0  # an invoice emailed or submitted twice
    unknown_deliveries: int = 0  # emails whose answer was lost: left to a person, never re-sent (expected)
    rate_limited: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.duplicates
            or self.lost
            or self.invalid_files
            or self.wrong_amounts
            or self.duplicate_clients
            or self.duplicate_deliveries
        )


class EmulatorProcess:
    """``billing-pipeline emulator serve`` in its own process, as users run it."""

    def __init__(
        self,
        state: Path,
        *,
        latency_ms: int,
        fault_rate: float,
        lost_rate: float,
        render_delay: float,
        einvoicing_delay: float = 0.3,
    ):
        command = [
            sys.executable, "-m", "billing_pipeline.cli", "emulator", "serve", "--port", "0",
            "--state", str(state), "--render-delay", str(render_delay), "--latency-ms", str(latency_ms),
            "--fault-rate", str(fault_rate), "--lost-response-rate", str(lost_rate),
            "--einvoicing-delay", str(einvoicing_delay),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.env: dict[str, str] = {}
        assert self.process.stdout is not None
        while len(self.env) < 2:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the emulator exited before printing its address")
            name, _, value = line.strip().partition("=")
            self.env[name] = value
        self.base_url = self.env["QONTO_BASE_URL"]
        # keep draining its output: a full pipe would block the emulator mid-request
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def admin(self, method: str, path: str, **kwargs: object) -> dict:
        response = httpx.request(method, f"{self.base_url}/_emulator/{path}", timeout=30, **kwargs)  # type: ignore[arg-type]
        response.raise_for_status()
        return response.json() if response.content else {}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_materialization(
    env: dict[str, str], select: str, period: str, *, stderr: int | IO[bytes] = subprocess.DEVNULL
) -> subprocess.Popen:
    """``dagster asset materialize`` of ``select`` for ``period`` in its own process group (killable)."""
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "billing_pipeline.definitions",
               "--select", select, "--partition", period]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)


def start_bill(
    env: dict[str, str],
    period: str,
    *,
    wait_s: float = 0,
    cwd: Path | None = None,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
    stderr: int | IO[bytes] = subprocess.DEVNULL,
) -> subprocess.Popen:
    """``billing-pipeline bill --period P --wait S --format json`` in its own process group (killable)."""
    command = [sys.executable, "-m", "billing_pipeline.cli", "bill", "--period", period, "--wait", str(wait_s),
               "--format", "json"]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=stdout, stderr=stderr, start_new_session=True)


def wait_or_kill(process: subprocess.Popen, timeout_s: float) -> int | None:
    """The exit status, or None after SIGKILLing the process group once ``timeout_s`` has passed."""
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        return None


def _kill_after_calls(process: subprocess.Popen, emulator: EmulatorProcess, calls: int, timeout_s: float) -> bool:
    target = emulator.admin("GET", "stats")["api_requests"] + calls
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if emulator.admin("GET", "stats")["api_requests"] >= target:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
            return True
        time.sleep(0.005)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        return True
    return False


def run_seed(
    seed: int,
    workdir: Path,
    *,
    periods: tuple[str, ...] = ("2026-09", "2026-10"),
    fault_rate: float = 0.05,
    lost_rate: float = 0.02,
    latency_ms: int = 15,
    max_attempts: int = 10,
    attempt_timeout_s: float = 300,
) -> ChaosOutcome:
    rng = random.Random(seed)
    outcome = ChaosOutcome(seed=seed)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    if not data_dir.exists():
        shutil.copytree(REPO / "data", data_dir, ignore=shutil.ignore_patterns("invoices"))
    emulator = EmulatorProcess(
        workdir / "emulator.sqlite",
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        lost_rate=lost_rate,
        render_delay=0.3,
    )
    try:
        home = prepare_dev_home(workdir / "dagster_home")  # what `make dev` sets up
        env = {
            **os.environ,
            **emulator.env,
            "BILLING_DATA_DIR": str(data_dir),
            "BILLING_STATE_DIR": str(workdir / "state"),
            "BILLING_INVOICES_DIR": str(workdir / "invoices"),
            "DAGSTER_HOME": str(home),
            # creates never take seconds in the emulator: a short grace keeps re-runs quick
            "BILLING_IN_FLIGHT_GRACE_S": "3",
        }
        plans = {p: plan_period(p, data_dir) for p in periods}
        for period in periods:
            expected_calls = 4 * len(plans[period].invoices) + 10
            for attempt in range(max_attempts):
                # a burst of 429s, as when another job shares the IP: a few in a row, fewer than the
                # client's retry budget; whatever a killed run left unconsumed is cleared first
                emulator.admin("DELETE", "faults")
                if rng.random() < 0.3:
                    burst = {"kind": "rate_limited", "method": "*", "path_regex": "^/v2/", "count": rng.randint(2, 5)}
                    emulator.admin("POST", "faults", json=burst)
                outcome.runs += 1
                log_path = workdir / f"run-{outcome.runs}.log"
                with log_path.open("wb") as log:
                    process = start_bill(env, period, wait_s=60, stderr=log)
                if attempt < 3 and rng.random() < 0.75:
                    if _kill_after_calls(process, emulator, rng.randint(1, expected_calls), timeout_s=180):
                        outcome.kills += 1
                        continue
                status = wait_or_kill(process, attempt_timeout_s)
                # done when every file is stored and every delivery settled (an unknown email is
                # settled by a person, never by another run: bill exits 1 for it, by design)
                if status in (0, 1) and _all_stored(workdir, period, plans) and _deliveries_settled(workdir, period):
                    break
                if status is None:  # a run blocked for good (e.g. by the pool slot of a dead run)
                    outcome.notes.append(f"{period}: attempt {attempt + 1} still running after {attempt_timeout_s} s")
            else:
                outcome.notes.append(f"{period}: not billed after {max_attempts} attempts; last run: {_why(log_path)}")
        _judge(outcome, emulator, plans, workdir)
        outcome.rate_limited = emulator.admin("GET", "stats")["rate_limited"]
    finally:
        emulator.stop()
    return outcome


def _why(log_path: Path) -> str:
    """The lines of a failed run's log that say why it failed."""
    lines = log_path.read_text(errors="replace").splitlines()
    telling = [line for line in lines if "Error" in line or "STEP_FAILURE" in line or "Failure" in line]
    return " | ".join(telling[-6:])[-2000:]


def _all_stored(workdir: Path, period: str, plans: dict) -> bool:
    folder = workdir / "invoices" / period
    return folder.exists() and len(list(folder.glob("*.pdf"))) >= len(plans[period].invoices)


def _deliveries_settled(workdir: Path, period: str) -> bool:
    from billing_pipeline.invoicing.delivery.records import DONE, DeliveryState
    from billing_pipeline.invoicing.ledger import InvoiceState, Ledger

    ledger = Ledger(f"sqlite:///{workdir / 'state' / 'ledger.sqlite'}")
    try:
        deliveries = {d.invoice_id: d.state for d in ledger.deliveries(period)}
        stored = [r.invoice_id for r in ledger.invoices(period) if r.state == InvoiceState.STORED]
    finally:
        ledger.dispose()
    return all(deliveries.get(i) in DONE | {DeliveryState.UNKNOWN} for i in stored)


def _judge(outcome: ChaosOutcome, emulator: EmulatorProcess, plans: dict, workdir: Path) -> None:
    state = emulator.admin("GET", "state")
    emails = Counter(e["invoice_id"] for e in state.get("sent_emails", []))
    submissions = Counter(s["invoice_id"] for s in state.get("einvoice_submissions", []))
    outcome.duplicate_deliveries = sum(n - 1 for n in (emails + submissions).values() if n > 1)
    outcome.duplicate_deliveries += sum(1 for i in emails if i in submissions)  # both channels
    from billing_pipeline.invoicing.delivery.records import DeliveryState
    from billing_pipeline.invoicing.ledger import Ledger

    ledger = Ledger(f"sqlite:///{workdir / 'state' / 'ledger.sqlite'}")
    try:
        outcome.unknown_deliveries = len(ledger.deliveries(states={DeliveryState.UNKNOWN}))
    finally:
        ledger.dispose()
    live = [i for i in state["client_invoices"] if i["status"] != "canceled"]
    by_reference = Counter(_reference(i) for i in live)
    outcome.duplicates = sum(n - 1 for n in by_reference.values() if n > 1)
    keys = Counter((c.get("email", "").lower(), c.get("tax_identification_number")) for c in state["clients"])
    outcome.duplicate_clients = sum(n - 1 for n in keys.values() if n > 1)
    totals = {}
    for invoice in live:
        totals.setdefault(_reference(invoice), Decimal(invoice["total_amount"]["value"]))
    for period, plan in plans.items():
        for planned in plan.invoices:
            reference = f"BP-{period}-{planned.customer.customer_id}"
            if reference not in by_reference:
                outcome.lost += 1
            elif totals[reference] != planned.total:
                outcome.wrong_amounts += 1
        numbers = {i["number"] for i in live if _reference(i).startswith(f"BP-{period}-") and i["number"]}
        folder = workdir / "invoices" / period
        stored = {p.stem: p for p in folder.glob("*.pdf")} if folder.exists() else {}
        for number in numbers:
            path = next((p for stem, p in stored.items() if stem == re.sub(r"[^A-Za-z0-9._-]+", "_", number)), None)
            if path is None or not verify_pdf(path.read_bytes()).valid:
                outcome.invalid_files += 1


def _reference(invoice: dict) -> str:
    match = _REFERENCE.search(invoice.get("header") or "")
    return match.group(1) if match else f"unreferenced:{invoice['id']}"


def summary_line(outcomes: list[ChaosOutcome]) -> str:
    return (
        f"chaos: {sum(o.runs for o in outcomes)} runs, "
        f"{sum(o.duplicates + o.duplicate_clients + o.duplicate_deliveries for o in outcomes)} "
        f"duplicates, {sum(o.lost for o in outcomes)} lost, {sum(o.invalid_files for o in outcomes)} invalid files"
    )


def as_json(outcome: ChaosOutcome) -> str:
    return json.dumps(outcome.__dict__, default=str)
