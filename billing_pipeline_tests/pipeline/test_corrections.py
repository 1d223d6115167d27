"""Corrections after finalization (issue 12): usage rises, falls, disappears, and a new customer
appears; per customer, invoices minus credit notes equal the new preview, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import dagster as dg

from benchmarks.chaos_harness import start_bill
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.facturx import verify_pdf
from billing_pipeline.invoicing.ledger import CorrectionState
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, facturx_files
from billing_pipeline_tests.pipeline.conftest import RENDER_DELAY_S, PipelineWorld
from billing_pipeline_tests.pipeline.small_world import (
    PERIOD,
    Company,
    failed_checks,
    failure_text,
    materialize,
    write_customers,
    write_usage,
)

EVERYTHING = [a for a in BILLING_ASSETS if a is not facturx_files]
RISES, FALLS, LEAVES, STAYS, NEW = (
    Company("rises"),
    Company("falls", siren="493375109", email="f@falls.example.fr"),
    Company("leaves", siren="796061109", email="l@leaves.example.fr"),
    Company("stays", name="Stays SARL", email="s@stays.example.fr"),
    Company("arrives", name="Arrives SAS", email="a@arrives.example.fr", siren="493375109"),
)


def _bill_and_collect(world: PipelineWorld, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = materialize(world, instance, EVERYTHING)
    assert result.success, failure_text(result)
    time.sleep(RENDER_DELAY_S + 0.5)
    collected = materialize(world, instance, [facturx_files])
    assert collected.success, failure_text(collected)
    return result


def _net_per_customer(world: PipelineWorld) -> dict[str, Decimal]:
    """Σ invoices − Σ credit notes per customer, from Qonto's own state (VAT included)."""
    state = world.emulator.state()
    by_invoice = {i["id"]: i for i in state["client_invoices"]}
    links = {link.client_id: c for c, link in world.billing.ledger().client_links().items()}
    net: Counter[str] = Counter()
    for invoice in by_invoice.values():
        if invoice["status"] == "draft":
            continue
        net[links[invoice["client"]["id"]]] += Decimal(invoice["total_amount"]["value"])
    for note in state["credit_notes"]:
        invoice = by_invoice[note["invoice_id"]]
        net[links[invoice["client"]["id"]]] -= abs(Decimal(note["total_amount"]["value"]))
    return dict(net)


def _first_period(world: PipelineWorld, instance: dg.DagsterInstance) -> dict[str, dict]:
    write_customers(world, [RISES, FALLS, LEAVES, STAYS])
    write_usage(world, {"rises": 100, "falls": 900, "leaves": 300, "stays": 50})
    _bill_and_collect(world, instance)
    return {i["id"]: i for i in world.emulator.state()["client_invoices"]}


def _usage_changes(world: PipelineWorld) -> dict[str, Decimal]:
    write_customers(world, [RISES, FALLS, STAYS, NEW])  # "leaves" is no longer billed at all
    write_usage(world, {"rises": 700, "falls": 200, "stays": 50, "arrives": 30})
    return {i.customer.customer_id: i.total for i in plan_period(PERIOD, world.data_dir).invoices}


def test_corrections_bring_every_customer_to_the_new_preview_exactly_once(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    originals = _first_period(world, instance)
    preview = _usage_changes(world)

    result = _bill_and_collect(world, instance)
    assert "net_billed_matches_plan" not in failed_checks(result)
    assert _net_per_customer(world) == {**preview, "leaves": Decimal("0")}
    state = world.emulator.state()
    # finalized invoices were never edited (only canceled by their full credit note)
    for invoice_id, before in originals.items():
        after = next(i for i in state["client_invoices"] if i["id"] == invoice_id)
        assert after["items"] == before["items"] and after["number"] == before["number"]
    corrected = {n["invoice_id"] for n in state["credit_notes"]}
    numbers = {i["id"]: i["number"] for i in originals.values()}
    assert len(state["credit_notes"]) == 3  # rises, falls, leaves; stays untouched
    ledger = world.billing.ledger()
    for correction in ledger.corrections(PERIOD):
        assert correction.state == CorrectionState.STORED
        assert (
            correction.corrects_invoice_id in corrected
            and correction.corrects_number == numbers[correction.corrects_invoice_id]
        )
        report = verify_pdf(Path(correction.file_path).read_bytes())
        assert report.valid, report.errors
        assert report.invoice.type_code == "381"
        assert report.invoice.preceding_invoice_number == correction.corrects_number
    for record in ledger.invoices(PERIOD):
        if record.customer_id in preview:
            assert record.state.value == "stored" and verify_pdf(Path(record.file_path).read_bytes()).valid

    # another run creates nothing
    counts = (len(state["client_invoices"]), len(state["credit_notes"]))
    again = _bill_and_collect(world, instance)
    assert not failed_checks(again)
    state = world.emulator.state()
    assert (len(state["client_invoices"]), len(state["credit_notes"])) == counts


def test_a_run_killed_mid_correction_issues_each_correction_once(slow_world: PipelineWorld, tmp_path: Path) -> None:
    world = slow_world
    with dg.instance_for_test() as instance:
        _first_period(world, instance)
    preview = _usage_changes(world)
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(world.environment())

    killed = start_bill(env, PERIOD, cwd=tmp_path)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and killed.poll() is None:
        if world.emulator.state()["credit_notes"]:  # the first credit note exists: kill right now
            os.killpg(killed.pid, 9)
            killed.wait(30)
            break
        time.sleep(0.02)
    assert killed.returncode == -9, "the run ended before any credit note: nothing was killed mid-correction"

    finished = start_bill(env, PERIOD, wait_s=60, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = finished.communicate(timeout=600)
    assert finished.returncode == 0, err.decode()[-3000:]
    report = json.loads(out)
    assert len(report["corrections"]) == 3 and all(c["total"].startswith("-") for c in report["corrections"])
    state = world.emulator.state()
    assert Counter(n["invoice_id"] for n in state["credit_notes"]).most_common(1)[0][1] == 1
    assert _net_per_customer(world) == {**preview, "leaves": Decimal("0")}


def test_a_credit_note_whose_answer_was_lost_is_recognised_as_ours_and_replaced(
    world: PipelineWorld, instance: dg.DagsterInstance, monkeypatch
) -> None:
    """Killed after Qonto issued the credit note (and so canceled the invoice) but before the ledger
    heard of it: the next run must see a correction, not a person's cancellation, and re-bill."""
    _first_period(world, instance)
    preview = _usage_changes(world)
    from billing_pipeline.invoicing.ledger import Ledger

    def killed_after_the_create(self, reference, **kwargs):
        raise RuntimeError("killed after the credit note was created")

    with monkeypatch.context() as patched:
        patched.setattr(Ledger, "record_correction_issued", killed_after_the_create)
        broken = materialize(world, instance, EVERYTHING)
    assert not broken.success
    assert world.emulator.state()["credit_notes"], "the credit note exists in Qonto"
    assert {c.state for c in world.billing.ledger().corrections(PERIOD)} == {CorrectionState.CREATING}

    result = _bill_and_collect(world, instance)
    assert set(failed_checks(result)) <= {"no_late_usage_after_finalization"}  # the warning that led here
    assert _net_per_customer(world) == {**preview, "leaves": Decimal("0")}
    billed = {r.customer_id: r.state.value for r in world.billing.ledger().invoices(PERIOD)}
    assert {c: billed[c] for c in preview} == dict.fromkeys(preview, "stored")
    state = world.emulator.state()
    assert Counter(n["invoice_id"] for n in state["credit_notes"]).most_common(1)[0][1] == 1
