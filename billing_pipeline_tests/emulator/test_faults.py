"""Fault injection: 5xx, 429 bursts, latency and lost responses (the write commits, the answer is lost)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator

from .helpers import assert_error, client_body, create_client, invoice_body

INVOICES = r"^/v2/client_invoices$"


def invoice_count(emulator: RunningEmulator) -> int:
    return len(emulator.state()["client_invoices"])


def test_lost_response_commits_the_write(emulator: RunningEmulator, api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    emulator.queue_fault("lost_response", "POST", INVOICES)

    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/v2/client_invoices", json=invoice_body(client_id))

    invoices = emulator.state()["client_invoices"]
    assert len(invoices) == 1
    assert invoices[0]["purchase_order"] == "BP-2026-01-acme"
    assert emulator.stats()["responses"]["POST /v2/client_invoices"] == {"lost": 1}
    # the fault was for one request only
    assert api.post("/v2/client_invoices", json=invoice_body(client_id)).status_code == 201


def test_lost_response_as_a_timeout(emulator: RunningEmulator, api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    emulator.queue_fault("lost_response", "POST", INVOICES, mode="timeout", hang_s=0.6)

    with pytest.raises(httpx.ReadTimeout):
        api.post("/v2/client_invoices", json=invoice_body(client_id), timeout=0.3)

    assert invoice_count(emulator) == 1


def test_server_error_before_or_after_commit(emulator: RunningEmulator, api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    emulator.queue_fault("server_error", "POST", INVOICES, status=503)
    emulator.queue_fault("server_error", "POST", INVOICES, commit=True)

    before = api.post("/v2/client_invoices", json=invoice_body(client_id))
    assert invoice_count(emulator) == 0
    after = api.post("/v2/client_invoices", json=invoice_body(client_id))

    assert_error(before, 503, "internal_server_error", detail="emulated server error")
    assert_error(after, 500, "internal_server_error", detail="after commit")
    assert invoice_count(emulator) == 1


def test_rate_limited_burst_with_retry_after(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.queue_fault("rate_limited", "GET", r"^/v2/organization$", count=2, retry_after=3)

    responses = [api.get("/v2/organization") for _ in range(3)]

    assert [response.status_code for response in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "3"
    assert_error(responses[0], 429, "too_many_requests", detail="burst")


def test_latency_fault_and_method_matching(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.queue_fault("latency", "POST", r"^/v2/clients$", ms=600)

    assert api.get("/v2/clients").status_code == 200  # GET does not match the POST fault
    with pytest.raises(httpx.ReadTimeout):
        api.post("/v2/clients", json=client_body(), timeout=0.3)

    pending = httpx.get(f"{emulator.base_url}/_emulator/faults").json()["faults"]
    assert pending == []
    # the client gave up, the server did not: the delayed write still lands
    deadline = time.monotonic() + 10
    while not emulator.state()["clients"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(emulator.state()["clients"]) == 1


def test_invalid_fault_requests_are_refused(emulator: RunningEmulator) -> None:
    base = f"{emulator.base_url}/_emulator/faults"

    unknown_kind = httpx.post(base, json={"kind": "explode", "path_regex": "x"})
    bad_param = httpx.post(base, json={"kind": "server_error", "path_regex": "x", "params": {"status": 404}})
    bad_regex = httpx.post(base, json={"kind": "latency", "path_regex": "("})

    assert unknown_kind.status_code == bad_param.status_code == bad_regex.status_code == 422
    assert bad_param.json()["errors"][0]["source"]["pointer"] == "/data/attributes/fault/server_error/status"
    assert "does not compile" in bad_regex.json()["errors"][0]["detail"]


def test_random_faults_at_rate_one(tmp_path: Path) -> None:
    with running_emulator(fault_rate=1, state_path=tmp_path / "a.sqlite") as failing:
        response = httpx.get(f"{failing.base_url}/v2/organization", headers={"Authorization": failing.api_key})
        assert_error(response, 500, "internal_server_error")
    with running_emulator(lost_response_rate=1, state_path=tmp_path / "b.sqlite") as losing:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{losing.base_url}/v2/clients", json=client_body(), headers={"Authorization": losing.api_key})
        assert len(losing.state()["clients"]) == 1


def test_a_lost_204_is_really_lost(emulator: RunningEmulator, api: httpx.Client) -> None:
    # a 204 is complete with its status line: the cut one announces a body that never comes
    draft_id = api.post("/v2/client_invoices", json=invoice_body(create_client(api)["id"])).json()["client_invoice"][
        "id"
    ]
    emulator.queue_fault("lost_response", "DELETE", r"^/v2/client_invoices/", count=1)

    with pytest.raises(httpx.RemoteProtocolError):
        api.delete(f"/v2/client_invoices/{draft_id}")

    assert invoice_count(emulator) == 0  # deleted all the same
    assert emulator.stats()["responses"]["DELETE /v2/client_invoices/{id}"] == {"lost": 1}
