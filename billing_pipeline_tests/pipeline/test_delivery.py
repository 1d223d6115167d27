"""Delivery (issue 13): every verified invoice reaches its customer once — e-invoicing network for
reachable French companies, one email otherwise — and is followed until received or refused."""

from __future__ import annotations

import email
import email.policy
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from billing_pipeline.defs.metadata import table_records
from billing_pipeline.emulator.testing import running_emulator
from billing_pipeline.invoicing.delivery.records import DeliveryChannel, DeliveryState
from billing_pipeline.invoicing.ledger import InvoiceState
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, delivered_invoices, facturx_files
from billing_pipeline_tests.pipeline.conftest import EINVOICING_DELAY_S, RENDER_DELAY_S, PipelineWorld, world_on
from billing_pipeline_tests.pipeline.small_world import PERIOD, failed_checks, failure_text, materialize

BILLING = [a for a in BILLING_ASSETS if a not in (facturx_files, delivered_invoices)]
COLLECT_AND_DELIVER = [facturx_files, delivered_invoices]


def _bill_collect_deliver(world: PipelineWorld, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    billed = materialize(world, instance, BILLING)
    assert billed.success, failure_text(billed)
    time.sleep(RENDER_DELAY_S + 0.5)
    delivered = materialize(world, instance, COLLECT_AND_DELIVER)
    assert delivered.success, failure_text(delivered)
    return delivered


def _follow(world: PipelineWorld, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """After the network's steps (submitted → issued → received), the follow-up run records them."""
    time.sleep(2 * EINVOICING_DELAY_S + 0.3)
    followed = materialize(world, instance, [delivered_invoices])
    assert followed.success, failure_text(followed)
    return followed


def _emails(world: PipelineWorld) -> Counter[str]:
    return Counter(e["invoice_id"] for e in world.emulator.state()["sent_emails"])


def _outbox(world: PipelineWorld) -> Path:
    return world.emulator.config.effective_outbox_dir


def test_each_invoice_is_delivered_once_by_the_right_channel_with_the_verified_pdf(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    _bill_collect_deliver(world, instance)
    followed = _follow(world, instance)
    assert not failed_checks(followed)
    ledger = world.billing.ledger()
    invoices = {r.invoice_id: r for r in ledger.invoices(PERIOD) if r.state.value == "stored"}
    deliveries = {d.invoice_id: d for d in ledger.deliveries(PERIOD)}
    assert set(deliveries) == set(invoices), "every stored invoice has a delivery"
    clients = {c["id"]: c for c in world.emulator.state()["clients"]}
    state = world.emulator.state()
    submitted = Counter(s["invoice_id"] for s in state["einvoice_submissions"])
    emails = _emails(world)
    for invoice_id, delivery in deliveries.items():
        client = clients[invoices[invoice_id].client_id]
        if client["e_invoicing_reachable"]:
            assert delivery.channel == DeliveryChannel.EINVOICE and submitted[invoice_id] == 1
            assert delivery.state == DeliveryState.RECEIVED and delivery.einvoicing_status == "approved"
            # followed from the period's listing, whose list view has no lifecycle events (a full read
            # records them: test_delivery_requests.py)
            assert delivery.events == []
            assert emails[invoice_id] == 0
        else:
            assert delivery.channel == DeliveryChannel.EMAIL and emails[invoice_id] == 1
            assert delivery.state == DeliveryState.SENT and submitted[invoice_id] == 0
    assert any(d.channel == DeliveryChannel.EINVOICE for d in deliveries.values())
    assert any(d.channel == DeliveryChannel.EMAIL for d in deliveries.values())

    # each email: to the client's address, with the very PDF we verified and stored
    for sent in state["sent_emails"]:
        record = invoices[sent["invoice_id"]]
        assert sent["to"] == [clients[record.client_id]["email"]]
        message = email.message_from_bytes(
            (_outbox(world) / sent["file_name"]).read_bytes(), policy=email.policy.default
        )
        assert message["To"] == clients[record.client_id]["email"] and record.number in message["Subject"]
        pdfs = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
        assert len(pdfs) == 1 and pdfs[0].get_content() == Path(record.file_path).read_bytes()

    # re-runs deliver nothing again
    before = (len(state["sent_emails"]), len(state["einvoice_submissions"]))
    _bill_collect_deliver(world, instance)
    again = materialize(world, instance, [delivered_invoices])
    assert not failed_checks(again)
    state = world.emulator.state()
    assert (len(state["sent_emails"]), len(state["einvoice_submissions"])) == before


def test_extra_addresses_of_a_customer_receive_the_email(world: PipelineWorld, instance: dg.DagsterInstance) -> None:
    customers = world.data_dir / "customers.csv"
    lines = customers.read_text().splitlines()
    header = lines[0] + ",invoice_emails"
    rows = [
        line + (",ap@berliner.example.com; cfo@berliner.example.com" if line.startswith("cus_eu_001,") else ",")
        for line in lines[1:]
    ]
    customers.write_text("\n".join([header, *rows]) + "\n")
    _bill_collect_deliver(world, instance)
    ledger = world.billing.ledger()
    record = ledger.invoice("cus_eu_001", PERIOD)
    assert record is not None
    sent = [e for e in world.emulator.state()["sent_emails"] if e["invoice_id"] == record.invoice_id]
    assert [e["to"] for e in sent] == [
        ["billing@berliner.example.com", "ap@berliner.example.com", "cfo@berliner.example.com"]
    ]


def test_a_refused_e_invoice_fails_the_check_naming_the_customer_code_and_reason(tmp_path: Path) -> None:
    refusing_siren = "253600605"  # cus_fr_001
    with (
        running_emulator(
            render_delay_s=RENDER_DELAY_S,
            einvoicing_delay_s=EINVOICING_DELAY_S,
            einvoicing_refuse=refusing_siren,
            state_path=tmp_path / "emulator.sqlite",
        ) as emulator,
        dg.instance_for_test() as instance,
    ):
        world = world_on(emulator, tmp_path)
        _bill_collect_deliver(world, instance)
        followed = _follow(world, instance)
        failed = failed_checks(followed)
        assert set(failed) == {"no_delivery_failed_refused_or_unknown"}
        problems = str(table_records(failed["no_delivery_failed_refused_or_unknown"].metadata["problems"]))
        assert "cus_fr_001" in problems and "210" in problems and "refused" in problems
        record = world.billing.ledger().invoice("cus_fr_001", PERIOD)
        assert record is not None
        delivery = world.billing.ledger().delivery(record.invoice_id or "")
        assert delivery is not None and delivery.state == DeliveryState.REFUSED
        assert "cus_fr_002" not in problems


def test_an_unreachable_company_is_emailed(tmp_path: Path) -> None:
    with (
        running_emulator(
            render_delay_s=RENDER_DELAY_S,
            einvoicing_delay_s=EINVOICING_DELAY_S,
            einvoicing_unreachable="253600605",
            state_path=tmp_path / "emulator.sqlite",
        ) as emulator,
        dg.instance_for_test() as instance,
    ):
        world = world_on(emulator, tmp_path)
        _bill_collect_deliver(world, instance)
        ledger = world.billing.ledger()
        unreachable = ledger.invoice("cus_fr_001", PERIOD)
        reachable = ledger.invoice("cus_fr_002", PERIOD)
        assert unreachable is not None and reachable is not None
        assert ledger.delivery(unreachable.invoice_id or "").channel == DeliveryChannel.EMAIL  # type: ignore[union-attr]
        assert ledger.delivery(reachable.invoice_id or "").channel == DeliveryChannel.EINVOICE  # type: ignore[union-attr]


def test_an_email_whose_answer_was_lost_is_unknown_never_resent_until_a_person_resolves_it(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    from billing_pipeline.cli import main

    world.emulator.queue_fault("lost_response", "POST", r"/v2/client_invoices/[^/]+/send$", count=1)
    delivered = _bill_collect_deliver(world, instance)
    failed = failed_checks(delivered)
    assert set(failed) == {"no_delivery_failed_refused_or_unknown"}
    problems = str(table_records(failed["no_delivery_failed_refused_or_unknown"].metadata["problems"]))
    unknown = world.billing.ledger().deliveries(PERIOD, {DeliveryState.UNKNOWN})
    assert len(unknown) == 1 and unknown[0].number in problems and "delivery resolve" in problems
    emails = _emails(world)
    assert emails[unknown[0].invoice_id] == 1  # it did leave: a blind retry would have doubled it

    again = materialize(world, instance, [delivered_invoices])
    assert "no_delivery_failed_refused_or_unknown" in failed_checks(again)
    assert _emails(world) == emails, "nothing was sent again"

    runner = CliRunner()
    env = world.environment()
    result = runner.invoke(main, ["delivery", "resolve", "--invoice", unknown[0].number, "--sent"], env=env)
    assert result.exit_code == 0, result.output
    resolved = materialize(world, instance, [delivered_invoices])
    assert not failed_checks(resolved)
    assert _emails(world) == emails


def test_resend_after_a_person_says_the_email_never_arrived_sends_exactly_one_more(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    from billing_pipeline.cli import main

    world.emulator.queue_fault("lost_response", "POST", r"/v2/client_invoices/[^/]+/send$", count=1)
    _bill_collect_deliver(world, instance)
    (unknown,) = world.billing.ledger().deliveries(PERIOD, {DeliveryState.UNKNOWN})
    result = CliRunner().invoke(
        main, ["delivery", "resolve", "--invoice", unknown.number, "--resend"], env=world.environment()
    )
    assert result.exit_code == 0, result.output
    for _ in range(2):
        assert not failed_checks(materialize(world, instance, [delivered_invoices]))
    assert _emails(world)[unknown.invoice_id] == 2


@pytest.mark.parametrize("kind", ["company", "individual"])
def test_the_mandatory_mentions_are_in_the_factur_x_where_br_fr_puts_them(
    world: PipelineWorld, instance: dg.DagsterInstance, kind: str
) -> None:
    from billing_pipeline.facturx import verify_pdf

    _bill_collect_deliver(world, instance)
    ledger = world.billing.ledger()
    records = [r for r in ledger.invoices(PERIOD) if r.state.value == "stored"]
    customer = "cus_fr_003" if kind == "company" else next(r.customer_id for r in records if "ind" in r.customer_id)
    record = next(r for r in records if r.customer_id == customer)
    mentions = record.mentions()
    assert mentions is not None and mentions["transaction_type"] == "services"
    report = verify_pdf(Path(record.file_path or "").read_bytes())
    assert report.valid, report.errors
    invoice = report.invoice
    assert invoice.business_process == "S1"
    assert {e.due_date_code for e in invoice.vat_breakdown} == {"72"}
    if kind == "company":
        assert invoice.notes["PMD"] == [mentions["late_payment_penalties"]]
        assert invoice.notes["PMT"] == [mentions["legal_fixed_compensation"]]
        assert "40 €" in mentions["legal_fixed_compensation"]
        assert invoice.buyer_siren == "493375109"
    else:
        assert "late_payment_penalties" not in mentions


def _headless_env(world: PipelineWorld) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith(("BILLING_", "QONTO_"))}
    env.update(world.environment())
    return env


def test_bill_waits_for_delivery_and_reports_each_invoices_channel_and_status(
    world: PipelineWorld, tmp_path: Path
) -> None:
    import json
    import subprocess

    from benchmarks.chaos_harness import start_bill

    finished = start_bill(
        _headless_env(world), PERIOD, wait_s=90, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = finished.communicate(timeout=600)
    assert finished.returncode == 0, err.decode()[-3000:]
    rows = json.loads(out)["invoices"]
    assert rows and all(r["delivery"] is not None for r in rows)
    channels = Counter((r["delivery"]["channel"], r["delivery"]["status"]) for r in rows)
    assert set(channels) == {("einvoice", "received"), ("email", "sent")}
    # followed from the period's listing (Qonto's einvoicing_status): the list view carries no lifecycle
    # events; they are recorded when an e-invoice is read in full (test_delivery_requests.py)
    assert all(r["delivery"]["events"] == [] for r in rows if r["delivery"]["channel"] == "einvoice")


def test_a_bill_killed_while_delivering_never_sends_an_invoice_twice(slow_world: PipelineWorld, tmp_path: Path) -> None:
    import json
    import os
    import subprocess

    from benchmarks.chaos_harness import start_bill

    world = slow_world
    env = _headless_env(world)
    killed = start_bill(env, PERIOD, wait_s=60, cwd=tmp_path)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and killed.poll() is None:
        if world.emulator.state()["sent_emails"]:  # the first email left: kill right now
            os.killpg(killed.pid, 9)
            killed.wait(30)
            break
        time.sleep(0.02)
    assert killed.returncode == -9, "bill ended before any email: nothing was killed mid-delivery"

    finished = start_bill(env, PERIOD, wait_s=90, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = finished.communicate(timeout=600)
    state = world.emulator.state()
    emails = Counter(e["invoice_id"] for e in state["sent_emails"])
    submissions = Counter(s["invoice_id"] for s in state["einvoice_submissions"])
    assert max(emails.values()) == 1 and max(submissions.values()) == 1, "an invoice was delivered twice"
    rows = {r["invoice_id"]: r for r in json.loads(out)["invoices"]}
    unknown = [i for i, r in rows.items() if r["delivery"]["status"] == "unknown"]
    for invoice_id, row in rows.items():
        if invoice_id in unknown:
            # in flight when the run died (sent or not, nobody can tell): never repeated, left to a person
            assert emails[invoice_id] <= 1 and row["delivery"]["channel"] == "email"
            assert f"invoice {row['number']}" in err.decode()
        else:
            assert row["delivery"]["status"] in ("sent", "received"), row
            assert emails[invoice_id] + submissions[invoice_id] == 1
    assert finished.returncode == (1 if unknown else 0), err.decode()[-3000:]


def test_after_a_lost_ledger_nothing_is_delivered_twice(tmp_path: Path) -> None:
    """The ledger is lost after delivery: the rebuilt one adopts every invoice from Qonto. E-invoices
    show their submission in Qonto and are followed; emails leave no trace in Qonto, so they are
    'unknown' for a person to settle — never sent a second time."""
    with running_emulator(
        render_delay_s=RENDER_DELAY_S, einvoicing_delay_s=EINVOICING_DELAY_S, state_path=tmp_path / "emulator.sqlite"
    ) as emulator:
        world = world_on(emulator, tmp_path)
        with dg.instance_for_test() as instance:
            _bill_collect_deliver(world, instance)
        before = world.emulator.state()
        world.billing.ledger().dispose()
        (world.state_dir / "ledger.sqlite").unlink()
        rebuilt = world_on(emulator, tmp_path / "rebuilt")
        rebuilt = PipelineWorld(**{**rebuilt.__dict__, "data_dir": world.data_dir})
        rebuilt.billing = rebuilt.billing.model_copy(update={"data_dir": str(world.data_dir)})
        with dg.instance_for_test() as instance:
            delivered = _bill_collect_deliver(rebuilt, instance)
        after = world.emulator.state()
    assert len(after["sent_emails"]) == len(before["sent_emails"])
    assert len(after["einvoice_submissions"]) == len(before["einvoice_submissions"])
    ledger = rebuilt.billing.ledger()
    states = Counter((d.channel, d.state) for d in ledger.deliveries(PERIOD))
    assert states[(DeliveryChannel.EMAIL, DeliveryState.UNKNOWN)] == len(before["sent_emails"])
    assert states[(DeliveryChannel.EMAIL, DeliveryState.SENT)] == 0
    assert "no_delivery_failed_refused_or_unknown" in failed_checks(delivered)


def test_an_e_invoice_whose_run_died_after_the_intent_is_submitted_again_once(
    world: PipelineWorld, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing_pipeline.invoicing.ledger import Ledger

    def killed_before_the_answer(self: Ledger, invoice_id: str) -> None:
        raise RuntimeError("killed after the submission, before recording it")

    billed = materialize(world, instance, BILLING)
    assert billed.success, failure_text(billed)
    time.sleep(RENDER_DELAY_S + 0.5)
    with monkeypatch.context() as patched:
        patched.setattr(Ledger, "record_delivery_submitted", killed_before_the_answer)
        patched.setattr(Ledger, "record_delivery_sent", killed_before_the_answer)
        broken = materialize(world, instance, COLLECT_AND_DELIVER)
    assert not broken.success
    sending = world.billing.ledger().deliveries(PERIOD, {DeliveryState.SENDING})
    assert {d.channel for d in sending} == {DeliveryChannel.EINVOICE, DeliveryChannel.EMAIL}
    submissions = len(world.emulator.state()["einvoice_submissions"])
    emails = _emails(world)

    again = materialize(world, instance, [delivered_invoices])
    state = world.emulator.state()
    assert len(state["einvoice_submissions"]) == submissions  # Qonto deduplicated: one submission each
    assert _emails(world) == emails  # no email sent twice
    after = {d.invoice_id: d for d in world.billing.ledger().deliveries(PERIOD)}
    for d in sending:
        if d.channel == DeliveryChannel.EINVOICE:  # followed on the network, not resubmitted
            assert after[d.invoice_id].state in (DeliveryState.SUBMITTED, DeliveryState.RECEIVED)
        else:
            assert after[d.invoice_id].state == DeliveryState.UNKNOWN
    assert "no_delivery_failed_refused_or_unknown" in failed_checks(again)


def test_an_invoice_whose_factur_x_was_not_verified_is_never_delivered(tmp_path: Path) -> None:
    # Qonto has not rendered any Factur-X yet (an hour's delay): nothing is stored, so nothing may leave
    with (
        running_emulator(render_delay_s=3600, state_path=tmp_path / "emulator.sqlite") as emulator,
        dg.instance_for_test() as instance,
    ):
        world = world_on(emulator, tmp_path)
        billed = materialize(world, instance, BILLING)
        assert billed.success, failure_text(billed)
        assert {r.state for r in world.billing.ledger().invoices(PERIOD)} == {InvoiceState.FINALIZED}
        delivered = materialize(world, instance, [delivered_invoices])
        assert delivered.success and not failed_checks(delivered)
        state = emulator.state()
        assert state["sent_emails"] == [] and state["einvoice_submissions"] == []


def test_in_qontos_sandbox_every_invoice_is_emailed(tmp_path: Path) -> None:
    """Qonto's sandbox has no e-invoicing (send_by_einvoice is refused there): everything is emailed."""
    from billing_pipeline.defs.resources import QontoResource

    with (
        running_emulator(sandbox=True, render_delay_s=RENDER_DELAY_S, state_path=tmp_path / "emulator.sqlite") as emu,
        dg.instance_for_test() as instance,
    ):
        world = world_on(emu, tmp_path)
        world.qonto = QontoResource(
            mode="custom", base_url=emu.base_url, api_key=emu.api_key, staging_token=emu.staging_token,
            state_dir=str(world.state_dir),
        )  # fmt: skip
        delivered = _bill_collect_deliver(world, instance)
        assert not failed_checks(delivered)
        deliveries = world.billing.ledger().deliveries(PERIOD)
        assert deliveries and {(d.channel, d.state) for d in deliveries} == {
            (DeliveryChannel.EMAIL, DeliveryState.SENT)
        }
        assert emu.state()["einvoice_submissions"] == []
