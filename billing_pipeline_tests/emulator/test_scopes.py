"""``--scopes``: every endpoint needs the scope Qonto's docs give it, checked before the request is read.

A call whose scope the credentials lack is answered 403 in Qonto's error envelope — before its
query or body is validated, so an empty or invalid body gets 403 without the scope and 422 with it,
and nothing is ever created by either.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from starlette.routing import Route

from billing_pipeline.emulator.api import api_routes
from billing_pipeline.emulator.config import (
    EMULATOR_OAUTH_CLIENT_ID,
    EMULATOR_OAUTH_CLIENT_SECRET,
    EMULATOR_OAUTH_REFRESH_TOKEN,
    EmulatorConfig,
)
from billing_pipeline.emulator.scopes import ALL_SCOPES, ROUTE_SCOPES, required_scope
from billing_pipeline.emulator.seed import MAIN_IBAN
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator

from .helpers import assert_error, client_body, create_client, create_invoice
from .test_cli import SERVE

SOME_ID = str(uuid.UUID(int=7))

# (method, path, the scope Qonto's endpoint page gives) — one row per emulated endpoint
DOCUMENTED = [
    ("GET", "/v2/organization", "organization.read"),
    ("GET", "/v2/clients", "client.read"),
    ("GET", f"/v2/clients/{SOME_ID}", "client.read"),
    ("POST", "/v2/clients", "client.write"),
    ("PATCH", f"/v2/clients/{SOME_ID}", "client.write"),
    ("GET", "/v2/client_invoices", "client_invoices.read"),
    ("GET", f"/v2/client_invoices/{SOME_ID}", "client_invoices.read"),
    ("POST", "/v2/client_invoices", "client_invoice.write"),
    ("PATCH", f"/v2/client_invoices/{SOME_ID}", "client_invoice.write"),
    ("DELETE", f"/v2/client_invoices/{SOME_ID}", "client_invoice.write"),
    ("POST", f"/v2/client_invoices/{SOME_ID}/finalize", "client_invoice.write"),
    ("POST", f"/v2/client_invoices/{SOME_ID}/mark_as_canceled", "client_invoice.write"),
    ("POST", f"/v2/client_invoices/{SOME_ID}/mark_as_paid", "client_invoice.write"),
    ("POST", f"/v2/client_invoices/{SOME_ID}/unmark_as_paid", "client_invoice.write"),
    ("POST", f"/v2/client_invoices/{SOME_ID}/send", "client_invoice.write"),
    ("POST", f"/v2/client_invoices/{SOME_ID}/send_by_einvoice", "client_invoice.write"),
    ("GET", "/v2/credit_notes", "client_invoices.read"),
    ("GET", f"/v2/credit_notes/{SOME_ID}", "client_invoices.read"),
    ("POST", "/v2/credit_notes", "client_invoice.write"),
    ("GET", "/v2/transactions", "organization.read"),
    ("GET", f"/v2/attachments/{SOME_ID}", "attachment.read"),
    ("GET", "/v2/einvoicing/settings", "einvoicing.read"),
]


def _api_endpoints() -> set[str]:
    found = set()
    for route in api_routes():
        assert isinstance(route, Route)
        if route.path.startswith("/v2/"):
            found.update(f"{method} {route.path}" for method in route.methods or () if method != "HEAD")
    return found


def test_every_api_endpoint_has_a_scope_and_every_scope_an_endpoint() -> None:
    assert set(ROUTE_SCOPES) == _api_endpoints()
    assert set(ROUTE_SCOPES.values()) == ALL_SCOPES
    assert len(DOCUMENTED) == len(ROUTE_SCOPES)


@pytest.fixture(scope="module")
def no_scope(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """Valid credentials that carry no scope at all."""
    state = tmp_path_factory.mktemp("no-scope") / "emulator.sqlite"
    with running_emulator(render_delay_s=0, state_path=state, scopes="") as running:
        yield running


@pytest.mark.parametrize(("method", "path", "scope"), DOCUMENTED, ids=[f"{m} {p}" for m, p, _ in DOCUMENTED])
def test_each_endpoint_answers_403_naming_its_documented_scope(
    no_scope: RunningEmulator, method: str, path: str, scope: str
) -> None:
    # a query parameter no endpoint knows and a body that is not JSON: neither is looked at
    response = httpx.request(
        method,
        f"{no_scope.base_url}{path}",
        params={"no_such_parameter": "1"},
        content=b"{not json",
        headers={"Authorization": no_scope.api_key, "Content-Type": "application/json"},
    )

    assert_error(response, 403, "insufficient_scope", detail=scope)
    assert required_scope(f"{method} {path.replace(SOME_ID, '{id}')}") == scope


def test_head_needs_the_scope_of_get(no_scope: RunningEmulator) -> None:
    response = httpx.head(f"{no_scope.base_url}/v2/organization", headers={"Authorization": no_scope.api_key})

    assert response.status_code == 403


def test_authentication_comes_first_and_unknown_routes_stay_404(no_scope: RunningEmulator) -> None:
    anonymous = httpx.get(f"{no_scope.base_url}/v2/clients")
    unknown = httpx.get(f"{no_scope.base_url}/v2/no_such_thing", headers={"Authorization": no_scope.api_key})

    assert_error(anonymous, 401, "unauthorized")
    assert_error(unknown, 404, "not_found")


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """Credentials that may read everything and write nothing (Qonto's API keys are "mostly read-only")."""
    state = tmp_path_factory.mktemp("read-only") / "emulator.sqlite"
    scopes = "organization.read,client.read,client_invoices.read,attachment.read,einvoicing.read"
    with running_emulator(render_delay_s=0, state_path=state, scopes=scopes) as running:
        yield running


WRITES = [
    ("POST", "/v2/clients", "client.write"),
    ("POST", "/v2/client_invoices", "client_invoice.write"),
    ("POST", "/v2/credit_notes", "client_invoice.write"),
]


@pytest.mark.parametrize(("method", "path", "scope"), WRITES, ids=[p for _, p, _ in WRITES])
@pytest.mark.parametrize("body", [b"", b"{}", b"[]", b"{not json"], ids=["empty", "object", "array", "garbage"])
def test_an_invalid_write_is_403_without_the_scope_422_with_it_and_creates_nothing(
    read_only: RunningEmulator, api: httpx.Client, emulator: RunningEmulator, method: str, path: str, scope: str,
    body: bytes,
) -> None:  # fmt: skip
    headers = {"Content-Type": "application/json"}
    refused = httpx.request(
        method, f"{read_only.base_url}{path}", content=body, headers={**headers, "Authorization": read_only.api_key}
    )
    invalid = api.request(method, path, content=body, headers=headers)  # `api`: every scope

    assert_error(refused, 403, "insufficient_scope", detail=scope)
    assert invalid.status_code == 422, invalid.text
    for running in (read_only, emulator):
        state = running.state()
        assert (state["clients"], state["client_invoices"], state["credit_notes"]) == ([], [], [])


def test_reads_pass_and_a_valid_write_is_refused_with_read_scopes(read_only: RunningEmulator) -> None:
    read_only.reset()
    with httpx.Client(base_url=read_only.base_url, headers={"Authorization": read_only.api_key}) as qonto:
        reads = [
            qonto.get("/v2/organization"),
            qonto.get("/v2/clients", params={"per_page": 1}),
            qonto.get("/v2/client_invoices", params={"per_page": 1}),
            qonto.get("/v2/credit_notes", params={"per_page": 1}),
            qonto.get("/v2/transactions", params={"iban": MAIN_IBAN, "per_page": 1}),
            qonto.get("/v2/einvoicing/settings"),
        ]
        # a valid body is refused just the same: the scope decides, not the body
        refused = qonto.post("/v2/clients", json=client_body())
    stats = read_only.stats()

    assert [response.status_code for response in reads] == [200] * len(reads)
    assert_error(refused, 403, "insufficient_scope", detail="client.write")
    assert read_only.state()["clients"] == []
    assert stats["responses"]["POST /v2/clients"] == {"403": 1}  # answered and counted like any call


def test_a_write_scope_alone_allows_the_write(tmp_path: Path) -> None:
    with (
        running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", scopes=["client.write"]) as running,
        httpx.Client(base_url=running.base_url, headers={"Authorization": running.api_key}) as qonto,
    ):
        created = create_client(qonto)
        read_back = qonto.get(f"/v2/clients/{created['id']}")

    assert created["id"]
    assert_error(read_back, 403, "insufficient_scope", detail="client.read")


def test_other_spellings_on_qontos_pages_name_the_same_scopes(tmp_path: Path) -> None:
    config = EmulatorConfig(
        state_path=tmp_path / "e.sqlite", scopes=["client_invoice.read", "client_invoices.write", "offline_access"]
    )

    assert config.scopes == frozenset({"client_invoices.read", "client_invoice.write", "offline_access"})
    with pytest.raises(ValidationError, match="unknown scope"):
        EmulatorConfig(state_path=tmp_path / "e.sqlite", scopes="client.read,client.reed")


def test_bearer_tokens_carry_the_same_scopes_and_the_token_response_names_them(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", scopes="client.read") as running:
        form = {
            "grant_type": "refresh_token",
            "client_id": EMULATOR_OAUTH_CLIENT_ID,
            "client_secret": EMULATOR_OAUTH_CLIENT_SECRET,
            "refresh_token": EMULATOR_OAUTH_REFRESH_TOKEN,
        }
        tokens = httpx.post(f"{running.base_url}/oauth2/token", data=form).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        clients = httpx.get(f"{running.base_url}/v2/clients", headers=bearer)
        organization = httpx.get(f"{running.base_url}/v2/organization", headers=bearer)

    assert tokens["scope"].split() == ["offline_access", "client.read"]
    assert clients.status_code == 200
    assert_error(organization, 403, "insufficient_scope", detail="organization.read")


def test_by_default_the_credentials_carry_every_scope(api: httpx.Client) -> None:
    invoice = create_invoice(api)

    assert api.get("/v2/einvoicing/settings").status_code == 200
    assert api.get(f"/v2/attachments/{invoice['attachment_id']}").status_code == 200
    assert EmulatorConfig().scopes == ALL_SCOPES


def test_an_unknown_scope_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    # a subprocess with a timeout: were the name accepted, `serve` would serve on and on
    result = subprocess.run(
        [*SERVE, "--port", "0", "--scopes", "client.read,invoices.all", "--state", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "unknown scope(s): invoices.all" in result.stderr
    assert not (tmp_path / "x").exists()
