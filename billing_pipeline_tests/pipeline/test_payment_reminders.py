"""Reminders through Qonto's ``send`` against the emulator (its outbox, ``sent_emails``): each stage
once per invoice, the latest only when several are due, a lost answer reported as unknown and never
sent again, nothing for a paid invoice. The date is given (``as_of``): no test depends on today."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import dagster as dg

from billing_pipeline.invoicing.payments.receivables import ReceivablesReport, receivables_pass
from billing_pipeline.invoicing.payments.service import payment_pass
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.payments_world import bill, settled_days_ago, total


def _pass(world: PipelineWorld, as_of: date) -> ReceivablesReport:
    async def run() -> ReceivablesReport:
        async with world.qonto.connection().open() as client:
            return await receivables_pass(
                client, world.billing.ledger(), timezone="Europe/Paris", stages=(7, 30), as_of=as_of
            )

    return asyncio.run(run())


def _sent(world: PipelineWorld) -> list[tuple[str, str]]:
    return [(e["number"], e["subject"]) for e in world.emulator.state()["sent_emails"]]


def test_reminders_each_once_through_qonto_send(world: PipelineWorld, instance: dg.DagsterInstance) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200, "gamma": 300})
    alpha, beta, gamma = invoices["alpha"], invoices["beta"], invoices["gamma"]
    due = date.fromisoformat(alpha["due_date"])
    world.emulator.transfer(str(total(gamma)), reference=gamma["number"], settled_at=settled_days_ago(world, 1))
    world.emulator.transfer("3.00", reference=beta["number"], settled_at=settled_days_ago(world, 1))

    async def pay() -> None:
        async with world.qonto.connection().open() as client:
            await payment_pass(client, world.billing.ledger(), timezone="Europe/Paris")

    asyncio.run(pay())

    early = _pass(world, due + timedelta(days=6))
    assert early.reminders == [] and _sent(world) == []
    assert {i.invoice_number: i.bucket for i in early.items} == {alpha["number"]: "1-30", beta["number"]: "1-30"}
    assert {i.invoice_number: str(i.outstanding) for i in early.items}[beta["number"]] == str(total(beta) - 3)

    week = _pass(world, due + timedelta(days=8))
    # Qonto numbers invoices in the order they are finalized (concurrently): compare sorted to sorted
    assert sorted((r.invoice_number, r.days_after_due, r.state) for r in week.reminders) == sorted([
        (alpha["number"], 7, "sent"), (beta["number"], 7, "sent")
    ])  # fmt: skip
    sent = world.emulator.state()["sent_emails"]
    assert {e["number"] for e in sent} == {alpha["number"], beta["number"]}  # never the paid gamma
    assert all(e["to"] == [f"compta@{c}.example.fr"] for e, c in zip(sorted(sent, key=lambda e: e["number"]),
               sorted(["alpha", "beta"], key=lambda c: invoices[c]["number"]), strict=True))  # fmt: skip
    assert _pass(world, due + timedelta(days=9)).reminders == []  # a re-run sends nothing
    assert len(_sent(world)) == 2

    # the 30-day email of alpha leaves, but Qonto answers a 5xx: unknown, never sent again
    # (a 5xx after commit, not lost_response: the status line of a 204 is already a whole answer)
    world.emulator.queue_fault("server_error", "POST", rf"^/v2/client_invoices/{alpha['id']}/send$", commit=True)
    month = _pass(world, due + timedelta(days=31))
    assert sorted((r.invoice_number, r.days_after_due, r.state) for r in month.reminders) == sorted([
        (alpha["number"], 30, "unknown"), (beta["number"], 30, "sent")
    ])  # fmt: skip
    assert _pass(world, due + timedelta(days=32)).reminders == []
    numbers = [n for n, _ in _sent(world)]
    assert numbers.count(alpha["number"]) == 2 and numbers.count(beta["number"]) == 2
    assert {c.customer for c in month.customers} == {"alpha", "beta"}
    assert month.totals["31-60"] == total(alpha) + total(beta) - 3
