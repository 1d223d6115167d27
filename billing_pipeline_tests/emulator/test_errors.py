"""401/404/412/422 answers: Qonto's error envelope, a trace id, and the field named by a pointer."""

from __future__ import annotations

import httpx
import pytest

from billing_pipeline.emulator.seed import SECOND_IBAN
from billing_pipeline.emulator.testing import RunningEmulator

from .helpers import assert_error, client_body, create_client, create_invoice, finalize, invoice_body, item


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "missing"),
        ("emulator-org:wrong-secret", "invalid API key"),
        ("Basic ZW11bGF0b3Itb3JnOmVtdWxhdG9yLWxvY2FsLXNlY3JldA==", "without the Basic scheme"),
        ("Bearer not-a-token", "invalid or expired"),
    ],
)
def test_401_without_valid_credentials(emulator: RunningEmulator, authorization: str | None, detail: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = httpx.get(f"{emulator.base_url}/v2/organization", headers=headers)

    assert_error(response, 401, "unauthorized", detail=detail)


def test_404_for_unknown_ids_and_routes(api: httpx.Client) -> None:
    missing = "00000000-0000-4000-8000-000000000000"

    assert_error(api.get(f"/v2/client_invoices/{missing}"), 404, "not_found", detail=f"client invoice {missing}")
    assert_error(api.get(f"/v2/clients/{missing}"), 404, "not_found", detail=f"client {missing}")
    assert_error(api.get(f"/v2/attachments/{missing}"), 404, "not_found", detail=f"attachment {missing}")
    assert_error(api.post(f"/v2/client_invoices/{missing}/finalize"), 404, "not_found")
    assert_error(api.get("/v2/quotes"), 404, "not_found", detail="no such endpoint: GET /v2/quotes")


def test_412_when_editing_or_deleting_a_finalized_invoice(api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api)["id"])

    assert_error(
        api.patch(f"/v2/client_invoices/{invoice['id']}", json={"header": "changed"}),
        412,
        "invoice_not_in_draft_status",
        detail="this invoice is unpaid",
    )
    assert_error(api.delete(f"/v2/client_invoices/{invoice['id']}"), 412, "invoice_not_in_draft_status")
    assert api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]["header"] is None


@pytest.mark.parametrize(
    ("items", "code", "pointer", "detail"),
    [
        (
            [item(unit_price={"value": "0.00001234", "currency": "EUR"})],
            "too_many_decimals",
            "/data/attributes/items/0/unit_price",
            "more than 6 decimals",
        ),
        (
            [item(), item(unit_price={"value": 12.5, "currency": "EUR"})],
            "invalid_decimal",
            "/data/attributes/items/1/unit_price",
            "decimal string",
        ),
        (
            [item(unit_price={"value": "1", "currency": "USD"})],
            "not_in_list",
            "/data/attributes/items/0/unit_price",
            "EUR",
        ),
        ([item(quantity="0")], "invalid_quantity", "/data/attributes/items/0/quantity", "positive"),
        ([item(quantity="1.23456")], "too_many_decimals", "/data/attributes/items/0/quantity", "4 decimals"),
        ([item(vat_rate="20")], "not_in_list", "/data/attributes/items/0/vat_rate", "fraction"),
        ([item(vat_rate="0")], "required", "/data/attributes/items/0/vat_exemption_reason", "vat_rate is 0"),
        ([item(title="x" * 41)], "too_long", "/data/attributes/items/0/title", "at most 40"),
        (
            [item(discount={"type": "percentage", "value": "2"})],
            "invalid_discount",
            "/data/attributes/items/0/discount/value",
            "fraction",
        ),
        ([item(colour="red")], "unknown_field", "/data/attributes/items/0/colour", "Extra inputs"),
        ([], "blank", "/data/attributes/items", "at least 1"),
    ],
)
def test_422_names_the_rejected_item_field(
    api: httpx.Client, items: list[dict[str, object]], code: str, pointer: str, detail: str
) -> None:
    client_id = create_client(api)["id"]

    response = api.post("/v2/client_invoices", json=invoice_body(client_id, items=items))

    assert_error(response, 422, code, pointer=pointer, detail=detail)
    assert api.get("/v2/client_invoices").json()["meta"]["total_count"] == 0


