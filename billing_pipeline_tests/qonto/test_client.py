"""Endpoints, query parameters, pagination and attachment downloads against a scripted fake."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billing_pipeline.qonto import (
    Attachment,
    ClientCreate,
    ClientInvoiceCreate,
    ClientInvoiceUpdate,
    ClientUpdate,
    InvoiceItemInput,
    Money,
    PaymentMethodsInput,
    QontoAuthError,
    QontoClient,
    QontoConfigurationError,
    QontoError,
)
from billing_pipeline_tests.qonto.conftest import (
    API_LOGIN,
    API_SECRET,
    IBAN,
    STAGING_TOKEN,
    FakeQonto,
    attachment_payload,
    client_payload,
    invoice_payload,
    json_reply,
    make_config,
)

Make = Callable[..., QontoClient]
PDF = b"%PDF-1.7\n%fake draft\n"


def page_reply(
    key: str, items: list[dict[str, Any]], page: int, total_pages: int, per_page: int = 100
) -> httpx.Response:
    meta = {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": len(items),
        "per_page": per_page,
    }
    return json_reply(200, {key: items, "meta": meta})


async def test_list_clients_sends_filters_and_parses_page(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/clients", page_reply("clients", [client_payload()], 1, 1))
    async with make_client() as qonto:
        page = await qonto.list_clients(email="billing@acme.example", sort_by="created_at:asc", per_page=50)
    request = fake.requests[0]
    assert dict(request.url.params) == {
        "filter[email]": "billing@acme.example",
        "sort_by": "created_at:asc",
        "page": "1",
        "per_page": "50",
    }
    assert [c.id for c in page.items] == ["c-1"]
    assert page.items[0].billing_address is not None
    assert page.meta.next_page is None


async def test_iter_clients_follows_next_page_until_null(fake: FakeQonto, make_client: Make) -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        items = [client_payload(f"c-{number}-{i}") for i in range(100 if number < 3 else 5)]
        return page_reply("clients", items, number, 3)

    fake.on("GET", "/v2/clients", pages)
    async with make_client() as qonto:
        ids = [c.id async for c in qonto.iter_clients(name="ACME")]
    assert len(ids) == 205
    assert len(set(ids)) == 205
    assert [r.url.params["page"] for r in fake.requests] == ["1", "2", "3"]
    assert all(r.url.params["filter[name]"] == "ACME" for r in fake.requests)


async def test_iteration_stops_on_a_page_that_does_not_advance(fake: FakeQonto, make_client: Make) -> None:
    fake.on(
        "GET",
        "/v2/client_invoices",
        json_reply(200, {"client_invoices": [], "meta": {"current_page": 1, "next_page": 1}}),
    )
    async with make_client() as qonto:
        with pytest.raises(QontoError, match="pagination did not advance"):
            _ = [i async for i in qonto.iter_client_invoices()]


async def test_list_invoices_filters(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/client_invoices", page_reply("client_invoices", [invoice_payload()], 1, 1))
    since = datetime(2026, 1, 1, tzinfo=UTC)
    async with make_client() as qonto:
        page = await qonto.list_client_invoices(
            status=["draft", "unpaid"], created_at_from=since, sort_by="created_at:asc"
        )
        with pytest.raises(ValueError, match="must be timezone-aware"):
            await qonto.list_client_invoices(updated_at_from=datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="per_page must be between 1 and 100"):
            await qonto.list_client_invoices(per_page=101)
        with pytest.raises(ValueError, match="page must be >= 1"):
            await qonto.list_clients(page=0)
        with pytest.raises(ValueError, match="at least 2 characters"):
            await qonto.list_clients(name="A")
        with pytest.raises(ValueError, match="without commas"):
            await qonto.list_client_invoices(status=["draft,paid"])
    assert dict(fake.requests[0].url.params) == {
        "filter[status]": "draft,unpaid",
        "filter[created_at_from]": "2026-01-01T00:00:00+00:00",
        "sort_by": "created_at:asc",
        "page": "1",
        "per_page": "100",
    }
    assert len(fake.requests) == 1  # bad arguments never reach Qonto
    assert page.items[0].purchase_order == "BP-2026-01-acme"


async def test_client_crud(fake: FakeQonto, make_client: Make) -> None:
    fake.on("POST", "/v2/clients", json_reply(201, {"client": client_payload("c-9")}))
    fake.on("GET", "/v2/clients/c-9", json_reply(200, {"client": client_payload("c-9")}))
    fake.on("PATCH", "/v2/clients/c-9", json_reply(200, {"client": {**client_payload("c-9"), "vat_number": "FR1"}}))
    async with make_client() as qonto:
        created = await qonto.create_client(ClientCreate(kind="company", name="ACME Corp", currency="EUR"))
        fetched = await qonto.get_client("c-9")
        updated = await qonto.update_client("c-9", ClientUpdate(vat_number="FR1"))
    assert created.id == fetched.id == "c-9"
    assert updated.vat_number == "FR1"
    assert json.loads(fake.requests[0].content) == {"kind": "company", "name": "ACME Corp", "currency": "EUR"}
    assert fake.requests[0].headers["content-type"] == "application/json"
    assert json.loads(fake.requests[2].content) == {"vat_number": "FR1"}


async def test_invoice_lifecycle_paths(fake: FakeQonto, make_client: Make) -> None:
    fake.on("POST", "/v2/client_invoices", json_reply(201, {"client_invoice": invoice_payload()}))
    fake.on("PATCH", "/v2/client_invoices/inv-1", json_reply(200, {"client_invoice": invoice_payload(header="h")}))
    fake.on(
        "POST",
        "/v2/client_invoices/inv-1/finalize",
        json_reply(200, {"client_invoice": invoice_payload(status="unpaid", number="F-2026-00001")}),
    )
    fake.on(
        "POST",
        "/v2/client_invoices/inv-1/mark_as_canceled",
        json_reply(200, {"client_invoice": invoice_payload(status="canceled")}),
    )
    fake.on("DELETE", "/v2/client_invoices/inv-2", httpx.Response(204))
    draft = ClientInvoiceCreate(
        client_id="c-1",
        issue_date=date(2026, 2, 1),
        due_date=date(2026, 3, 3),
        payment_methods=PaymentMethodsInput(iban=IBAN),
        items=[
            InvoiceItemInput(
                title="Seats",
                quantity=Decimal("3"),
                unit_price=Money(value=Decimal("49.90"), currency="EUR"),
                vat_rate=Decimal("0.2"),
            )
        ],
    )
    async with make_client() as qonto:
        created = await qonto.create_client_invoice(draft)
        updated = await qonto.update_client_invoice("inv-1", ClientInvoiceUpdate(header="h"))
        finalized = await qonto.finalize_client_invoice("inv-1")
        canceled = await qonto.cancel_client_invoice("inv-1")
        assert await qonto.delete_client_invoice("inv-2") is None
        assert qonto.request_count == 5
    assert created.status == "draft"
    assert updated.header == "h"
    assert finalized.number == "F-2026-00001"
    assert canceled.status == "canceled"
    body = json.loads(fake.requests[0].content)
    assert body["items"][0] == {
        "title": "Seats",
        "quantity": "3",
        "unit_price": {"value": "49.90", "currency": "EUR"},
        "vat_rate": "0.2",
    }
    assert body["status"] == "draft"
    assert fake.requests[2].content == b""  # finalize has no body


async def test_ids_are_path_escaped(fake: FakeQonto, make_client: Make) -> None:
    async with make_client() as qonto:
        with pytest.raises(QontoError):
            await qonto.get_client_invoice("../organization")
        with pytest.raises(ValueError, match="must not be empty"):
            await qonto.get_client_invoice(" ")
    assert fake.requests[0].url.raw_path == b"/v2/client_invoices/..%2Forganization"


async def test_auth_and_staging_headers_exact(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/clients/c-1", json_reply(200, {"client": client_payload()}))
    async with make_client(make_config(staging_token=STAGING_TOKEN)) as qonto:
        await qonto.get_client("c-1")
    headers = fake.requests[0].headers
    assert headers["authorization"] == f"{API_LOGIN}:{API_SECRET}"
    assert headers["x-qonto-staging-token"] == STAGING_TOKEN
    assert headers["accept"] == "application/json"


# --- attachments and downloads ------------------------------------------------------------------


class DownloadHost:
    """A signed-URL host that records what it receives and sets a cookie to tempt the client."""

    def __init__(self, body: bytes = PDF, refuse_first: int = 0) -> None:
        self.requests: list[httpx.Request] = []
        self.body = body
        self.refuse_first = refuse_first

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.refuse_first:
            return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code>Request has expired</Error>")
        return httpx.Response(200, content=self.body, headers={"set-cookie": "session=tracking; Path=/"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


async def test_download_sends_no_credentials_and_no_cookies(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/attachments/att-1", json_reply(200, {"attachment": attachment_payload()}))
    host = DownloadHost()
    async with make_client(make_config(staging_token=STAGING_TOKEN), download=host.transport) as qonto:
        attachment = await qonto.get_attachment("att-1")
        first = await qonto.download_attachment(attachment)
        second = await qonto.download_attachment(attachment)
        assert qonto.download_count == 2
    assert first == second == PDF
    for request in host.requests:
        names = {name.lower() for name in request.headers}
        assert "authorization" not in names
        assert "x-qonto-staging-token" not in names
        assert "cookie" not in names
        assert str(request.url) == "https://files.test/att-1.pdf?signature=abc123"


async def test_old_url_is_refreshed_before_download(fake: FakeQonto, make_client: Make) -> None:
    now = [datetime(2026, 2, 1, 10, 0, tzinfo=UTC)]
    fake.on(
        "GET",
        "/v2/attachments/att-1",
        json_reply(200, {"attachment": attachment_payload(url="https://files.test/a?signature=old")}),
        json_reply(200, {"attachment": attachment_payload(url="https://files.test/a?signature=new")}),
    )
    host = DownloadHost()
    async with make_client(download=host.transport, clock=lambda: now[0]) as qonto:
        attachment = await qonto.get_attachment("att-1")
        assert attachment.fetched_at == now[0]
        now[0] += timedelta(minutes=24, seconds=59)
        await qonto.download_attachment(attachment)
        now[0] += timedelta(seconds=1)  # 25 min after fetching: renew first
        await qonto.download_attachment(attachment)
    assert [r.url.params["signature"] for r in host.requests] == ["old", "new"]
    assert len(fake.sent("GET", "/v2/attachments/att-1")) == 2


async def test_refused_url_is_refreshed_once(fake: FakeQonto, make_client: Make) -> None:
    fake.on(
        "GET",
        "/v2/attachments/att-1",
        json_reply(200, {"attachment": attachment_payload(url="https://files.test/a?signature=fresh")}),
    )
    stale = Attachment.model_validate(attachment_payload(url="https://files.test/a?signature=stale"))
    host = DownloadHost(refuse_first=1)
    async with make_client(download=host.transport) as qonto:
        assert await qonto.download_attachment(stale) == PDF
    assert [r.url.params["signature"] for r in host.requests] == ["stale", "fresh"]

    always_refused = DownloadHost(refuse_first=99)
    async with make_client(download=always_refused.transport) as qonto:
        with pytest.raises(QontoAuthError, match="signed URL expired or its signature is invalid"):
            await qonto.download_attachment(stale)
    assert len(always_refused.requests) == 2


async def test_download_that_is_not_a_pdf_is_refused(fake: FakeQonto, make_client: Make) -> None:
    host = DownloadHost(body=b"<html>OneLogin</html>")
    attachment = Attachment.model_validate(attachment_payload())
    async with make_client(download=host.transport) as qonto:
        with pytest.raises(QontoConfigurationError, match="did not return a PDF"):
            await qonto.download_attachment(attachment)


async def test_download_refuses_non_http_urls(fake: FakeQonto, make_client: Make) -> None:
    attachment = Attachment.model_validate(attachment_payload(url="file:///etc/passwd"))
    async with make_client() as qonto:
        with pytest.raises(QontoConfigurationError, match="non-http"):
            await qonto.download_attachment(attachment)


async def test_download_retried_on_5xx(fake: FakeQonto, make_client: Make) -> None:
    calls: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503) if len(calls) == 1 else httpx.Response(200, content=PDF)

    attachment = Attachment.model_validate(attachment_payload())
    async with make_client(download=httpx.MockTransport(flaky)) as qonto:
        assert await qonto.download_attachment(attachment) == PDF
    assert len(calls) == 2


async def test_client_repr_names_endpoint_and_login_only() -> None:
    async with QontoClient(make_config(staging_token=STAGING_TOKEN)) as qonto:
        assert repr(qonto) == f"<QontoClient https://qonto.test sandbox api-key login={API_LOGIN}>"


async def test_pooled_connections_expire_well_before_the_server_closes_them() -> None:
    """A create sent on a keep-alive connection the server is closing gets no answer (ambiguous):
    connections idle for as long as the server's keep-alive timeout are never reused."""
    from billing_pipeline.emulator.app import create_app
    from billing_pipeline.emulator.config import EmulatorConfig
    from billing_pipeline.emulator.server import uvicorn_config
    from billing_pipeline.qonto.client import KEEPALIVE_EXPIRY_S, QontoClient
    from billing_pipeline.qonto.config import ApiKeyAuth, QontoConfig

    server_keep_alive_s = uvicorn_config(create_app(EmulatorConfig())).timeout_keep_alive
    config = QontoConfig(base_url="http://127.0.0.1:9", auth=ApiKeyAuth.parse("login:secret"))
    async with QontoClient(config) as qonto:
        pool = qonto._http._transport._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry == KEEPALIVE_EXPIRY_S
        # the download client too: its pool reused files connections idle up to 5 s, and one
        # download in the end-to-end benchmark met "Server disconnected without sending a response"
        downloads = qonto._downloader._http._transport._pool  # type: ignore[attr-defined]
        assert downloads._keepalive_expiry == KEEPALIVE_EXPIRY_S
    assert KEEPALIVE_EXPIRY_S <= server_keep_alive_s / 2
