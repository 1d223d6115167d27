"""e_invoicing_reachable, POST …/send_by_einvoice and the lifecycle derived from the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx
import pytest

from billing_pipeline.emulator.config import EMULATOR_STAGING_TOKEN, EmulatorConfig
from billing_pipeline.emulator.siren import client_siren, e_invoicing_reachable, is_valid_siren
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline_tests.emulator.helpers import assert_error, create_client, create_invoice, finalize

REACHABLE = "732829320"  # helpers.client_body's SIREN
UNREACHABLE = "552100554"
REFUSER = "542065479"
DELAY_S = 5.0


@pytest.fixture(scope="module")
def network() -> Iterator[RunningEmulator]:
    with running_emulator(
        render_delay_s=0,
        einvoicing_delay_s=DELAY_S,
        einvoicing_unreachable=UNREACHABLE,
        einvoicing_refuse=[REFUSER],
    ) as running:
        yield running


@pytest.fixture
def api(network: RunningEmulator) -> Iterator[httpx.Client]:
    network.reset()
    with httpx.Client(base_url=network.base_url, headers={"Authorization": network.api_key}, timeout=30) as client:
        yield client


def _submit(api: httpx.Client, invoice_id: str) -> httpx.Response:
    return api.post(f"/v2/client_invoices/{invoice_id}/send_by_einvoice")


def _invoice(api: httpx.Client, invoice_id: str) -> dict[str, Any]:
    invoice: dict[str, Any] = api.get(f"/v2/client_invoices/{invoice_id}").json()["client_invoice"]
    return invoice


def _finalized_for(api: httpx.Client, siren: str) -> dict[str, Any]:
    client = create_client(api, tax_identification_number=siren, vat_number=None)
    return finalize(api, create_invoice(api, client["id"])["id"])


# ---- reachability -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "reachable"),
    [
        ({"kind": "company", "tax_identification_number": REACHABLE, "billing_address": {"country_code": "FR"}}, True),
        # a SIRET: its first 9 digits are the SIREN
        ({"kind": "company", "tax_identification_number": "73282932000074", "country_code": "FR"}, True),
        ({"kind": "company", "e_invoicing_address": f"{REACHABLE}_00002", "country_code": "FR"}, True),
        ({"kind": "company", "tax_identification_number": "732 829 320", "country_code": "FR"}, True),
        ({"kind": "company", "tax_identification_number": "732829321", "country_code": "FR"}, False),  # Luhn
        ({"kind": "company", "tax_identification_number": "12345", "country_code": "FR"}, False),
        ({"kind": "company", "country_code": "FR"}, False),  # no SIREN at all
        ({"kind": "company", "tax_identification_number": REACHABLE, "country_code": "BE"}, False),
        ({"kind": "individual", "tax_identification_number": REACHABLE, "country_code": "FR"}, False),
        ({"kind": "company", "tax_identification_number": UNREACHABLE, "country_code": "FR"}, False),  # listed
    ],
)
def test_reachability_rule(client: dict[str, Any], reachable: bool) -> None:
    assert e_invoicing_reachable(client, frozenset({UNREACHABLE})) is reachable


def test_siren_helpers() -> None:
    assert is_valid_siren(REACHABLE) and is_valid_siren(UNREACHABLE) and is_valid_siren(REFUSER)
    assert not is_valid_siren("73282932") and not is_valid_siren("abcdefghi")
    # the routing address wins over the tax id
    assert client_siren({"e_invoicing_address": UNREACHABLE, "tax_identification_number": REACHABLE}) == UNREACHABLE


def test_reachable_shown_on_create_get_list_and_update(api: httpx.Client) -> None:
    reachable = create_client(api)
    unreachable = create_client(api, name="Listed SA", tax_identification_number=UNREACHABLE)
    individual = create_client(api, kind="individual", name=None, first_name="Ana", last_name="Lopez")

    assert (reachable["e_invoicing_reachable"], unreachable["e_invoicing_reachable"]) == (True, False)
    assert individual["e_invoicing_reachable"] is False
    assert api.get(f"/v2/clients/{reachable['id']}").json()["client"]["e_invoicing_reachable"] is True
    listed = {c["id"]: c["e_invoicing_reachable"] for c in api.get("/v2/clients").json()["clients"]}
    assert listed == {reachable["id"]: True, unreachable["id"]: False, individual["id"]: False}
    moved = api.patch(f"/v2/clients/{reachable['id']}", json={"billing_address": {"country_code": "DE"}})
    assert moved.json()["client"]["e_invoicing_reachable"] is False


def test_config_lists_accept_comma_strings_and_refuse_bad_sirens() -> None:
    config = EmulatorConfig(einvoicing_unreachable=f"{REACHABLE}, {UNREACHABLE}")
    assert config.einvoicing_unreachable == frozenset({REACHABLE, UNREACHABLE})
    with pytest.raises(ValueError, match="not a valid SIREN"):
        EmulatorConfig(einvoicing_refuse="123456789")


# ---- submission -------------------------------------------------------------------------------


def test_fields_before_any_submission(api: httpx.Client) -> None:
    draft = create_invoice(api)
    assert draft["einvoicing_status"] is None and draft["einvoicing_lifecycle_events"] == []
    finalized = finalize(api, draft["id"])
    assert finalized["einvoicing_status"] is None and finalized["einvoicing_lifecycle_events"] == []
    (listed,) = api.get("/v2/client_invoices").json()["client_invoices"]
    # the list carries the status, not the lifecycle (documented as a retrieve-only field)
    assert listed["einvoicing_status"] is None and "einvoicing_lifecycle_events" not in listed


def test_lifecycle_advances_with_the_delay(api: httpx.Client, network: RunningEmulator) -> None:
    invoice = _finalized_for(api, REACHABLE)

    response = _submit(api, invoice["id"])

    assert response.status_code == 204 and response.content == b""
    submitted = _invoice(api, invoice["id"])
    assert submitted["status"] == "unpaid"  # unchanged, as documented
    assert submitted["einvoicing_status"] == "submitted"
    assert [e["status_code"] for e in submitted["einvoicing_lifecycle_events"]] == [200]
    network.advance_clock(DELAY_S)
    issued = _invoice(api, invoice["id"])
    assert (issued["einvoicing_status"], [e["status_code"] for e in issued["einvoicing_lifecycle_events"]]) == (
        "submitted",
        [200, 201],
    )
    network.advance_clock(DELAY_S)
    received = _invoice(api, invoice["id"])
    assert received["einvoicing_status"] == "approved"
    events = received["einvoicing_lifecycle_events"]
    assert [e["status_code"] for e in events] == [200, 201, 202]
    assert all(e["reason"] is None and e["reason_message"] is None for e in events)
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert [(b - a).total_seconds() for a, b in pairwise(stamps)] == [DELAY_S, DELAY_S]
    (listed,) = api.get("/v2/client_invoices").json()["client_invoices"]
    assert listed["einvoicing_status"] == "approved"
    (submission,) = network.state()["einvoice_submissions"]
    assert (submission["invoice_id"], submission["number"], submission["refused"]) == (
        invoice["id"],
        invoice["number"],
        False,
    )
    assert submission["submitted_at"].endswith("Z")


def test_a_refusing_buyer_gets_210_with_a_reason(api: httpx.Client, network: RunningEmulator) -> None:
    invoice = _finalized_for(api, REFUSER)
    assert _submit(api, invoice["id"]).status_code == 204

    network.advance_clock(2 * DELAY_S)

    refused = _invoice(api, invoice["id"])
    assert refused["einvoicing_status"] == "declined"
    *_, last = refused["einvoicing_lifecycle_events"]
    assert [e["status_code"] for e in refused["einvoicing_lifecycle_events"]] == [200, 201, 210]
    assert last["reason"] == "REFUSED" and "refusée" in last["reason_message"]


def test_a_second_call_succeeds_without_resubmitting(api: httpx.Client, network: RunningEmulator) -> None:
    invoice = _finalized_for(api, REACHABLE)
    assert _submit(api, invoice["id"]).status_code == 204
    network.advance_clock(DELAY_S)

    assert _submit(api, invoice["id"]).status_code == 204

    assert len(network.state()["einvoice_submissions"]) == 1
    events = _invoice(api, invoice["id"])["einvoicing_lifecycle_events"]
    assert [e["status_code"] for e in events] == [200, 201]  # the clock did not restart


def test_refusals(api: httpx.Client, network: RunningEmulator) -> None:
    draft = create_invoice(api)
    assert_error(_submit(api, draft["id"]), 422, "invalid_invoice_status")
    unreachable = _finalized_for(api, UNREACHABLE)
    assert_error(_submit(api, unreachable["id"]), 422, "client_not_reachable")
    canceled = _finalized_for(api, REACHABLE)
    assert api.post(f"/v2/client_invoices/{canceled['id']}/mark_as_canceled").status_code == 200
    assert_error(_submit(api, canceled["id"]), 422, "invalid_invoice_status")
    assert_error(_submit(api, "00000000-0000-4000-8000-000000000000"), 404, "not_found")
    assert_error(api.post(f"/v2/client_invoices/{draft['id']}/send_by_einvoice", json={"x": 1}), 422, "invalid_body")
    assert network.state()["einvoice_submissions"] == []


def test_a_lost_response_still_submitted_and_the_retry_is_harmless(api: httpx.Client, network: RunningEmulator) -> None:
    invoice = _finalized_for(api, REACHABLE)
    network.queue_fault("lost_response", "POST", r"/send_by_einvoice$", count=1)

    with pytest.raises(httpx.RemoteProtocolError):
        _submit(api, invoice["id"])

    assert _submit(api, invoice["id"]).status_code == 204
    assert len(network.state()["einvoice_submissions"]) == 1


def test_the_sandbox_does_not_support_e_invoicing() -> None:
    with running_emulator(render_delay_s=0, sandbox=True) as sandbox:
        headers = {"Authorization": sandbox.api_key, "X-Qonto-Staging-Token": EMULATOR_STAGING_TOKEN}
        with httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=30) as api:
            invoice = _finalized_for(api, REACHABLE)
            assert api.get("/v2/clients").json()["clients"][0]["e_invoicing_reachable"] is True

            body = assert_error(_submit(api, invoice["id"]), 422, "einvoicing_not_available_in_sandbox")

        assert "production" in body["errors"][0]["detail"]
        assert sandbox.state()["einvoice_submissions"] == []
