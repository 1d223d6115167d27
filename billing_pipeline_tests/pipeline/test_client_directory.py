"""Finding clients at scale: one listing instead of per-customer searches, same identity rules."""

from __future__ import annotations

import csv

import dagster as dg
import sqlalchemy as sa

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.invoicing.clients.directory import ClientDirectory
from billing_pipeline.invoicing.ledger import client_links
from billing_pipeline.qonto.models import Client
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.small_world import PERIOD, Person, failure_text, materialize
from billing_pipeline_tests.pipeline.test_identity_and_recovery import CLIENTS


def _client(client_id: str, **fields: str) -> Client:
    return Client.model_validate({"id": client_id, "kind": "company", "name": "X", **fields})


def test_the_directory_answers_like_qontos_filters_without_case_or_spaces() -> None:
    directory = ClientDirectory(
        [
            _client("a", email="Compta@Example.fr", tax_identification_number="253 600 605"),
            _client("b", email="other@example.fr", vat_number="FR78253600605"),
            _client("c", email="compta@example.fr"),
        ]
    )
    assert {c.id for c in directory.search(email="compta@example.FR")} == {"a", "c"}
    assert [c.id for c in directory.search(tax_identification_number="253600605")] == ["a"]
    assert [c.id for c in directory.search(vat_number="fr 78 253 600 605")] == ["b"]
    assert directory.search(email="") == [] and directory.search(vat_number="FR00000000000") == []
    assert directory.get("b") is not None and directory.get("z") is None and len(directory) == 3


def _client_searches(world: PipelineWorld) -> int:
    return world.emulator.stats()["requests"].get("GET /v2/clients", 0)


def test_many_new_customers_cost_one_listing_not_a_search_each(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    with (world.data_dir / "customers.csv").open(encoding="utf-8") as rows:
        table = list(csv.DictReader(rows))
    # every customer billed in the period gets a client (cus_fr_017's subscription starts later)
    customers = len(plan_period(PERIOD, world.data_dir).invoices)
    assert customers >= 20
    # a person created one of our customers in Qonto by hand already, with another email: the
    # SIREN decides, exactly as a search would have
    first = next(row for row in table if row["kind"] == "company" and row["tax_identification_number"])
    person = Person(world)
    try:
        by_hand = person.create_client(
            kind="company", name=first["name"], email="accounts@elsewhere.example",
            tax_identification_number=first["tax_identification_number"], currency="EUR", locale="fr",
            billing_address={"street_address": "1 rue X", "city": "Paris", "zip_code": "75001", "country_code": "FR"},
        )  # fmt: skip
    finally:
        person.close()
    searches_before = _client_searches(world)

    result = materialize(world, instance, CLIENTS)
    assert result.success, failure_text(result)
    assert _client_searches(world) - searches_before == 1  # one page of 100 clients
    links = world.billing.ledger().client_links()
    assert links[first["customer_id"]].client_id == by_hand["id"]
    clients = world.emulator.state()["clients"]
    assert len(clients) == customers  # one each, the hand-made one adopted

    # a lost ledger: every client is found again from one listing, none created
    with world.billing.ledger().engine.begin() as connection:
        connection.execute(sa.delete(client_links))
    searches_before = _client_searches(world)
    result = materialize(world, instance, CLIENTS)
    assert result.success, failure_text(result)
    assert _client_searches(world) - searches_before == 1
    assert len(world.emulator.state()["clients"]) == customers
    assert world.billing.ledger().client_links()[first["customer_id"]].client_id == by_hand["id"]
