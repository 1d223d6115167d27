"""The invoice state machine (qonto-api.md §10) and per-organization numbering."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator

from .helpers import assert_error, client_body, create_client, create_invoice, finalize, invoice_body, item


def test_finalize_numbers_locks_and_freezes_the_invoice(api: httpx.Client) -> None:
    client = create_client(api)
    draft = create_invoice(api, client["id"])

    invoice = finalize(api, draft["id"])

    assert invoice["status"] == "unpaid"
    assert invoice["number"] == "F-2026-00001"
    assert invoice["attachment_id"] == draft["attachment_id"]
    finalized_at = datetime.fromisoformat(invoice["finalized_at"])
    assert finalized_at >= datetime.fromisoformat(draft["created_at"])
    assert invoice["total_amount"] == draft["total_amount"]
    # the client is frozen at finalize; the draft showed it live
    api.patch(f"/v2/clients/{client['id']}", json={"name": "Acme Renamed SAS"})
    assert api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]["client"]["name"] == (
        "Acme Analytics SAS"
    )


def test_numbering_is_a_sequence_in_finalize_order(api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    drafts = [create_invoice(api, client_id) for _ in range(3)]

    numbers = [finalize(api, draft["id"])["number"] for draft in reversed(drafts)]
    created_unpaid = create_invoice(api, client_id, status="unpaid")
    next_year = finalize(api, create_invoice(api, client_id, issue_date="2027-01-05", due_date="2027-02-04")["id"])

    assert numbers == ["F-2026-00001", "F-2026-00002", "F-2026-00003"]
    assert created_unpaid["status"] == "unpaid" and created_unpaid["number"] == "F-2026-00004"
    assert next_year["number"] == "F-2027-00001"


async def test_concurrent_finalizes_get_distinct_consecutive_numbers(emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(
        base_url=emulator.base_url, headers={"Authorization": emulator.api_key}, timeout=30
    ) as api:
        client = (await api.post("/v2/clients", json=client_body())).json()["client"]
        drafts = [
            (await api.post("/v2/client_invoices", json=invoice_body(client["id"]))).json()["client_invoice"]
            for _ in range(12)
        ]
        responses = await asyncio.gather(*(api.post(f"/v2/client_invoices/{draft['id']}/finalize") for draft in drafts))

    numbers = sorted(response.json()["client_invoice"]["number"] for response in responses)
    assert numbers == [f"F-2026-{index:05d}" for index in range(1, 13)]


def test_illegal_transitions_are_422(api: httpx.Client) -> None:
    draft = create_invoice(api)
    invoice_id = draft["id"]

    assert_error(
        api.post(f"/v2/client_invoices/{invoice_id}/mark_as_paid"),
        422,
        "invalid_status_transition",
        detail="a draft invoice cannot be marked as paid",
    )
    assert_error(api.post(f"/v2/client_invoices/{invoice_id}/mark_as_canceled"), 422, "invalid_status_transition")
    finalize(api, invoice_id)
    assert_error(
        api.post(f"/v2/client_invoices/{invoice_id}/finalize"),
        422,
        "invoice_not_in_draft_status",
        detail="this invoice is unpaid",
    )
    assert_error(api.post(f"/v2/client_invoices/{invoice_id}/unmark_as_paid"), 422, "invalid_status_transition")
    assert api.post(f"/v2/client_invoices/{invoice_id}/mark_as_canceled").json()["client_invoice"]["status"] == (
        "canceled"
    )
    # canceled is terminal
    assert_error(
        api.post(f"/v2/client_invoices/{invoice_id}/mark_as_paid"),
        422,
        "invalid_status_transition",
        detail="a canceled invoice",
    )
    assert_error(api.post(f"/v2/client_invoices/{invoice_id}/mark_as_canceled"), 422, "invalid_status_transition")


def test_paid_round_trip(api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api)["id"])
    path = f"/v2/client_invoices/{invoice['id']}"

    paid = api.post(f"{path}/mark_as_paid", json={"paid_at": "2026-02-10"}).json()["client_invoice"]
    repaid = api.post(f"{path}/mark_as_paid", json={"paid_at": "2026-02-11"}).json()["client_invoice"]
    unpaid = api.post(f"{path}/unmark_as_paid").json()["client_invoice"]

    assert (paid["status"], paid["paid_at"]) == ("paid", "2026-02-10")
    assert paid["amount_paid"] == paid["total_amount"]
    assert (repaid["status"], repaid["paid_at"]) == ("paid", "2026-02-11")  # only paid_at changes
    assert (unpaid["status"], unpaid["paid_at"]) == ("unpaid", None)
    assert unpaid["number"] == invoice["number"]
    assert_error(
        api.post(f"{path}/mark_as_paid", json={"paid_at": "2999-01-01"}),
        422,
        "invalid_date",
        pointer="/data/attributes/paid_at",
        detail="future",
    )


def test_drafts_can_be_updated_and_deleted(api: httpx.Client) -> None:
    draft = create_invoice(api)
    path = f"/v2/client_invoices/{draft['id']}"

    updated = api.patch(path, json={"items": [item(quantity="2", unit_price={"value": "10", "currency": "EUR"})]})

    assert updated.status_code == 200
    body = updated.json()["client_invoice"]
    assert body["total_amount"]["value"] == "24.00"  # items replaced, not merged
    assert len(body["items"]) == 1
    assert datetime.fromisoformat(body["updated_at"]) > datetime.fromisoformat(draft["updated_at"])
    assert_error(api.patch(path, json={"due_date": None}), 422, "blank", pointer="/data/attributes/due_date")
    assert_error(api.patch(path, json={"status": "unpaid"}), 422, "not_in_list", pointer="/data/attributes/status")
    assert api.delete(path).status_code == 204
    assert_error(api.get(path), 404, "not_found")
    assert_error(api.get(f"/v2/attachments/{draft['attachment_id']}"), 404, "not_found")
    assert_error(api.delete(path), 404, "not_found")


def test_requested_numbers_are_used_as_is_and_unique(api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    chosen = create_invoice(api, client_id, number="F-2026-00002")

    automatic = [finalize(api, create_invoice(api, client_id)["id"])["number"] for _ in range(2)]

    assert finalize(api, chosen["id"])["number"] == "F-2026-00002"
    assert automatic == ["F-2026-00001", "F-2026-00003"]  # the chosen number is skipped
    assert_error(
        api.post("/v2/client_invoices", json=invoice_body(client_id, number="F-2026-00003")),
        422,
        "taken",
        pointer="/data/attributes/number",
    )


def test_two_servers_on_one_state_file_never_reuse_a_number(tmp_path: Path) -> None:
    state = tmp_path / "shared.sqlite"
    with running_emulator(render_delay_s=0, state_path=state) as first, running_emulator(state_path=state) as second:
        with httpx.Client(base_url=first.base_url, headers={"Authorization": first.api_key}) as api:
            client_id = create_client(api)["id"]
            drafts = [create_invoice(api, client_id)["id"] for _ in range(16)]

        def finalize_on(server: RunningEmulator, invoice_id: str) -> str:
            with httpx.Client(base_url=server.base_url, headers={"Authorization": server.api_key}) as api:
                number: str = finalize(api, invoice_id)["number"]
                return number

        with ThreadPoolExecutor(8) as pool:
            numbers = list(pool.map(finalize_on, [first, second] * 8, drafts))

    assert sorted(numbers) == [f"F-2026-{index:05d}" for index in range(1, 17)]


def test_no_idempotency_on_invoice_creation(api: httpx.Client) -> None:
    # Qonto documents no idempotency key for invoices: a retried create is a second invoice
    client_id = create_client(api)["id"]
    headers = {"X-Qonto-Idempotency-Key": "6f1c1d2e-0d1b-4a47-9a55-2d1c0c7b9e10"}

    first = api.post("/v2/client_invoices", json=invoice_body(client_id), headers=headers)
    second = api.post("/v2/client_invoices", json=invoice_body(client_id), headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.json()["client_invoice"]["id"] != second.json()["client_invoice"]["id"]
    assert api.get("/v2/client_invoices").json()["meta"]["total_count"] == 2
