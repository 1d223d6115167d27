"""The read model of a period's progress and the decision of the next job (issue 19): a small SQLite
ledger written through the Ledger's own transitions, no Dagster, no Qonto, no clock."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_pipeline.invoicing.corrections.records import CorrectionState
from billing_pipeline.invoicing.delivery.records import DeliveryState
from billing_pipeline.invoicing.invoices.records import InvoiceState
from billing_pipeline.invoicing.progress import (
    Cause,
    Job,
    PeriodProgress,
    delivery_work,
    next_job,
    pending_documents,
    period_progress,
    period_report,
    progress_by_period,
)
from billing_pipeline_tests.pipeline.progress_ledger import PERIOD, Customer, credit, ledger_with

IS, DS, CS = InvoiceState, DeliveryState, CorrectionState


def _progress(tmp_path: Path, customers: list[Customer], *, delivering: bool = True) -> PeriodProgress:
    return period_progress(ledger_with(str(tmp_path / "ledger.sqlite"), customers), PERIOD, delivering=delivering)


# -- the read model ------------------------------------------------------------------------------


def test_an_empty_period_is_neither_done_nor_waiting(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [])
    assert not progress.done and not progress.waiting
    assert next_job(progress) == next_job(progress, files_ready=True, lifecycle_moved=False)
    assert next_job(progress).job is None and next_job(progress).reason == "nothing to do"


def test_stored_and_delivered_is_done(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("a", IS.STORED, DS.SENT), Customer("b", IS.STORED, DS.RECEIVED)])
    assert progress.done and not progress.waiting
    assert progress.billed == progress.stored == 2
    assert next_job(progress).reason == "done"


def test_a_finalized_invoice_is_a_file_pending(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("a", IS.STORED, DS.SENT), Customer("b", IS.FINALIZED)])
    assert progress.invoice_files_pending == 1 and progress.files_pending == 1
    assert progress.waiting and not progress.done


def test_an_issued_credit_note_is_a_file_pending_until_stored(tmp_path: Path) -> None:
    waiting = _progress(tmp_path / "1", [Customer("a", IS.CANCELED, credit_note=CS.ISSUED)])
    assert waiting.credit_note_files_pending == 1 and waiting.waiting and not waiting.done
    stored = _progress(tmp_path / "2", [Customer("a", IS.CANCELED, credit_note=CS.STORED)])
    assert stored.done, "a period whose only document is a stored credit note is done"


def test_an_invoice_we_credited_is_not_an_invoice_of_the_period(tmp_path: Path) -> None:
    customers = [Customer("a", IS.CANCELED, DS.SENT, credit_note=CS.STORED), Customer("a2", IS.STORED, DS.SENT)]
    progress = _progress(tmp_path, customers)
    assert progress.credited == 1 and progress.billed == 1 and progress.not_billed == ()
    assert progress.done


def test_a_customer_whose_invoice_a_person_canceled_is_not_billed(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("alpha", IS.CANCELED), Customer("beta", IS.STORED, DS.SENT)])
    assert progress.not_billed == ("alpha",) and progress.credited == 0
    assert not progress.done and not progress.waiting
    assert "not billed: alpha" in next_job(progress).reason


def test_a_credit_note_still_being_created_does_not_make_a_cancellation_ours(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("alpha", IS.CANCELED, credit_note=CS.CREATING)])
    assert progress.not_billed == ("alpha",) and not progress.done


def test_an_abandoned_row_bills_nothing(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("gone", IS.ABANDONED), Customer("b", IS.STORED, DS.SENT)])
    assert progress.billed == 1 and progress.done


@pytest.mark.parametrize("state", [IS.CREATING, IS.DRAFT, IS.REJECTED])
def test_an_invoice_not_stored_keeps_the_period_from_done(tmp_path: Path, state: InvoiceState) -> None:
    progress = _progress(tmp_path, [Customer("a", state), Customer("b", IS.STORED, DS.SENT)])
    assert not progress.done and not progress.files_pending


def test_a_verified_invoice_not_delivered_is_pending_only_when_delivering(tmp_path: Path) -> None:
    customers = [Customer("a", IS.STORED)]
    on = _progress(tmp_path / "on", customers)
    assert on.verified_not_delivered == 1 and on.delivery_pending and on.waiting and not on.done
    off = _progress(tmp_path / "off", customers, delivering=False)
    assert off.done and not off.waiting


@pytest.mark.parametrize("state", sorted(DS))
def test_delivery_states_in_progress_needing_a_person_and_done(tmp_path: Path, state: DeliveryState) -> None:
    progress = _progress(tmp_path, [Customer("a", IS.STORED, state)])
    assert progress.deliveries == {state: 1} and progress.delivery_begun
    assert progress.deliveries_in_progress == (state in (DS.SENDING, DS.SUBMITTED, DS.RESEND))
    assert progress.deliveries_needing_a_person == (state in (DS.REFUSED, DS.DISPUTED, DS.FAILED, DS.UNKNOWN))
    assert progress.done == (state in (DS.SENT, DS.RECEIVED))
    assert progress.waiting == (state in (DS.SENDING, DS.SUBMITTED, DS.RESEND))


def test_the_cross_period_view_groups_by_period(tmp_path: Path) -> None:
    ledger = ledger_with(
        str(tmp_path / "ledger.sqlite"),
        [
            Customer("a", IS.FINALIZED, period="2026-09"),
            Customer("b", IS.STORED, DS.SENT, period="2026-09"),
            Customer("c", IS.STORED, period="2026-09"),  # begun period: the sensor delivers it
            Customer("d", IS.STORED, period="2026-10"),  # never delivered: left to a run someone asks for
            Customer("e", IS.STORED, DS.RESEND, period="2026-11"),
            Customer("f", IS.STORED, DS.SUBMITTED, period="2026-11"),
            Customer("g", IS.CANCELED, credit_note=CS.ISSUED, period="2026-11"),
        ],
    )
    progress = progress_by_period(ledger, delivering=True)
    assert list(progress) == ["2026-09", "2026-10", "2026-11"]
    assert [p.files_pending for p in progress.values()] == [1, 0, 1]
    assert [p.verified_not_delivered for p in progress.values()] == [1, 1, 0]
    pending = pending_documents(ledger)
    assert {k: ([r.customer_id for r in v.invoices], [n.customer_id for n in v.credit_notes]) for k, v in
            pending.items()} == {"2026-09": (["a"], []), "2026-11": ([], ["g"])}  # fmt: skip
    work = delivery_work(ledger)
    assert work.undelivered == {"2026-09": ["inv-2026-09-c"]}
    assert {k: [r.invoice_id for r in v] for k, v in work.resend.items()} == {"2026-11": ["inv-2026-11-e"]}
    assert [r.invoice_id for r in work.submitted] == ["inv-2026-11-f"]
    # one period only: the same numbers, and only that period read
    assert list(progress_by_period(ledger, delivering=True, period="2026-11")) == ["2026-11"]
    assert period_progress(ledger, "2026-09", delivering=True) == progress["2026-09"]


def test_the_report_lists_the_invoices_as_billed(tmp_path: Path) -> None:
    customers = [
        Customer("credited", IS.CANCELED, credit_note=CS.STORED),
        Customer("gone", IS.ABANDONED),
        Customer("person", IS.CANCELED),
        Customer("stored", IS.STORED, DS.SENT),
    ]
    ledger = ledger_with(str(tmp_path / "ledger.sqlite"), customers)
    report = period_report(ledger, PERIOD)
    assert [r.customer_id for r in report.invoices] == ["person", "stored"]
    assert [r.customer_id for r in report.not_billed] == ["person"]
    assert [c.customer_id for c in report.corrections] == ["credited"]
    assert list(report.deliveries) == ["inv-2026-10-stored"]
    assert period_progress(ledger, PERIOD, delivering=True).billed == len(report.invoices)


# -- the decision --------------------------------------------------------------------------------


def test_ready_files_are_collected_first(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("a", IS.FINALIZED), Customer("b", IS.STORED, DS.RESEND)])
    collect = next_job(progress, files_ready=True, lifecycle_moved=True)
    assert (collect.job, collect.cause) == (Job.FACTURX_COLLECTION, Cause.FILES_READY)
    # still rendering (or not probed): the delivery that has something to do goes ahead
    assert next_job(progress, files_ready=False).job == Job.INVOICE_DELIVERY
    assert next_job(progress, files_ready=None).job == Job.INVOICE_DELIVERY


def test_files_not_ready_or_not_probed_start_nothing(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("a", IS.FINALIZED)])
    rendering = next_job(progress, files_ready=False)
    assert rendering.job is None and "1 file(s) pending (still rendering)" in rendering.reason
    assert next_job(progress).job is None and "not probed" in next_job(progress).reason


def test_delivery_causes_in_order_lifecycle_resend_undelivered(tmp_path: Path) -> None:
    progress = _progress(
        tmp_path,
        [Customer("a", IS.STORED, DS.SUBMITTED), Customer("b", IS.STORED, DS.RESEND), Customer("c", IS.STORED)],
    )
    assert next_job(progress, lifecycle_moved=True).cause == Cause.LIFECYCLE
    assert next_job(progress, lifecycle_moved=False).cause == Cause.RESEND
    without_resend = _progress(tmp_path / "2", [Customer("a", IS.STORED, DS.SUBMITTED), Customer("c", IS.STORED)])
    assert next_job(without_resend, lifecycle_moved=False).cause == Cause.UNDELIVERED
    quiet = _progress(tmp_path / "3", [Customer("a", IS.STORED, DS.SUBMITTED)])
    decision = next_job(quiet, lifecycle_moved=False)
    assert decision.job is None and "1 e-invoice(s) on the network (none moved)" in decision.reason


def test_a_period_never_delivered_is_not_started(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("a", IS.STORED), Customer("b", IS.STORED)])
    assert progress.verified_not_delivered == 2 and not progress.delivery_begun
    decision = next_job(progress, lifecycle_moved=False)
    assert decision.job is None and "never delivered" in decision.reason


def test_nothing_is_delivered_when_delivery_is_off(tmp_path: Path) -> None:
    customers = [Customer("a", IS.STORED, DS.RESEND), Customer("b", IS.STORED, DS.SUBMITTED), Customer("c", IS.STORED)]
    progress = _progress(tmp_path, customers, delivering=False)
    assert next_job(progress, lifecycle_moved=True).job is None


def test_a_delivery_left_sending_starts_no_run(tmp_path: Path) -> None:
    # its run is still delivering (or died: run monitoring and retries deal with that)
    progress = _progress(tmp_path, [Customer("a", IS.STORED, DS.SENDING)])
    assert progress.waiting and next_job(progress, lifecycle_moved=False).job is None


def test_a_delivery_needing_a_person_starts_no_run_and_says_so(tmp_path: Path) -> None:
    progress = _progress(tmp_path, [Customer("a", IS.STORED, DS.UNKNOWN)])
    decision = next_job(progress, lifecycle_moved=False)
    assert decision.job is None and "1 delivery(ies) need a person" in decision.reason


# -- properties ----------------------------------------------------------------------------------

_DELIVERABLE = (IS.STORED, IS.CANCELED)


@st.composite
def _customers(draw: st.DrawFn) -> list[Customer]:
    customers = []
    for n in range(draw(st.integers(min_value=0, max_value=6))):
        invoice = draw(st.sampled_from(sorted(IS)))
        delivery = draw(st.none() | st.sampled_from(sorted(DS))) if invoice in _DELIVERABLE else None
        numbered = invoice in (IS.FINALIZED, IS.STORED, IS.REJECTED, IS.CANCELED)
        note = draw(st.none() | st.sampled_from(sorted(CS))) if numbered else None
        customers.append(Customer(f"c{n}", invoice, delivery, note))
    return customers


def _expected_done(customers: list[Customer], delivering: bool) -> bool:
    """The contract's rule, written from the customers' story, not from the ledger."""
    crediting = {CS.ISSUED, CS.STORED, CS.REJECTED}
    billed = [
        c for c in customers
        if c.invoice != IS.ABANDONED and not (c.invoice == IS.CANCELED and c.credit_note in crediting)
    ]  # fmt: skip
    notes = [c.credit_note for c in customers if c.credit_note is not None]
    delivered = all(c.delivery in (DS.SENT, DS.RECEIVED) for c in billed if c.invoice == IS.STORED)
    return (
        bool(billed or notes)
        and all(c.invoice == IS.STORED for c in billed)
        and all(n == CS.STORED for n in notes)
        and (delivered or not delivering)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customers=_customers(), delivering=st.booleans())
def test_done_is_the_contracts_exit_rule(customers: list[Customer], delivering: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ledger = ledger_with(str(Path(folder) / "ledger.sqlite"), customers)
        progress = period_progress(ledger, PERIOD, delivering=delivering)
        ledger.dispose()
    assert progress.done == _expected_done(customers, delivering)
    if progress.done:
        assert not progress.files_pending and not progress.not_billed
        assert not progress.verified_not_delivered or not delivering


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=_customers(),
    delivering=st.booleans(),
    files_ready=st.none() | st.booleans(),
    moved=st.none() | st.booleans(),
)
def test_the_decision_never_collects_what_is_not_ready_nor_delivers_when_off(
    customers: list[Customer], delivering: bool, files_ready: bool | None, moved: bool | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ledger = ledger_with(str(Path(folder) / "ledger.sqlite"), customers)
        progress = period_progress(ledger, PERIOD, delivering=delivering)
        ledger.dispose()
    decision = next_job(progress, files_ready=files_ready, lifecycle_moved=moved)
    collects = bool(progress.files_pending) and files_ready is True
    assert (decision.job == Job.FACTURX_COLLECTION) == collects
    if not delivering:
        assert decision.job in (None, Job.FACTURX_COLLECTION)
    if decision.job is None:
        assert decision.cause is None and decision.reason
    else:
        assert decision.cause is not None


def test_credit_helper_issues_a_crediting_note(tmp_path: Path) -> None:
    # guards the fixture itself: an issued credit note of ours makes the cancellation a correction
    ledger = ledger_with(str(tmp_path / "ledger.sqlite"), [Customer("a", IS.STORED, DS.SENT)])
    credit(ledger, Customer("a", IS.STORED), CS.ISSUED)
    assert period_progress(ledger, PERIOD, delivering=True).credit_note_files_pending == 1


def test_delivery_status_shows_the_same_facts_and_the_periods_summary(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from billing_pipeline.cli import main

    state_dir = tmp_path / "state"
    customers = [Customer("a", IS.STORED, DS.SENT), Customer("b", IS.STORED, DS.UNKNOWN), Customer("c", IS.STORED)]
    ledger = ledger_with(str((state_dir / "ledger.sqlite").resolve()), customers)
    env = {"BILLING_STATE_DIR": str(state_dir), "BILLING_DATA_DIR": str(tmp_path), "BILLING_DELIVERY": "auto"}
    as_json = CliRunner().invoke(main, ["delivery", "status", "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [d.model_dump(mode="json") for d in ledger.deliveries()]
    text = CliRunner().invoke(main, ["delivery", "status", "--period", PERIOD], env=env)
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"{PERIOD}  a ") and "unknown" in lines[1]
    assert lines[-1] == (
        f"{PERIOD}: 3 invoice(s) (3 stored); 0 file(s) pending; deliveries: 1 done, 0 in progress, "
        "1 needing a person, 1 verified invoice(s) not delivered"
    )
