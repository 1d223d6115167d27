"""Error mapping: status classes, field names in messages, non-JSON answers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from billing_pipeline.qonto import (
    QontoAuthError,
    QontoClient,
    QontoConfigurationError,
    QontoError,
    QontoNotFoundError,
    QontoValidationError,
)
from billing_pipeline_tests.qonto.conftest import FakeQonto, error_reply, json_reply

Make = Callable[..., QontoClient]

LOGIN_PAGE = httpx.Response(
    200, content=b"<html><title>OneLogin</title><form>Sign in</form></html>", headers={"content-type": "text/html"}
)


async def test_401_is_auth_error_and_not_retried(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", error_reply(401, "unauthorized", "Invalid credentials"))
    async with make_client() as qonto:
        with pytest.raises(QontoAuthError, match="Qonto answered 401 to GET /v2/organization") as info:
            await qonto.get_organization()
    assert len(fake.requests) == 1
    assert info.value.code == "unauthorized"


async def test_403_is_auth_error(fake: FakeQonto, make_client: Make) -> None:
    fake.on("POST", "/v2/client_invoices/i/finalize", error_reply(403, "forbidden", "finalize needs OAuth"))
    async with make_client() as qonto:
        with pytest.raises(QontoAuthError, match="forbidden finalize needs OAuth"):
            await qonto.finalize_client_invoice("i")


async def test_404_is_not_found(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/client_invoices/nope", error_reply(404, "not_found", "Client invoice not found"))
    async with make_client() as qonto:
        with pytest.raises(QontoNotFoundError, match="404 to GET /v2/client_invoices/nope: not_found"):
            await qonto.get_client_invoice("nope")


async def test_422_names_the_rejected_field_and_keeps_every_error(fake: FakeQonto, make_client: Make) -> None:
    body = {
        "errors": [
            {
                "code": "invalid_iban",
                "detail": "IBAN is empty",
                "source": {"pointer": "/data/attributes/payment_methods/iban"},
            },
            {"code": "blank", "detail": "currency is missing", "source": {"pointer": "/data/attributes/currency"}},
        ],
        "trace_id": "6f1a2b3c",
    }
    fake.on("POST", "/v2/client_invoices", json_reply(422, body))
    async with make_client() as qonto:
        with pytest.raises(QontoValidationError) as info:
            await qonto._session.call("POST", "/v2/client_invoices", body={})
    error = info.value
    assert error.status == 422
    assert error.code == "invalid_iban"
    assert error.detail == "IBAN is empty"
    assert error.source == {"pointer": "/data/attributes/payment_methods/iban"}
    assert error.trace_id == "6f1a2b3c"
    assert error.fields == ["payment_methods.iban", "currency"]
    assert len(error.errors) == 2
    assert "field 'payment_methods.iban' at /data/attributes/payment_methods/iban" in str(error)
    assert "field 'currency'" in str(error)
    assert "[trace_id 6f1a2b3c]" in str(error)


async def test_query_parameter_named_and_trace_id_from_header(fake: FakeQonto, make_client: Make) -> None:
    fake.on(
        "GET",
        "/v2/client_invoices",
        json_reply(
            400,
            {
                "errors": [
                    {
                        "code": "not_in_list",
                        "detail": "status must be one of: draft, unpaid",
                        "source": {"parameter": "filter[status]"},
                    }
                ]
            },
            headers={"X-Tyk-Trace-Id": "hdr-trace"},
        ),
    )
    async with make_client() as qonto:
        with pytest.raises(QontoValidationError, match=r"query parameter 'filter\[status\]'") as info:
            await qonto.list_client_invoices(status=["bogus"])
    assert info.value.trace_id == "hdr-trace"
    assert info.value.fields == ["filter[status]"]


async def test_412_is_validation(fake: FakeQonto, make_client: Make) -> None:
    fake.on("DELETE", "/v2/client_invoices/i", error_reply(412, "invoice_not_in_draft_status", "not a draft"))
    async with make_client() as qonto:
        with pytest.raises(QontoValidationError, match="invoice_not_in_draft_status"):
            await qonto.delete_client_invoice("i")


async def test_other_4xx_is_base_error(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", error_reply(409, "conflict", "busy"))
    async with make_client() as qonto:
        with pytest.raises(QontoError, match="409 to GET /v2/organization: conflict busy") as info:
            await qonto.get_organization()
    assert type(info.value) is QontoError


async def test_login_page_is_configuration_error(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", LOGIN_PAGE)
    async with make_client() as qonto:
        with pytest.raises(
            QontoConfigurationError, match=r"non-JSON body.*set QONTO_STAGING_TOKEN / check QONTO_BASE_URL"
        ):
            await qonto.get_organization()
    assert len(fake.requests) == 1


async def test_redirect_to_login_is_configuration_error(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", httpx.Response(302, headers={"location": "https://qonto.onelogin.com/login"}))
    async with make_client() as qonto:
        with pytest.raises(QontoConfigurationError, match=r"redirected \(302\) to qonto\.onelogin\.com"):
            await qonto.get_organization()


async def test_html_404_is_configuration_error(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", httpx.Response(404, content=b"<html>Not Found</html>"))
    async with make_client() as qonto:
        with pytest.raises(QontoConfigurationError, match="answered 404 with a non-JSON body"):
            await qonto.get_organization()


async def test_missing_envelope_is_configuration_error(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", json_reply(200, {"id": "flat"}))
    async with make_client() as qonto:
        with pytest.raises(QontoConfigurationError, match="without the 'organization' object"):
            await qonto.get_organization()


async def test_payload_that_breaks_a_required_field_is_reported(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/client_invoices/i", json_reply(200, {"client_invoice": {"id": "i"}}))
    async with make_client() as qonto:
        with pytest.raises(QontoError, match="unexpected ClientInvoice payload from Qonto: status: Field required"):
            await qonto.get_client_invoice("i")


async def test_legacy_error_shapes_are_read(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", json_reply(422, {"message": "Organization is locked", "code": "locked"}))
    fake.on("GET", "/v2/clients/c", json_reply(422, {"errors": {"email": ["is invalid"]}}))
    async with make_client() as qonto:
        with pytest.raises(QontoValidationError, match="locked Organization is locked"):
            await qonto.get_organization()
        with pytest.raises(QontoValidationError, match="field 'email'") as info:
            await qonto.get_client("c")
    assert info.value.detail == "email is invalid"
