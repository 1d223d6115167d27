"""Money safety when the data or the ledger's view of Qonto changes between runs (issue 11, cases 5, 6,
7, 9, 10): client identity, unresolved intents, clocks, and a Qonto that does not know our invoices."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from billing_pipeline.defs.resources import QontoResource
from billing_pipeline.emulator.testing import running_emulator
from billing_pipeline.invoicing.in_flight import in_flight_wait_s
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import InvoiceState, client_links
from billing_pipeline.invoicing.payloads import customer_digest
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS
from billing_pipeline_tests.pipeline.conftest import IN_FLIGHT_GRACE_S, PipelineWorld
from billing_pipeline_tests.pipeline.small_world import (
    PERIOD,
    Company,
    Person,
    failure_text,
    materialize,
    write_customers,
    write_usage,
)

CLIENTS = BILLING_ASSETS[:2]


def _clients(world: PipelineWorld) -> list[dict]:
    return list(world.emulator.state()["clients"])


def test_two_companies_sharing_a_mailbox_and_a_name_get_one_client_each(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    """Case 5: the second subsidiary signs up later; same mailbox and trading name, another VAT number —
    the first one's client must not be adopted."""
    first = Company("sub-berlin", name="Gruppe Test", email="ap@gruppe.example.de", siren=None, country="DE",
                    vat="DE823637141")  # fmt: skip
    second = Company("sub-munich", name="Gruppe Test", email="ap@gruppe.example.de", siren=None, country="DE",
                     vat="DE504150560")  # fmt: skip
    write_customers(world, [first])
    write_usage(world, {"sub-berlin": 10})
    assert materialize(world, instance, period="2026-09").success
    write_customers(world, [first, second])
    write_usage(world, {"sub-berlin": 10, "sub-munich": 20})

    result = materialize(world, instance)
    assert result.success, failure_text(result)
    links = world.billing.ledger().client_links()
    assert links["sub-berlin"].client_id != links["sub-munich"].client_id
    by_id = {c["id"]: c for c in _clients(world)}
    assert by_id[links["sub-munich"].client_id]["vat_number"] == "DE504150560"
    assert by_id[links["sub-berlin"].client_id]["vat_number"] == "DE823637141"


