"""OAuth refresh-token rotation, bearer tokens, sandbox mode and the API-key finalize switch."""

from __future__ import annotations

from pathlib import Path

import httpx

from billing_pipeline.emulator.config import (
    EMULATOR_OAUTH_CLIENT_ID,
    EMULATOR_OAUTH_CLIENT_SECRET,
    EMULATOR_OAUTH_REFRESH_TOKEN,
    EMULATOR_STAGING_TOKEN,
)
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator

from .helpers import assert_error, create_invoice, invoice_body


def refresh(emulator: RunningEmulator, refresh_token: str, **overrides: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": EMULATOR_OAUTH_CLIENT_ID,
        "client_secret": EMULATOR_OAUTH_CLIENT_SECRET,
        "refresh_token": refresh_token,
        **overrides,
    }
    return httpx.post(f"{emulator.base_url}/oauth2/token", data=form)


def test_refresh_rotates_tokens_and_the_access_token_authenticates(emulator: RunningEmulator) -> None:
    response = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN)

    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["refresh_token"] != EMULATOR_OAUTH_REFRESH_TOKEN
    assert "client_invoice.write" in tokens["scope"].split()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{emulator.base_url}/v2/organization", headers=bearer).status_code == 200
    # each refresh yields another new refresh token
    assert refresh(emulator, tokens["refresh_token"]).json()["refresh_token"] != tokens["refresh_token"]


def test_old_refresh_token_has_a_60_second_grace(emulator: RunningEmulator) -> None:
    first = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN)
    emulator.advance_clock(59)
    within_grace = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN)
    emulator.advance_clock(2)
    after_grace = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN)

    assert first.status_code == within_grace.status_code == 200
    assert within_grace.json()["refresh_token"] != first.json()["refresh_token"]
    assert after_grace.status_code == 400
    assert after_grace.json() == {
        "error": "invalid_grant",
        "error_description": "the refresh token was rotated more than 60 s ago",
    }


def test_access_token_expires_after_an_hour(emulator: RunningEmulator) -> None:
    access = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN).json()["access_token"]
    emulator.advance_clock(3600)

    response = httpx.get(f"{emulator.base_url}/v2/organization", headers={"Authorization": f"Bearer {access}"})

    assert_error(response, 401, "unauthorized", detail="invalid or expired")


def test_token_endpoint_errors(emulator: RunningEmulator) -> None:
    wrong_secret = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN, client_secret="nope")
    wrong_grant = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN, grant_type="client_credentials")
    unknown = refresh(emulator, "emulator-refresh-unknown")
    as_json = httpx.post(f"{emulator.base_url}/oauth2/token", json={"grant_type": "refresh_token"})

    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_grant")
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    # the failed attempts did not burn the real token
    assert refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN).status_code == 200


def test_sandbox_mode_answers_a_login_page_without_the_staging_token(tmp_path: Path) -> None:
    with running_emulator(sandbox=True, state_path=tmp_path / "e.sqlite") as emulator:
        url = f"{emulator.base_url}/v2/organization"
        without = httpx.get(url, headers={"Authorization": emulator.api_key})
        wrong = httpx.get(url, headers={"Authorization": emulator.api_key, "X-Qonto-Staging-Token": "nope"})
        with_token = httpx.get(
            url, headers={"Authorization": emulator.api_key, "X-Qonto-Staging-Token": EMULATOR_STAGING_TOKEN}
        )
        oauth = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN)

    assert emulator.staging_token == EMULATOR_STAGING_TOKEN
    for page in (without, wrong, oauth):
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "onelogin" in page.text.lower()
    assert with_token.status_code == 200
    assert with_token.json()["organization"]["legal_number"]


def test_refuse_api_key_finalize(tmp_path: Path) -> None:
    with (
        running_emulator(refuse_api_key_finalize=True, render_delay_s=0, state_path=tmp_path / "e.sqlite") as emulator,
        httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}) as api,
    ):
        draft = create_invoice(api)
        with_key = api.post(f"/v2/client_invoices/{draft['id']}/finalize")
        created_unpaid = api.post("/v2/client_invoices", json=invoice_body(draft["client"]["id"], status="unpaid"))
        access = refresh(emulator, EMULATOR_OAUTH_REFRESH_TOKEN).json()["access_token"]
        with_oauth = httpx.post(
            f"{emulator.base_url}/v2/client_invoices/{draft['id']}/finalize",
            headers={"Authorization": f"Bearer {access}"},
        )

    assert_error(with_key, 403, "api_key_not_allowed", detail="requires OAuth 2.0")
    assert_error(created_unpaid, 403, "api_key_not_allowed")
    assert with_oauth.status_code == 200
    assert with_oauth.json()["client_invoice"]["status"] == "unpaid"
