"""Exactly once across two concurrent runs of one period: two processes run the real CLI
(`dagster asset materialize`) on the same production instance and ledger on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import dagster as dg
import pytest

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.invoicing.ledger import InvoiceState, Ledger
from billing_pipeline_tests.postgres.conftest import QONTO_WRITES_POOL, PostgresBillingWorld

pytestmark = pytest.mark.postgres

PERIOD = "2026-10"
SELECTION = "billable_usage,qonto_clients,draft_invoices,finalized_invoices"
# Steps in the run's own process: the default multiprocess executor starts one Python per step,
# which on two cores adds ~10 s to the test and checks nothing more here (pool slots and the ledger
# lock are claimed the same way under both executors).
IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})


def _start_materialization(world: PostgresBillingWorld) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "billing_pipeline.definitions",
               "--select", SELECTION, "--partition", PERIOD, "--config-json", IN_PROCESS]  # fmt: skip
    return subprocess.Popen(
        command,
        env={**os.environ, **world.environment()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_two_concurrent_runs_of_one_period_bill_each_customer_once(
    pg_world: PostgresBillingWorld, production_instance: dg.DagsterInstance
) -> None:
    # The ledger's tables exist before the runs, as after any first run. (Two processes creating them
    # at the same instant on an empty database can collide in PostgreSQL's catalog: a start-up
    # matter of Ledger.__init__, reported separately, not what this test is about.)
    Ledger(pg_world.ledger_db.url).dispose()
    runs = [_start_materialization(pg_world), _start_materialization(pg_world)]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr.decode(errors="replace")[-3000:]

    planned = {i.customer.customer_id for i in plan_period(PERIOD, pg_world.data_dir).invoices}
    state = pg_world.emulator.state()
    live = [i for i in state["client_invoices"] if i["status"] != "canceled"]
    per_reference = Counter(i["header"] for i in live)
    assert len(per_reference) == len(planned), "one invoice per planned customer"
    assert set(per_reference.values()) == {1}, f"duplicates: {[h for h, n in per_reference.items() if n > 1]}"
    assert len(state["client_invoices"]) == len(planned), "no invoice was created and then canceled"
    assert {i["status"] for i in live} == {"unpaid"}  # finalized
    client_emails = Counter((c.get("email") or "").lower() for c in state["clients"])
    assert len(state["clients"]) >= len(planned) and set(client_emails.values()) == {1}, "one client per customer"

    ledger = Ledger(pg_world.ledger_db.url)
    try:
        records = ledger.invoices(PERIOD)
    finally:
        ledger.dispose()
    assert {r.customer_id for r in records} == planned
    # finalized; some files may already be collected while the others were being finalized
    assert {r.state for r in records} <= {InvoiceState.FINALIZED, InvoiceState.STORED}
    assert sorted(r.invoice_id for r in records) == sorted(i["id"] for i in live)

    # both runs are recorded in the shared PostgreSQL instance, and both succeeded
    recorded = production_instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": PERIOD}))
    assert [r.status for r in recorded] == [dg.DagsterRunStatus.SUCCESS] * 2
    # the Qonto writers went through the instance's pool, one step at a time, and gave their slot back
    pool = production_instance.event_log_storage.get_concurrency_info(QONTO_WRITES_POOL)
    assert (pool.limit, pool.slot_count, pool.using_default_limit) == (1, 1, False)
    assert pool.claimed_slots == [] and pool.pending_steps == []