def test_422_invoice_level_rules(api: httpx.Client) -> None:
    client_id = create_client(api)["id"]

    def post(**overrides: object) -> httpx.Response:
        return api.post("/v2/client_invoices", json=invoice_body(client_id, **overrides))

    assert_error(
        post(payment_methods={}),
        422,
        "invalid_iban",
        detail="IBAN is empty",
        pointer="/data/attributes/payment_methods/iban",
    )
    assert_error(
        post(payment_methods={"iban": "FR7630006000011234567890189"}),
        422,
        "invalid_iban",
        detail="not one of the organization's",
        pointer="/data/attributes/payment_methods/iban",
    )
    assert_error(post(due_date="2026-01-15"), 422, "invalid_date", pointer="/data/attributes/due_date")
    assert_error(post(issue_date="01/02/2026"), 422, "invalid_date", pointer="/data/attributes/issue_date")
    assert_error(post(currency="USD"), 422, "not_in_list", pointer="/data/attributes/currency")
    assert_error(post(status="paid"), 422, "not_in_list", pointer="/data/attributes/status")
    assert_error(
        api.post("/v2/client_invoices", json=invoice_body("nope")),
        422,
        "not_found",
        pointer="/data/attributes/client_id",
    )
    assert_error(
        post(welfare_fund={"type": "TC01"}), 422, "not_supported_by_emulator", pointer="/data/attributes/welfare_fund"
    )
    body = invoice_body(client_id)
    del body["due_date"]
    assert_error(api.post("/v2/client_invoices", json=body), 422, "required", pointer="/data/attributes/due_date")
    assert_error(api.post("/v2/client_invoices", content=b""), 422, "invalid_body", detail="EOF")
    assert_error(api.post("/v2/client_invoices", content=b"{oops"), 422, "invalid_body", detail="not valid JSON")
    # the second account of the organization is a valid choice
    assert post(payment_methods={"iban": SECOND_IBAN}).status_code == 201


def test_422_when_the_client_cannot_be_invoiced(api: httpx.Client) -> None:
    no_currency = create_client(api, currency=None)
    no_address = create_client(api, billing_address={"street_address": "1 rue A", "country_code": "FR"})
    no_locale = create_client(api, locale=None)

    assert_error(
        api.post("/v2/client_invoices", json=invoice_body(no_currency["id"])),
        422,
        "client_missing_currency",
        pointer="/data/attributes/currency",
    )
    assert_error(
        api.post("/v2/client_invoices", json=invoice_body(no_address["id"])),
        422,
        "client_missing_address",
        detail="city, zip_code",
        pointer="/data/attributes/client_id",
    )
    assert_error(
        api.post("/v2/client_invoices", json=invoice_body(no_locale["id"])),
        422,
        "client_missing_locale",
        pointer="/data/attributes/client_id",
    )
    # Qonto's documented remedy: update the client, then retry
    api.patch(f"/v2/clients/{no_currency['id']}", json={"currency": "EUR"})
    assert api.post("/v2/client_invoices", json=invoice_body(no_currency["id"])).status_code == 201


def test_422_client_rules(api: httpx.Client) -> None:
    assert_error(api.post("/v2/clients", json=client_body(kind=None)), 422, "required", pointer="/data/attributes/kind")
    assert_error(api.post("/v2/clients", json=client_body(name=None)), 422, "required", pointer="/data/attributes/name")
    assert_error(
        api.post("/v2/clients", json=client_body(kind="individual", first_name="Ann")),
        422,
        "required",
        pointer="/data/attributes/last_name",
    )
    assert_error(
        api.post("/v2/clients", json=client_body(email="not-an-email")),
        422,
        "invalid_email",
        pointer="/data/attributes/email",
    )
    assert_error(
        api.post("/v2/clients", json=client_body(locale="xx")), 422, "not_in_list", pointer="/data/attributes/locale"
    )
    assert_error(
        api.post("/v2/clients", json=client_body(billing_address={"country_code": "FRA"})),
        422,
        "invalid_country_code",
        pointer="/data/attributes/billing_address/country_code",
    )
