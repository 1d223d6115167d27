"""Paths, envelopes, money and timestamps as Qonto shapes them (qonto-api.md §3, §8, §9)."""

from __future__ import annotations

from datetime import datetime

import httpx
from stdnum import bic, iban
from stdnum.fr import siren, tva

from billing_pipeline.emulator.seed import MAIN_IBAN

from .helpers import create_client, create_invoice, item


def test_organization_is_an_emulated_french_sas_with_valid_identifiers(api: httpx.Client) -> None:
    response = api.get("/v2/organization")

    assert response.status_code == 200
    assert response.headers["X-Tyk-Trace-Id"]
    organization = response.json()["organization"]
    assert "emulator" in organization["legal_name"].lower()
    assert organization["legal_form"] == "SAS"
    assert organization["address_city"] == "Paris"
    assert siren.is_valid(organization["legal_number"])
    assert tva.is_valid(organization["vat_number"])
    accounts = organization["bank_accounts"]
    assert len(accounts) == 2
    assert [account["main"] for account in accounts].count(True) == 1
    for account in accounts:
        assert iban.is_valid(account["iban"]) and account["iban"].startswith("FR")
        assert bic.is_valid(account["bic"])
        assert account["status"] == "active"


def test_client_create_retrieve_update_envelopes(api: httpx.Client) -> None:
    created = create_client(api, locale="FR")

    assert created["locale"] == "fr"  # Qonto takes "FR" and answers "fr"
    assert created["kind"] == created["type"] == "company"
    # the deprecated root fields mirror billing_address
    assert created["address"] == created["billing_address"]["street_address"] == "10 quai de la Charente"
    assert created["created_at"].endswith("Z")
    fetched = api.get(f"/v2/clients/{created['id']}").json()["client"]
    assert fetched == created

    patched = api.patch(f"/v2/clients/{created['id']}", json={"email": "ap@acme.test", "city": "Lyon"})

    assert patched.status_code == 200
    client = patched.json()["client"]
    assert client["email"] == "ap@acme.test"
    assert client["billing_address"]["city"] == client["city"] == "Lyon"
    assert client["billing_address"]["zip_code"] == "75019"  # merged, not replaced
    assert datetime.fromisoformat(client["updated_at"]) > datetime.fromisoformat(created["updated_at"])


def test_invoice_money_is_decimal_strings_with_cents(api: httpx.Client) -> None:
    invoice = create_invoice(
        api,
        items=[
            item(quantity="3", unit_price={"value": "19.99", "currency": "EUR"}),
            item(title="Support", quantity="1.5", unit_price={"value": "0.333333", "currency": "EUR"}, vat_rate="0.1"),
        ],
    )

    first, second = invoice["items"]
    assert first["subtotal"] == {"value": "59.97", "currency": "EUR"}
    assert first["subtotal_cents"] == 5997
    assert first["total_vat"] == {"value": "11.99", "currency": "EUR"}  # 11.994 rounded
    assert first["total_amount_cents"] == 7196
    assert second["unit_price"] == {"value": "0.333333", "currency": "EUR"}
    assert second["quantity"] == "1.5"
    assert second["vat_rate"] == "0.1"
    assert second["subtotal"]["value"] == "0.50"  # 0.4999995 half-up
    assert invoice["vat_amount"] == {"value": "12.04", "currency": "EUR"}  # 11.99 + 0.05
    assert invoice["total_amount"] == {"value": "72.51", "currency": "EUR"}
    assert invoice["total_amount_cents"] == 7251
    assert invoice["vat_amount_cents"] == 1204


def test_invoice_object_fields(api: httpx.Client) -> None:
    client = create_client(api)
    invoice = create_invoice(api, client["id"], header="Usage for January 2026")

    assert invoice["status"] == "draft"
    assert invoice["number"] is None
    assert invoice["finalized_at"] is None
    assert invoice["attachment_id"]
    assert invoice["header"] == "Usage for January 2026"
    assert invoice["purchase_order"] == "BP-2026-01-acme"
    assert invoice["performance_start_date"] == "2026-01-01"
    assert invoice["client"]["id"] == client["id"]
    assert invoice["client"]["tax_identification_number"] == "732829320"
    # request shape {"iban"} becomes a list of payment methods in the response
    assert invoice["payment_methods"] == [
        {
            "beneficiary_name": "Emulated SaaS SAS (local Qonto emulator)",
            "bic": "QNTOFRP1XXX",
            "iban": MAIN_IBAN,
            "type": "transfer",
        }
    ]
    # invoice timestamps carry the Paris offset, not "Z"
    assert invoice["created_at"][-6:] in ("+01:00", "+02:00")
    assert datetime.fromisoformat(invoice["updated_at"]).tzinfo is not None
    fetched = api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]
    assert fetched == invoice


def test_lists_are_wrapped_in_the_plural_name_with_meta(api: httpx.Client) -> None:
    create_invoice(api)

    clients = api.get("/v2/clients").json()
    invoices = api.get("/v2/client_invoices").json()

    assert set(clients) == {"clients", "meta"}
    assert set(invoices) == {"client_invoices", "meta"}
    assert invoices["meta"] == {
        "current_page": 1,
        "next_page": None,
        "prev_page": None,
        "total_pages": 1,
        "total_count": 1,
        "per_page": 100,
    }
    # the list omits the heavier fields the retrieve endpoint returns
    assert "einvoicing_lifecycle_events" not in invoices["client_invoices"][0]