def test_companies_without_identifiers_never_share_a_linked_client(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    """Case 5 without SIREN/VAT: email + name match, but a client linked to another customer is not adopted."""
    first = Company("be-one", name="Studio Test", email="ap@studio.example.be", siren=None, country="BE")
    second = Company("be-two", name="Studio Test", email="ap@studio.example.be", siren=None, country="BE")
    write_customers(world, [first])
    write_usage(world, {"be-one": 10})
    assert materialize(world, instance, CLIENTS).success
    write_customers(world, [first, second])
    write_usage(world, {"be-one": 10, "be-two": 20})
    result = materialize(world, instance, CLIENTS)
    assert result.success, failure_text(result)
    links = world.billing.ledger().client_links()
    assert links["be-one"].client_id != links["be-two"].client_id
    assert len(_clients(world)) == 2


def test_a_lost_client_create_is_found_by_the_intents_identifiers_after_the_email_changed(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    """Case 6: the lost create used the old email; searching only today's email would create a twin."""
    old = Company("acme", name="Acme SAS", email="old@acme.example.fr", siren="796061109")
    person = Person(world)
    try:
        # the create reached Qonto but its answer was lost, and the run died before looking again
        person.create_client(
            kind="company", name="Acme SAS", email="old@acme.example.fr", currency="EUR", locale="fr",
            tax_identification_number="796061109", vat_number="FR77796061109",
            billing_address={"street_address": "1 rue de la Paix", "city": "Paris", "zip_code": "75002",
                             "country_code": "FR"},
        )  # fmt: skip
    finally:
        person.close()
    from billing_pipeline.billing.customers import load_customers

    write_customers(world, [old])
    customer = load_customers(world.data_dir / "customers.csv")["acme"]
    world.billing.ledger().record_client_intent(
        "acme", customer.email, customer_digest(customer), tax_identification_number="796061109",
        vat_number="FR77796061109",
    )  # fmt: skip
    # then the finance team corrects the email
    write_customers(world, [Company("acme", name="Acme SAS", email="billing@acme.example.fr", siren="796061109")])
    write_usage(world, {"acme": 10})

    result = materialize(world, instance, CLIENTS)
    assert result.success, failure_text(result)
    clients = [c for c in _clients(world) if c.get("tax_identification_number") == "796061109"]
    assert len(clients) == 1
    assert clients[0]["email"] == "billing@acme.example.fr"  # adopted, then updated to the new email


def test_an_unresolved_intent_of_a_customer_no_longer_billed_does_not_block_the_period(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    """Case 7: the intent is waited out, found absent, and abandoned; the period finalizes."""
    write_customers(world, [Company("stays"), Company("leaves", siren="493375109", email="l@leaves.example.fr")])
    write_usage(world, {"stays": 10, "leaves": 20})
    assert materialize(world, instance, CLIENTS).success
    ledger = world.billing.ledger()
    leaving_client = ledger.client_link("leaves").client_id
    # a create for "leaves" whose outcome is unknown (the run died), then the customer leaves the list
    ledger.record_invoice_intent(InvoiceReference.of("leaves", PERIOD), leaving_client)
    write_customers(world, [Company("stays")])
    write_usage(world, {"stays": 10})

    result = materialize(world, instance)
    assert result.success, failure_text(result)
    assert ledger.invoice("leaves", PERIOD).state == InvoiceState.ABANDONED
    assert ledger.invoice("stays", PERIOD).state in {InvoiceState.FINALIZED, InvoiceState.STORED}
    again = materialize(world, instance)  # and it stays that way
    assert again.success, failure_text(again)


def test_a_404_on_an_invoice_the_ledger_knows_as_finalized_never_re_creates_it(
    world: PipelineWorld, instance: dg.DagsterInstance, tmp_path
) -> None:
    """Case 10: a numbered invoice cannot vanish from Qonto; a 404 means another organization."""
    write_customers(world, [Company("acme")])
    write_usage(world, {"acme": 10})
    assert materialize(world, instance).success
    with running_emulator(render_delay_s=0.5, state_path=tmp_path / "other-org.sqlite") as other:
        world.qonto = QontoResource(
            mode="custom", base_url=other.base_url, api_key=other.api_key, state_dir=world.qonto.state_dir
        )
        # the other organization has the customer's client by identifiers, but not our invoice
        result = materialize(world, instance)
        assert not result.success
        message = failure_text(result)
        assert "customer acme" in message and "404" in message and "nothing was re-created" in message
        assert other.state()["client_invoices"] == []


def test_in_flight_waits_use_one_clock_and_are_clamped_to_the_grace() -> None:
    """Case 9: the wait is computed on the ledger database's clock and never exceeds the grace."""
    now = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
    assert in_flight_wait_s([now - timedelta(seconds=10)], 60, now) == 50
    assert in_flight_wait_s([now - timedelta(hours=2)], 60, now) == 0
    # an intent stamped hours "in the future" (a skewed clock) never holds the period lock for hours
    assert in_flight_wait_s([now + timedelta(hours=3)], 60, now) == 60
    assert in_flight_wait_s([], 60, now) == 0


def test_a_client_intent_made_by_a_writer_with_a_clock_behind_is_still_waited_for(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    """Case 9: an intent stamped by the database a moment ago is young, whatever a writer's clock says."""
    write_customers(world, [Company("acme")])
    write_usage(world, {"acme": 10})
    ledger = world.billing.ledger()
    ledger.record_client_intent("acme", "compta@atelier-test.example.fr", "x")
    with ledger.engine.begin() as connection:
        stamped = connection.execute(sa.select(client_links.c.intent_at)).scalar_one()
    assert abs((ledger.now() - stamped.replace(tzinfo=UTC)).total_seconds()) < 5
    begin = time.monotonic()
    assert materialize(world, instance, CLIENTS).success
    assert time.monotonic() - begin >= IN_FLIGHT_GRACE_S - 1.5  # waited out, not skipped


def test_a_subsidiary_with_its_own_siren_is_never_matched_to_its_sisters_client(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    """Case 5: identifiers decide first — a different SIREN is another company, whatever email and name say."""
    first = Company("sub-paris", name="Groupe Test", email="compta@groupe.example.fr", siren="253600605")
    second = Company("sub-lyon", name="Groupe Test", email="compta@groupe.example.fr", siren="493375109")
    write_customers(world, [first, second])
    write_usage(world, {"sub-paris": 10, "sub-lyon": 20})
    result = materialize(world, instance, CLIENTS)
    assert result.success, failure_text(result)
    by_id = {c["id"]: c for c in _clients(world)}
    links = world.billing.ledger().client_links()
    assert by_id[links["sub-lyon"].client_id]["tax_identification_number"] == "493375109"
    assert by_id[links["sub-paris"].client_id]["tax_identification_number"] == "253600605"
