"""Shared helpers: a scripted fake of Qonto for ``httpx.MockTransport`` and realistic payloads."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from billing_pipeline.qonto import ApiKeyAuth, QontoClient, QontoConfig, RetryPolicy

API_LOGIN = "acme-org-7132"
API_SECRET = "62885d39f3a0ddedd3d3ee0432a43ccr"
STAGING_TOKEN = "staging-tok-5f1e2d3c4b5a"
BASE_URL = "https://qonto.test"
IBAN = "FR7616798000010000005663951"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **(headers or {})}
    )


def error_reply(
    status: int,
    code: str,
    detail: str,
    source: dict[str, str] | None = None,
    trace_id: str = "trace-0001",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "detail": detail}
    if source is not None:
        error["source"] = source
    return json_reply(status, {"errors": [error], "trace_id": trace_id}, headers)


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    replies: list[Reply]
    calls: int = 0


@dataclass
class FakeQonto:
    """Answers scripted replies per (method, path regex); the last reply of a route repeats."""

    routes: list[Route] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path_regex: str, *replies: Reply) -> Route:
        route = Route(method, re.compile(path_regex), list(replies))
        self.routes.insert(0, route)  # later definitions win
        return route

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for route in self.routes:
            if route.method == request.method and route.pattern.fullmatch(request.url.path):
                reply = route.replies[min(route.calls, len(route.replies) - 1)]
                route.calls += 1
                if isinstance(reply, Exception):
                    raise reply
                if callable(reply) and not isinstance(reply, httpx.Response):
                    return reply(request)
                return reply
        return error_reply(404, "not_found", f"no route for {request.method} {request.url.path}")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def sent(self, method: str, path_regex: str) -> list[httpx.Request]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.url.path)]


@dataclass
class RecordingSleep:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def policy(sleeps: RecordingSleep) -> RetryPolicy:
    return RetryPolicy(wait_initial=0.5, wait_max=30, wait_jitter=0.0, sleep=sleeps)


@pytest.fixture
def fake() -> FakeQonto:
    return FakeQonto()


def make_config(**overrides: Any) -> QontoConfig:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "auth": ApiKeyAuth(login=API_LOGIN, secret_key=SecretStr(API_SECRET)),
        "max_attempts": 4,
    }
    values.update(overrides)
    return QontoConfig(**values)


@pytest.fixture
def make_client(fake: FakeQonto, policy: RetryPolicy) -> Callable[..., QontoClient]:
    def build(
        config: QontoConfig | None = None,
        *,
        download: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> QontoClient:
        return QontoClient(
            config or make_config(),
            transport=fake.transport,
            download_transport=download or fake.transport,
            retry_policy=policy,
            clock=clock,
        )

    return build


# --- payloads as Qonto documents them ------------------------------------------------------------


def organization_payload() -> dict[str, Any]:
    return {
        "id": "0d5b4cbb-0000-4000-8000-000000000001",
        "slug": "acme-sas-1234",
        "legal_name": "ACME SAS",
        "legal_number": "732829320",
        "legal_share_capital": 1000,
        "contract_signed_at": "2022-12-01 08:57:00.123047",
        "legal_registration_date": "2020-01-15",
        "brand_new_field": {"nested": True},
        "bank_accounts": [
            {
                "slug": "acme-closed",
                "iban": "FR7630001007941234567890185",
                "bic": "QNTOFRP1XXX",
                "currency": "EUR",
                "balance": 10.5,
                "balance_cents": 1050,
                "status": "closed",
                "main": True,
                "updated_at": "2021-03-23T14:21:51.000Z",
            },
            {
                "slug": "acme-ops",
                "iban": IBAN,
                "bic": "QNTOFRP1XXX",
                "currency": "EUR",
                "balance": 1234.56,
                "balance_cents": 123456,
                "status": "active",
                "main": False,
                "updated_at": "2021-03-23T14:21:51.000Z",
            },
        ],
    }


def client_payload(client_id: str = "c-1", email: str = "billing@acme.example") -> dict[str, Any]:
    return {
        "id": client_id,
        "kind": "company",
        "type": "company",
        "name": "ACME Corp",
        "email": email,
        "currency": "EUR",
        "locale": "fr",
        "billing_address": {
            "street_address": "1 rue de la Paix",
            "city": "Paris",
            "zip_code": "75002",
            "country_code": "FR",
        },
        "created_at": "2026-01-02T10:00:00.000Z",
        "updated_at": "2026-01-02T10:00:00.000Z",
        "some_future_field": "x",
    }


def invoice_payload(invoice_id: str = "inv-1", status: str = "draft", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": invoice_id,
        "organization_id": "0d5b4cbb-0000-4000-8000-000000000001",
        "attachment_id": "att-1",
        "number": None,
        "status": status,
        "invoice_url": "https://pay.qonto.com/invoices/inv-1",
        "currency": "EUR",
        "total_amount": {"value": "600.00", "currency": "EUR"},
        "total_amount_cents": 60000,
        "vat_amount": {"value": "100.00", "currency": "EUR"},
        "vat_amount_cents": 10000,
        "issue_date": "2026-02-01",
        "due_date": "2026-03-03",
        "performance_start_date": "2026-01-01",
        "performance_end_date": "2026-01-31",
        "purchase_order": "BP-2026-01-acme",
        "items": [
            {
                "title": "API calls",
                "quantity": "1250000",
                "unit": "unit",
                "unit_price": {"value": "0.0004", "currency": "EUR"},
                "vat_rate": "0.2",
                "subtotal": {"value": "500.00", "currency": "EUR"},
                "total_vat": {"value": "100.00", "currency": "EUR"},
                "total_amount": {"value": "600.00", "currency": "EUR"},
                "total_amount_cents": 60000,
            }
        ],
        "client": {"id": "c-1", "name": "ACME Corp", "type": "company"},
        "payment_methods": [{"beneficiary_name": "ACME SAS", "bic": "QNTOFRP1XXX", "iban": IBAN, "type": "transfer"}],
        "created_at": "2026-02-01T09:00:00+01:00",
        "updated_at": "2026-02-01T09:00:00+01:00",
        "finalized_at": None,
        "einvoicing_status": "brand_new_status",
    }
    payload.update(extra)
    return payload


def attachment_payload(
    attachment_id: str = "att-1",
    url: str = "https://files.test/att-1.pdf?signature=abc123",
    updated_at: str | None = "2026-02-01T09:00:11.000Z",
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": attachment_id,
        "file_name": "invoice.pdf",
        "file_size": "666",
        "file_content_type": "application/pdf",
        "url": url,
        "created_at": "2026-02-01T08:00:00.000Z",
    }
    if updated_at is not None:
        payload["updated_at"] = updated_at
    return payload


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
