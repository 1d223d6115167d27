"""Money safety when a person acts in Qonto between runs: edits a draft, cancels an invoice, copies a
reference onto another client's invoice (issue 11, cases 1, 3, 4)."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import pytest

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.defs.resources import BillingResource
from billing_pipeline.invoicing.ledger import InvoiceState
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.small_world import (
    PERIOD,
    UP_TO_DRAFTS,
    Company,
    Person,
    failed_checks,
    failure_text,
    materialize,
    write_customers,
    write_usage,
)

FINALIZE = [BILLING_ASSETS[3]]
ALPHA, BETA = Company("alpha", siren="253600605"), Company("beta", name="Beta SARL", email="b@beta.example.fr",
                                                            siren="493375109")  # fmt: skip


@pytest.fixture
def person(world: PipelineWorld):
    write_customers(world, [ALPHA, BETA])
    write_usage(world, {"alpha": 100, "beta": 200})
    someone = Person(world)
    yield someone
    someone.close()


def _total(invoice: dict) -> Decimal:
    return Decimal(invoice["total_amount"]["value"])


def test_review_mode_finalizes_usage_corrected_after_drafting_at_the_new_amount(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person
) -> None:
    """Case 3a: drafts are reviewed, then usage is corrected; finalizing must not use the stale amount."""
    assert materialize(world, instance, UP_TO_DRAFTS).success
    stale = _total(person.invoice_of("alpha"))
    write_usage(world, {"alpha": 700, "beta": 200})  # late events arrive before a person finalizes
    corrected = {i.customer.customer_id: i.total for i in plan_period(PERIOD, world.data_dir).invoices}
    assert corrected["alpha"] != stale

    result = materialize(world, instance, FINALIZE)
    assert result.success, failure_text(result)
    alpha = person.invoice_of("alpha")
    assert alpha["status"] == "unpaid" and _total(alpha) == corrected["alpha"]
    assert _total(person.invoice_of("beta")) == corrected["beta"]
    report = result.output_for_node("finalized_invoices")
    assert report.synced_first == ["alpha"]


def test_review_mode_refuses_a_draft_a_person_edited_and_names_the_difference(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person
) -> None:
    """Case 3b: an amount the plan never had is never finalized."""
    assert materialize(world, instance, UP_TO_DRAFTS).success
    edited = person.invoice_of("beta")
    person.edit_first_line_quantity(edited["id"], "3")

    result = materialize(world, instance, FINALIZE)
    assert not result.success
    message = failure_text(result)
    assert "customer beta" in message and "edited in Qonto" in message
    assert "line 1 quantity: plan 1, Qonto 3" in message
    assert person.get(edited["id"])["status"] == "draft"  # not finalized at the edited amount
    assert person.invoice_of("alpha")["status"] == "unpaid"  # the others are not held hostage
    # re-drafting restores the plan; then it finalizes
    assert materialize(world, instance, UP_TO_DRAFTS).success
    assert materialize(world, instance, FINALIZE).success
    assert person.get(edited["id"])["status"] == "unpaid"


def test_an_invoice_canceled_in_qonto_is_not_billed_and_fails_the_check_by_name(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person
) -> None:
    """Case 4: after a person cancels, the checks must not pass as if the customer were billed."""
    assert materialize(world, instance).success
    canceled = person.invoice_of("alpha")
    person.cancel(canceled["id"])

    result = materialize(world, instance)
    failed = failed_checks(result)
    assert "every_planned_customer_billed" in failed
    assert failed["every_planned_customer_billed"].severity == dg.AssetCheckSeverity.ERROR
    assert "alpha" in str(failed["every_planned_customer_billed"].metadata["not_billed"].value)
    assert world.billing.ledger().invoice("alpha", PERIOD).state == InvoiceState.CANCELED
    live = [i for i in person.invoices() if i["status"] != "canceled"]
    assert len(live) == 1  # nothing re-issued silently


def test_a_canceled_invoice_is_reissued_once_when_the_setting_says_so(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person
) -> None:
    assert materialize(world, instance).success
    person.cancel(person.invoice_of("alpha")["id"])
    world.billing = BillingResource(
        data_dir=world.billing.data_dir,
        invoices_dir=world.billing.invoices_dir,
        state_dir=world.billing.state_dir,
        timezone=world.billing.timezone,
        in_flight_grace_s=world.billing.in_flight_grace_s,
        reissue_canceled=True,
    )

    for _ in range(2):  # re-issued once, then adopted: never a third invoice
        result = materialize(world, instance)
        assert result.success and not failed_checks(result)
    alpha = [i for i in person.invoices() if f"BP-{PERIOD}-alpha " in i["header"]]
    assert sorted(i["status"] for i in alpha) == ["canceled", "unpaid"]
    record = world.billing.ledger().invoice("alpha", PERIOD)
    # finalized (its file may already be collected while finalizing)
    assert record.state in {InvoiceState.FINALIZED, InvoiceState.STORED} and record.canceled_ids() == [
        canceled["id"] for canceled in alpha if canceled["status"] == "canceled"
    ]


def test_an_invoice_of_another_client_carrying_our_reference_is_never_adopted_or_changed(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person
) -> None:
    """Case 1: only the customer's linked client's invoices are adopted, updated or deleted."""
    stranger = person.create_client(
        kind="company", name="Stranger SAS", email="x@stranger.example.fr", currency="EUR", locale="fr",
        billing_address={"street_address": "1 rue X", "city": "Paris", "zip_code": "75001", "country_code": "FR"},
    )  # fmt: skip
    organization = person.http.get("/v2/organization").json()["organization"]
    iban = organization["bank_accounts"][0]["iban"]
    copied = person.create_invoice(
        {
            "client_id": stranger["id"],
            "issue_date": "2026-11-03",
            "due_date": "2026-12-03",
            "currency": "EUR",
            "payment_methods": {"iban": iban},
            "header": f"Billing reference: BP-{PERIOD}-alpha — usage for October 2026",
            "items": [{"title": "Consulting", "quantity": "1", "unit_price": {"value": "999.00", "currency": "EUR"},
                       "vat_rate": "0.2"}],
        }
    )  # fmt: skip

    result = materialize(world, instance, UP_TO_DRAFTS)
    assert result.success, failure_text(result)
    untouched = person.get(copied["id"])
    assert untouched["status"] == "draft" and _total(untouched) == Decimal("1198.80")
    carrying = [i["id"] for i in person.invoices() if "BP-2026-10-alpha " in i["header"]]
    ours = world.billing.ledger().invoice("alpha", PERIOD).invoice_id
    assert len(carrying) == 2 and ours in carrying and ours != copied["id"]
    assert person.get(ours)["client"]["id"] != stranger["id"]
    report = result.output_for_node("draft_invoices")
    assert report.foreign_invoices == {f"BP-{PERIOD}-alpha": [copied["id"]]}


def test_a_customer_id_outside_the_rule_is_refused_before_any_qonto_call(
    world: PipelineWorld, instance: dg.DagsterInstance, person: Person
) -> None:
    """Case 1: ``acme x`` would read back as ``acme``'s reference: refused, naming file, row and field."""
    write_customers(world, [Company("acme"), Company("acme x", siren="493375109", email="x@acme.example.fr")])
    write_usage(world, {"acme": 10, "acme x": 20})
    result = materialize(world, instance)
    assert not result.success
    message = failure_text(result)
    assert "customers.csv" in message and "line 3" in message and "customer_id" in message
    assert "invalid customer id 'acme x'" in message
    assert person.invoices() == [] and world.emulator.state()["clients"] == []
