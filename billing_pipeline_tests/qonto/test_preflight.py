"""E-invoicing settings and scope probes against a scripted Qonto: parsing, status mapping, no retry."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from billing_pipeline.qonto import (
    PIPELINE_SCOPES,
    EinvoicingSettings,
    QontoAuthError,
    QontoClient,
    QontoConfigurationError,
    QontoForbiddenError,
    ScopeStatus,
)
from billing_pipeline_tests.qonto.conftest import FakeQonto, RecordingSleep, error_reply, json_reply

Make = Callable[..., QontoClient]

ALL_GRANTED = {
    ("GET", "/v2/organization"): json_reply(200, {"organization": {"id": "o"}}),
    ("GET", "/v2/clients"): json_reply(200, {"clients": [], "meta": {}}),
    ("GET", "/v2/client_invoices"): json_reply(200, {"client_invoices": [], "meta": {}}),
    ("GET", "/v2/attachments/00000000-0000-0000-0000-000000000000"): error_reply(404, "not_found", "no attachment"),
    ("GET", "/v2/einvoicing/settings"): json_reply(200, {"sending_status": "enabled", "receiving_status": "enabled"}),
    ("POST", "/v2/clients"): error_reply(422, "required", "kind is required", {"pointer": "/data/attributes/kind"}),
    ("POST", "/v2/client_invoices"): error_reply(422, "required", "client_id is required"),
}


def _script(fake: FakeQonto, **changes: httpx.Response | Exception) -> None:
    """Every probe answered as for credentials with every scope, but for ``changes`` ("METHOD path")."""
    for (method, path), reply in ALL_GRANTED.items():
        fake.on(method, path, changes.get(f"{method} {path}", reply))


# ---- GET /v2/einvoicing/settings ------------------------------------------------------------------


async def test_settings_are_read_unwrapped_and_typed(fake: FakeQonto, make_client: Make) -> None:
    fake.on(
        "GET",
        "/v2/einvoicing/settings",
        json_reply(200, {"sending_status": "disabled", "receiving_status": "pending_creation", "new_field": 1}),
    )
    async with make_client() as qonto:
        settings = await qonto.get_einvoicing_settings()

    assert isinstance(settings, EinvoicingSettings)
    assert (settings.sending_status, settings.receiving_status) == ("disabled", "pending_creation")
    assert settings.sending_enabled is False and settings.receiving_enabled is False


async def test_settings_without_einvoicing_read_raise_the_typed_403(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/einvoicing/settings", error_reply(403, "forbidden", "missing scope einvoicing.read"))
    async with make_client() as qonto:
        with pytest.raises(QontoForbiddenError, match="403 to GET /v2/einvoicing/settings") as info:
            await qonto.get_einvoicing_settings()

    assert isinstance(info.value, QontoAuthError)  # every authentication failure is still caught as one
    assert info.value.status == 403 and len(fake.requests) == 1


async def test_settings_without_a_body_are_a_configuration_error(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/einvoicing/settings", httpx.Response(204))
    async with make_client() as qonto:
        with pytest.raises(QontoConfigurationError, match="answered without a body"):
            await qonto.get_einvoicing_settings()


async def test_a_401_is_not_a_403(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/einvoicing/settings", error_reply(401, "unauthorized", "bad key"))
    async with make_client() as qonto:
        with pytest.raises(QontoAuthError) as info:
            await qonto.get_einvoicing_settings()

    assert not isinstance(info.value, QontoForbiddenError)


# ---- probes ---------------------------------------------------------------------------------------


async def test_probes_with_every_scope_granted_send_cheap_reads_and_empty_writes(
    fake: FakeQonto, make_client: Make
) -> None:
    _script(fake)
    async with make_client() as qonto:
        report = await qonto.probe_scopes()

    assert report.all_granted and report.granted == list(PIPELINE_SCOPES)
    assert len(fake.requests) == len(PIPELINE_SCOPES)
    for request in fake.requests:
        if request.method == "POST":  # never a valid body
            assert json.loads(request.content) == {}
        elif request.url.path in ("/v2/clients", "/v2/client_invoices"):
            assert dict(request.url.params) == {"per_page": "1"}
    assert report.get("client.write").probe == "POST /v2/clients {}"  # type: ignore[union-attr]
    assert report.get("client_invoices.read").probe == "GET /v2/client_invoices?per_page=1"  # type: ignore[union-attr]


async def test_a_403_is_missing_and_keeps_qontos_text(fake: FakeQonto, make_client: Make) -> None:
    forbidden = error_reply(403, "insufficient_scope", "needs client.write", trace_id="t-403")
    _script(fake, **{"POST /v2/clients": forbidden, "GET /v2/einvoicing/settings": forbidden})
    async with make_client() as qonto:
        report = await qonto.probe_scopes()

    assert report.missing == ["client.write", "einvoicing.read"]
    check = report.get("client.write")
    assert check is not None and check.status is ScopeStatus.MISSING and check.http_status == 403
    assert check.detail is not None and "needs client.write" in check.detail and "t-403" in check.detail


@pytest.mark.parametrize(
    ("change", "scope", "status"),
    [
        ({"GET /v2/clients": error_reply(404, "not_found", "?")}, "client.read", 404),  # only attachments' 404 says yes
        ({"POST /v2/clients": error_reply(400, "bad_request", "?")}, "client.write", 400),  # only 422 says yes
        ({"POST /v2/client_invoices": error_reply(412, "precondition", "?")}, "client_invoice.write", 412),
        ({"GET /v2/organization": error_reply(401, "unauthorized", "bad key")}, "organization.read", 401),
        (
            {"GET /v2/attachments/00000000-0000-0000-0000-000000000000": error_reply(422, "invalid", "?")},
            "attachment.read",
            422,
        ),
    ],
    ids=["read-404", "write-400", "write-412", "401", "attachment-422"],
)
async def test_other_answers_are_unknown_with_the_error_text(
    fake: FakeQonto, make_client: Make, change: dict[str, httpx.Response], scope: str, status: int
) -> None:
    _script(fake, **change)
    async with make_client() as qonto:
        report = await qonto.probe_scopes()

    check = report.get(scope)
    assert check is not None and check.status is ScopeStatus.UNKNOWN
    assert check.http_status == status and check.detail and f"answered {status}" in check.detail
    assert report.unknown == [scope]


@pytest.mark.parametrize(
    ("key", "reply"),
    [
        ("GET /v2/client_invoices", error_reply(503, "unavailable", "down")),
        ("GET /v2/client_invoices", error_reply(429, "too_many_requests", "slow down", headers={"Retry-After": "0"})),
        ("GET /v2/client_invoices", httpx.ConnectError("refused")),
        ("GET /v2/client_invoices", httpx.ReadTimeout("slow")),
        ("POST /v2/client_invoices", error_reply(500, "boom", "server error")),
        ("POST /v2/client_invoices", error_reply(429, "too_many_requests", "slow down")),
        ("POST /v2/client_invoices", httpx.ConnectError("refused")),
    ],
    ids=["read-503", "read-429", "read-connect", "read-timeout", "write-500", "write-429", "write-connect"],
)
async def test_a_probe_is_never_retried(
    fake: FakeQonto, make_client: Make, sleeps: RecordingSleep, key: str, reply: httpx.Response | Exception
) -> None:
    # the normal call path retries each of these (reads on 5xx/429/transport, writes on 429/connect)
    _script(fake, **{key: reply})
    method, path = key.split(" ")
    async with make_client() as qonto:
        report = await qonto.probe_scopes()

    assert len(fake.sent(method, path)) == 1
    assert sleeps.delays == []
    scope = "client_invoices.read" if method == "GET" else "client_invoice.write"
    check = report.get(scope)
    assert check is not None and check.status is ScopeStatus.UNKNOWN and check.detail


@pytest.mark.parametrize(
    ("key", "status", "scope"),
    [
        ("GET /v2/organization", 200, "organization.read"),  # the sandbox login page
        ("GET /v2/attachments/00000000-0000-0000-0000-000000000000", 404, "attachment.read"),
        ("POST /v2/clients", 422, "client.write"),
    ],
    ids=["200", "404", "422"],
)
async def test_a_non_json_answer_is_unknown_whatever_its_status(
    fake: FakeQonto, make_client: Make, key: str, status: int, scope: str
) -> None:
    # a web page is not Qonto's API: not even a 404 or a 422 proves the call was authorized
    page = httpx.Response(status, content=b"<html>Sign in</html>", headers={"content-type": "text/html"})
    _script(fake, **{key: page})
    async with make_client() as qonto:
        report = await qonto.probe_scopes([scope])

    assert report.unknown == [scope]


async def test_a_write_probe_that_succeeds_is_granted_with_a_warning(fake: FakeQonto, make_client: Make) -> None:
    _script(fake, **{"POST /v2/clients": json_reply(201, {"client": {"id": "c"}})})
    async with make_client() as qonto:
        check = (await qonto.probe_scopes(["client.write"])).get("client.write")

    assert check is not None and check.status is ScopeStatus.GRANTED
    assert check.detail and "check that nothing was created" in check.detail


async def test_scope_names_are_checked_before_any_request(fake: FakeQonto, make_client: Make) -> None:
    _script(fake)
    async with make_client() as qonto:
        with pytest.raises(ValueError, match=r"no probe for the scope 'payment\.write'"):
            await qonto.probe_scopes(["client.read", "payment.write"])
        aliased = await qonto.probe_scopes(["client_invoice.read", "client_invoices.write", "client_invoices.read"])

    assert [check.scope for check in aliased.checks] == ["client_invoices.read", "client_invoice.write"]
    assert len(fake.requests) == 2
