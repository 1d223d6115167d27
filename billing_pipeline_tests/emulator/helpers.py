"""Request bodies and assertions shared by the emulator tests."""

from __future__ import annotations

from typing import Any

import httpx

from billing_pipeline.emulator.seed import MAIN_IBAN


def client_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "company",
        "name": "Acme Analytics SAS",
        "email": "billing@acme.test",
        "currency": "EUR",
        "locale": "FR",
        "tax_identification_number": "732829320",
        "vat_number": "FR44732829320",
        "billing_address": {
            "street_address": "10 quai de la Charente",
            "city": "Paris",
            "zip_code": "75019",
            "country_code": "FR",
        },
    }
    body.update(overrides)
    return body


def item(**overrides: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "title": "API calls",
        "description": "1 250 000 calls at 0.0004 EUR",
        "quantity": "1250000",
        "unit": "unit",
        "unit_price": {"value": "0.0004", "currency": "EUR"},
        "vat_rate": "0.2",
    }
    line.update(overrides)
    return line


def invoice_body(client_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": client_id,
        "issue_date": "2026-02-01",
        "due_date": "2026-03-03",
        "performance_start_date": "2026-01-01",
        "performance_end_date": "2026-01-31",
        "status": "draft",
        "currency": "EUR",
        "payment_methods": {"iban": MAIN_IBAN},
        "purchase_order": "BP-2026-01-acme",
        "items": [item()],
    }
    body.update(overrides)
    return body


def create_client(api: httpx.Client, **overrides: Any) -> dict[str, Any]:
    response = api.post("/v2/clients", json=client_body(**overrides))
    assert response.status_code == 201, response.text
    client: dict[str, Any] = response.json()["client"]
    return client


def create_invoice(api: httpx.Client, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    if client_id is None:
        client_id = create_client(api)["id"]
    response = api.post("/v2/client_invoices", json=invoice_body(client_id, **overrides))
    assert response.status_code == 201, response.text
    invoice: dict[str, Any] = response.json()["client_invoice"]
    return invoice


def finalize(api: httpx.Client, invoice_id: str) -> dict[str, Any]:
    response = api.post(f"/v2/client_invoices/{invoice_id}/finalize")
    assert response.status_code == 200, response.text
    invoice: dict[str, Any] = response.json()["client_invoice"]
    return invoice


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    *,
    detail: str | None = None,
    pointer: str | None = None,
    parameter: str | None = None,
) -> dict[str, Any]:
    """Qonto's error envelope: the first error matches; trace_id equals the X-Tyk-Trace-Id header."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["trace_id"], body
    assert response.headers["X-Tyk-Trace-Id"] == body["trace_id"]
    error = body["errors"][0]
    assert error["code"] == code, body
    if detail is not None:
        assert detail in error["detail"], body
    if pointer is not None:
        assert error["source"].get("pointer") == pointer, body
    if parameter is not None:
        assert error["source"].get("parameter") == parameter, body
    return body
