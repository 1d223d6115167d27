"""State in SQLite: it survives restarts, is shared between a server and an in-process app, and resets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from billing_pipeline.emulator.config import EMULATOR_API_KEY, IN_PROCESS_FILES_BASE_URL, EmulatorConfig
from billing_pipeline.emulator.testing import in_process_transport, running_emulator

from .helpers import client_body, create_invoice, finalize, invoice_body


def test_state_survives_a_restart_and_numbering_continues(tmp_path: Path) -> None:
    state = tmp_path / "emulator.sqlite"
    with (
        running_emulator(render_delay_s=0, state_path=state) as first,
        httpx.Client(base_url=first.base_url, headers={"Authorization": first.api_key}) as api,
    ):
        invoice = finalize(api, create_invoice(api)["id"])
        organization_id = api.get("/v2/organization").json()["organization"]["id"]

    with (
        running_emulator(render_delay_s=0, state_path=state) as second,
        httpx.Client(base_url=second.base_url, headers={"Authorization": second.api_key}) as api,
    ):
        again = api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]
        next_number = finalize(api, create_invoice(api, again["client"]["id"])["id"])["number"]
        assert api.get("/v2/organization").json()["organization"]["id"] == organization_id

    assert again == invoice | {"attachment_id": again["attachment_id"]}
    assert next_number == "F-2026-00002"


def test_reset_wipes_back_to_the_seeded_organization(tmp_path: Path) -> None:
    with (
        running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite") as emulator,
        httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}) as api,
    ):
        finalize(api, create_invoice(api)["id"])
        emulator.queue_fault("server_error", "GET", "never-matches")
        emulator.reset()
        state = emulator.state()
        stats = emulator.stats()
        faults = httpx.get(f"{emulator.base_url}/_emulator/faults").json()["faults"]
        number = finalize(api, create_invoice(api)["id"])["number"]

    assert state["clients"] == [] and state["client_invoices"] == []
    assert "emulator" in state["organization"]["legal_name"].lower()
    assert stats["api_requests"] == 0
    assert faults == []
    assert number == "F-2026-00001"


async def test_in_process_transport_shares_state_with_a_server(tmp_path: Path) -> None:
    state = tmp_path / "shared.sqlite"
    transport = in_process_transport(EmulatorConfig(state_path=state, render_delay_s=0))
    with running_emulator(render_delay_s=0, state_path=state) as server:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://qonto.local", headers={"Authorization": EMULATOR_API_KEY}
        ) as api:
            client = (await api.post("/v2/clients", json=client_body())).json()["client"]
            created = await api.post("/v2/client_invoices", json=invoice_body(client["id"]))
            invoice = (await api.post(f"/v2/client_invoices/{created.json()['client_invoice']['id']}/finalize")).json()
            attachment = (await api.get(f"/v2/attachments/{invoice['client_invoice']['attachment_id']}")).json()
            credentialed = await api.get(attachment["attachment"]["url"])
        async with httpx.AsyncClient(transport=transport) as downloads:
            downloaded = await downloads.get(attachment["attachment"]["url"])
        seen_by_server = server.state()["client_invoices"]
    await transport.aclose()

    assert [entry["id"] for entry in seen_by_server] == [invoice["client_invoice"]["id"]]
    assert attachment["attachment"]["url"].startswith(f"{IN_PROCESS_FILES_BASE_URL}/files/")
    assert credentialed.status_code == 400  # the API client's Authorization must not reach the file host
    assert downloaded.status_code == 200 and downloaded.content.startswith(b"%PDF")


async def test_in_process_transport_turns_faults_into_socket_errors(tmp_path: Path) -> None:
    transport = in_process_transport(state_path=tmp_path / "e.sqlite")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://qonto.local", headers={"Authorization": EMULATOR_API_KEY}
    ) as api:
        for params in (
            {"kind": "lost_response"},
            {"kind": "lost_response", "params": {"mode": "timeout", "hang_s": 5}},
        ):
            assert (
                await api.post("/_emulator/faults", json={"path_regex": "^/v2/clients$", **params})
            ).status_code == 201
        with pytest.raises(httpx.RemoteProtocolError):
            await api.post("/v2/clients", json=client_body())
        with pytest.raises(httpx.ReadTimeout):
            await api.post("/v2/clients", json=client_body(), timeout=0.2)
        clients = (await api.get("/v2/clients")).json()["clients"]
    await transport.aclose()

    assert len(clients) == 2  # both writes committed although both answers were lost
