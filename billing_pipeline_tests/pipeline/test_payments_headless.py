"""``billing-pipeline payments`` as a real subprocess without DAGSTER_HOME, and SIGKILLed mid-run:
between the ledger's record of a counted transfer and Qonto's answer to ``mark_as_paid``."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.payments_world import bill, invoices_by_id, paris_day, settled_days_ago, total

NOT_INHERITED = ("QONTO_", "BILLING_", "DAGSTER_HOME")
PAYMENTS = [sys.executable, "-m", "billing_pipeline.cli", "payments", "--format", "json"]


def _environment(world: PipelineWorld) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    return {**inherited, **world.environment()}


def _payments(world: PipelineWorld, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(PAYMENTS, env=_environment(world), cwd=cwd, capture_output=True, text=True, timeout=300)


def _markings(world: PipelineWorld) -> list[tuple[str, str]]:
    path = world.state_dir / "ledger.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as connection:
        try:
            return connection.execute("SELECT invoice_number, state FROM payment_markings").fetchall()
        except sqlite3.OperationalError:  # the table is not created yet
            return []


def _allocations(world: PipelineWorld) -> int:
    with sqlite3.connect(world.state_dir / "ledger.sqlite", timeout=30) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM payment_allocations").fetchone()[0])


def _cli_transfer(world: PipelineWorld, amount: Decimal, reference: str, counterparty: str, settled_at: str) -> str:
    """``billing-pipeline emulator transfer`` on the running emulator's state file; the transaction id."""
    result = subprocess.run(
        [sys.executable, "-m", "billing_pipeline.cli", "emulator", "transfer",
         "--state", str(world.emulator.config.state_path), "--amount", str(amount), "--reference", reference,
         "--counterparty", counterparty, "--settled-at", settled_at],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_headless_payments_prints_the_contract_json(
    world: PipelineWorld, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200, "gamma": 300})
    alpha, beta, gamma = invoices["alpha"], invoices["beta"], invoices["gamma"]
    when = settled_days_ago(world, 1)
    paid = world.emulator.transfer(str(total(alpha)), reference=alpha["number"], settled_at=when)
    part = world.emulator.transfer("5.00", reference=beta["number"], settled_at=when)
    # an accountant's firm pays gamma exactly, its number in the reference
    by_accountant = _cli_transfer(world, total(gamma), gamma["number"], "Cabinet Comptable", when)
    workdir = tmp_path / "cron"
    workdir.mkdir()

    result = _payments(world, workdir)

    assert result.returncode == 0, result.stderr[-3000:]
    rows = [
        ({"transaction_id": paid["id"], "invoice_numbers": [alpha["number"]], "amount": str(total(alpha))}, paid["id"]),
        ({"transaction_id": part["id"], "invoice_numbers": [beta["number"]], "amount": "5.00"}, part["id"]),
        ({"transaction_id": by_accountant, "invoice_numbers": [gamma["number"]], "amount": str(total(gamma)),
          "paid_by_third_party": "Cabinet Comptable"}, by_accountant),
    ]  # fmt: skip
    assert json.loads(result.stdout) == {
        "matched": [row for row, _ in sorted(rows, key=lambda r: r[1])],  # one settlement instant: by id
        "partial": [{"invoice_number": beta["number"], "paid": "5.00", "remaining": str(total(beta) - Decimal(5))}],
        "overpaid": [],
        "unmatched": [],
    }
    assert (workdir / ".dagster_home").is_dir()  # the instance `bill` uses, not a temporary one
    qonto = invoices_by_id(world)
    assert qonto[gamma["id"]]["status"] == "paid" and qonto[gamma["id"]]["paid_at"] == paris_day(when).isoformat()

    # the same firm pays what beta still owes: a new pass counts that transfer only
    rest = _cli_transfer(world, total(beta) - Decimal(5), beta["number"], "Cabinet Comptable", when)
    text = subprocess.run(
        [*PAYMENTS[:-2], "--format", "text"], env=_environment(world), cwd=workdir, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert text.returncode == 0, text.stderr[-3000:]
    assert "1 matched, 0 unmatched, 0 partial, 0 overpaid" in text.stdout  # nothing counted again
    [matched] = [line for line in text.stdout.splitlines() if line.strip().startswith("matched")]
    assert rest in matched and beta["number"] in matched
    assert matched.endswith("paid by a third party: Cabinet Comptable")
    assert invoices_by_id(world)[beta["id"]]["status"] == "paid"


def _allocated_transactions(world: PipelineWorld) -> set[str]:
    path = world.state_dir / "ledger.sqlite"
    if not path.exists():
        return set()
    with sqlite3.connect(path, timeout=30) as connection:
        try:
            return {r[0] for r in connection.execute("SELECT transaction_id FROM payment_allocations")}
        except sqlite3.OperationalError:
            return set()


@pytest.mark.parametrize(
    "kill_point",
    [
        "after_the_first_counted_transfer",  # the others not examined yet
        "while_mark_as_paid_is_awaited",  # every transfer counted, Qonto not answered
    ],
)
def test_a_kill_mid_run_then_a_rerun(
    world: PipelineWorld, instance: dg.DagsterInstance, tmp_path: Path, kill_point: str
) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200, "gamma": 300})
    alpha, beta, gamma = invoices["alpha"], invoices["beta"], invoices["gamma"]
    alpha_day, beta_day = settled_days_ago(world, 2), settled_days_ago(world, 1)
    world.emulator.transfer(str(total(alpha)), reference=alpha["number"], settled_at=alpha_day)
    world.emulator.transfer(str(total(beta)), label=f"paiement {beta['number']}", settled_at=beta_day)
    world.emulator.transfer("1.00", reference=gamma["number"], settled_at=beta_day)  # an instalment only
    # hold the first mark_as_paid long enough to kill the run while its answer is awaited
    world.emulator.queue_fault("latency", "POST", r"/mark_as_paid$", count=1, ms=4000)
    workdir = tmp_path / "cron"
    workdir.mkdir()

    process = subprocess.Popen(
        PAYMENTS, env=_environment(world), cwd=workdir, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    wanted = 1 if kill_point == "after_the_first_counted_transfer" else 3
    while process.poll() is None and time.monotonic() < deadline:
        if len(_allocated_transactions(world)) >= wanted and _markings(world):
            break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    assert _markings(world), "the run ended before it recorded any marking"
    assert all(state == "marking" for _, state in _markings(world)), "killed before Qonto answered"
    counted_before = _allocated_transactions(world)
    assert len(counted_before) >= wanted

    again = _payments(world, workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = {m["transaction_id"] for m in json.loads(again.stdout)["matched"]}
    assert not rerun & counted_before  # nothing counted twice
    assert rerun | counted_before == _allocated_transactions(world)
    assert _allocations(world) == 3
    assert sorted(_markings(world)) == sorted([(alpha["number"], "marked"), (beta["number"], "marked")])
    time.sleep(4.5)  # the held request of the killed run has been served too by now
    qonto = invoices_by_id(world)
    assert qonto[alpha["id"]]["status"] == "paid" and qonto[alpha["id"]]["paid_at"] == paris_day(alpha_day).isoformat()
    assert qonto[beta["id"]]["status"] == "paid" and qonto[beta["id"]]["paid_at"] == paris_day(beta_day).isoformat()
    assert qonto[gamma["id"]]["status"] == "unpaid"
