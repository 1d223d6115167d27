"""The period's Qonto listing is read once per run and shared by the run's steps (issue 21): later
steps ask Qonto only for what changed, and still see every change a person made meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.defs.services import draft_synchronizer
from billing_pipeline.invoicing.errors import DraftDeletedInQonto
from billing_pipeline.invoicing.finalization.service import finalize_period
from billing_pipeline.invoicing.invoices.qonto_index import PeriodIndex, index_period
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.small_world import (
    PERIOD,
    UP_TO_DRAFTS,
    UP_TO_FINALIZED,
    Company,
    Person,
    failure_text,
    materialize,
    write_customers,
    write_usage,
)

ALPHA = Company("alpha", siren="253600605")
BETA = Company("beta", name="Beta SARL", email="b@beta.example.fr", siren="493375109")
TIMEZONE = "Europe/Paris"
CORRECTIONS = BILLING_ASSETS[6]  # invoice_corrections


@pytest.fixture
def person(world: PipelineWorld) -> Iterator[Person]:
    write_customers(world, [ALPHA, BETA])
    write_usage(world, {"alpha": 100, "beta": 200})
    someone = Person(world)
    yield someone
    someone.close()


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How each listing of client invoices was asked for: "whole" (created since the period began)
    or "changes" (updated since the shared copy was read), one entry per listing (page 1)."""
    asked: list[str] = []
    original = QontoClient.list_client_invoices

    async def spy(self: QontoClient, **kwargs: Any) -> Any:
        if kwargs.get("page", 1) == 1:
            asked.append("changes" if kwargs.get("updated_at_from") else "whole")
        return await original(self, **kwargs)

    monkeypatch.setattr(QontoClient, "list_client_invoices", spy)
    return asked


def _state(index: PeriodIndex) -> dict[str, list[tuple[str, str, str | None, list[str]]]]:
    return {
        str(reference): [(i.id, i.status, i.client_id, [str(item.quantity) for item in i.items]) for i in invoices]
        for reference, invoices in index.by_reference.items()
    }


def test_one_run_lists_the_period_whole_once_and_then_only_what_changed(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person, listings: list[str]
) -> None:
    result = materialize(world, instance, UP_TO_FINALIZED)
    assert result.success, failure_text(result)
    assert listings[0] == "whole" and set(listings[1:]) == {"changes"}, listings
    assert len(listings) >= 2  # drafts, then finalization: one shared listing
    assert {person.invoice_of(c)["status"] for c in ("alpha", "beta")} == {"unpaid"}
    listings.clear()
    # another run (corrections: finalizes again and reconciles) lists whole once, then changes
    result = materialize(world, instance, [CORRECTIONS])
    assert result.success, failure_text(result)
    assert listings[0] == "whole" and set(listings[1:]) <= {"changes"}, listings
    assert len([i for i in person.invoices() if i["status"] != "canceled"]) == 2  # one invoice per customer


def test_changes_a_person_makes_between_steps_are_in_the_shared_listing(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person, listings: list[str]
) -> None:
    assert materialize(world, instance, UP_TO_DRAFTS).success
    listings.clear()
    ledger = world.billing.ledger()
    shared = ledger.shared_listing("run-1", in_flight_grace_s=world.billing.in_flight_grace_s)
    period = BillingPeriod.parse(PERIOD)

    async def scenario() -> tuple[PeriodIndex, PeriodIndex, PeriodIndex]:
        async with world.qonto.connection().open() as qonto:
            first = await index_period(qonto, period, TIMEZONE, shared=shared)
            person.edit_first_line_quantity(person.invoice_of("alpha")["id"], "7")  # a person edits a draft
            beta = person.invoice_of("beta")
            moved = person.http.patch(  # and moves another one's header to another period: it leaves this index
                f"/v2/client_invoices/{beta['id']}",
                json={"header": beta["header"].replace(f"BP-{PERIOD}-", "BP-2026-09-")},
            )
            moved.raise_for_status()
            second = await index_period(qonto, period, TIMEZONE, shared=shared)
            whole = await index_period(qonto, period, TIMEZONE)  # unshared: the period listed whole
            return first, second, whole

    first, second, whole = asyncio.run(scenario())
    assert listings == ["whole", "changes", "whole"]
    assert len(first.by_reference) == 2
    assert _state(second) == _state(whole)  # what changed is merged: equal to a fresh listing
    [alpha] = [invoices for reference, invoices in second.by_reference.items() if reference.customer_id == "alpha"]
    assert str(alpha[0].items[0].quantity) == "7"
    assert {reference.customer_id for reference in second.by_reference} == {"alpha"}
    assert second.listed == 2  # the changes (both drafts changed within the margin)
    # another run does not read this run's copy
    other = ledger.shared_listing("run-2", in_flight_grace_s=world.billing.in_flight_grace_s)
    assert other is not None and other.load(period) is None and shared is not None and shared.load(period)


def test_a_draft_deleted_between_steps_fails_the_step_and_its_retry_lists_whole(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person, listings: list[str]
) -> None:
    """A listing of changes cannot show a deletion: the step acting on the deleted draft fails, drops
    the shared copy, and the drafts step run again (as after any deleted draft) lists the period
    whole, sees the deletion and drafts the customer again: one invoice per customer, finalized."""
    assert materialize(world, instance, UP_TO_DRAFTS).success
    period = BillingPeriod.parse(PERIOD)
    plan = plan_period(PERIOD, world.data_dir)

    async def scenario() -> None:
        async with draft_synchronizer(world.qonto, world.billing, run_key="run-1") as synchronizer:
            assert synchronizer.shared_listing is not None
            await index_period(synchronizer.qonto, period, TIMEZONE, shared=synchronizer.shared_listing)
            deleted = person.invoice_of("beta")["id"]
            person.http.delete(f"/v2/client_invoices/{deleted}").raise_for_status()
            with pytest.raises(DraftDeletedInQonto) as failure:
                await finalize_period(synchronizer, plan)
            assert failure.value.customer_id == "beta"
            assert "no longer in Qonto" in str(failure.value) and "re-materialize draft_invoices" in str(failure.value)
            assert synchronizer.shared_listing.load(period) is None  # dropped: the retry lists whole
            listings.clear()
            links = synchronizer.ledger.client_links()
            await synchronizer.sync(plan, {c: link.client_id for c, link in links.items() if link.client_id})
            assert listings[0] == "whole"
            report = await finalize_period(synchronizer, plan)
            assert listings[1:] and set(listings[1:]) == {"changes"}
            assert sorted(i.customer_id for i in report.invoices) == ["alpha", "beta"]

    asyncio.run(scenario())
    live = [i for i in person.invoices() if i["status"] != "canceled"]
    assert sorted(i["status"] for i in live) == ["unpaid", "unpaid"]  # one invoice per customer, beta re-drafted
