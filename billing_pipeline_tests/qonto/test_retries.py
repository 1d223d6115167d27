"""Retries: reads on 429/5xx/transport errors; writes only when they provably never arrived."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from billing_pipeline.qonto import (
    QontoAmbiguousWriteError,
    QontoClient,
    QontoRateLimitedError,
    QontoServerError,
    QontoTransportError,
    RetryPolicy,
)
from billing_pipeline.qonto.retries import parse_retry_after
from billing_pipeline_tests.qonto.conftest import (
    FakeQonto,
    RecordingSleep,
    error_reply,
    invoice_payload,
    json_reply,
    make_config,
    organization_payload,
)

ORG = json_reply(200, {"organization": organization_payload()})
CREATED = json_reply(201, {"client_invoice": invoice_payload()})
FINALIZED = json_reply(200, {"client_invoice": invoice_payload(status="unpaid")})
Make = Callable[..., QontoClient]


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("[Errno 111] Connection refused")


async def test_read_retried_on_5xx_then_succeeds(fake: FakeQonto, make_client: Make, sleeps: RecordingSleep) -> None:
    fake.on("GET", "/v2/organization", error_reply(503, "unavailable", "try later"), error_reply(500, "x", "y"), ORG)
    async with make_client() as qonto:
        org = await qonto.get_organization()
        assert qonto.request_count == 3
    assert org.legal_name == "ACME SAS"
    assert sleeps.delays == [0.5, 1.0]  # exponential backoff, jitter disabled in this policy


async def test_read_gives_up_after_max_attempts(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", error_reply(502, "bad_gateway", "upstream down", trace_id="t-502"))
    async with make_client() as qonto:
        with pytest.raises(QontoServerError, match=r"Qonto answered 502 to GET /v2/organization.*t-502") as info:
            await qonto.get_organization()
    assert len(fake.requests) == 4  # max_attempts in the test config
    assert info.value.status == 502
    assert info.value.trace_id == "t-502"


async def test_read_retried_on_transport_errors(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset"), ORG)
    async with make_client() as qonto:
        assert (await qonto.get_organization()).id


async def test_read_transport_error_after_retries(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", httpx.ReadTimeout("slow"))
    async with make_client() as qonto:
        with pytest.raises(QontoTransportError, match="GET /v2/organization failed in transit") as info:
            await qonto.get_organization()
    assert info.value.request_sent is True
    assert len(fake.requests) == 4


async def test_retry_after_is_honoured(fake: FakeQonto, make_client: Make, sleeps: RecordingSleep) -> None:
    fake.on(
        "GET",
        "/v2/organization",
        error_reply(429, "too_many_requests", "slow down", headers={"Retry-After": "7"}),
        error_reply(429, "too_many_requests", "slow down"),
        ORG,
    )
    async with make_client() as qonto:
        await qonto.get_organization()
    # the header wins; without it, exponential backoff (attempt 2 -> 1.0 s)
    assert sleeps.delays == [7.0, 1.0]


async def test_retry_after_is_capped(fake: FakeQonto, sleeps: RecordingSleep) -> None:
    fake.on("GET", "/v2/organization", error_reply(429, "x", "y", headers={"Retry-After": "86400"}), ORG)
    policy = RetryPolicy(wait_jitter=0, retry_after_max=60, sleep=sleeps)
    async with QontoClient(make_config(), transport=fake.transport, retry_policy=policy) as qonto:
        await qonto.get_organization()
    assert sleeps.delays == [60]


async def test_rate_limit_exhausted_raises_rate_limited(fake: FakeQonto, make_client: Make) -> None:
    fake.on("GET", "/v2/organization", error_reply(429, "too_many_requests", "slow down", headers={"Retry-After": "1"}))
    async with make_client() as qonto:
        with pytest.raises(QontoRateLimitedError, match="429") as info:
            await qonto.get_organization()
    assert info.value.retry_after == 1.0


async def test_write_not_retried_on_5xx(fake: FakeQonto, make_client: Make, sleeps: RecordingSleep) -> None:
    fake.on("POST", "/v2/client_invoices/inv-1/finalize", error_reply(500, "internal", "boom"), FINALIZED)
    async with make_client() as qonto:
        with pytest.raises(QontoAmbiguousWriteError, match="outcome unknown") as info:
            await qonto.finalize_client_invoice("inv-1")
    assert len(fake.requests) == 1
    assert sleeps.delays == []
    assert info.value.status == 500


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("Server disconnected"), httpx.WriteTimeout("w")],
)
async def test_write_not_retried_when_it_may_have_arrived(
    fake: FakeQonto, make_client: Make, failure: Exception
) -> None:
    fake.on("POST", "/v2/client_invoices/inv-1/finalize", failure, FINALIZED)
    async with make_client() as qonto:
        with pytest.raises(QontoAmbiguousWriteError, match="the request was sent but no answer came back"):
            await qonto.finalize_client_invoice("inv-1")
    assert len(fake.requests) == 1


async def test_write_retried_on_connect_error_and_429(
    fake: FakeQonto, make_client: Make, sleeps: RecordingSleep
) -> None:
    fake.on(
        "POST",
        "/v2/client_invoices/inv-1/finalize",
        connect_error(),
        httpx.ConnectTimeout("connect timeout"),
        error_reply(429, "too_many_requests", "slow down", headers={"Retry-After": "2"}),
        FINALIZED,
    )
    async with make_client() as qonto:
        invoice = await qonto.finalize_client_invoice("inv-1")
    assert invoice.status == "unpaid"
    assert len(fake.requests) == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]


async def test_write_never_connected_reports_not_sent(fake: FakeQonto, make_client: Make) -> None:
    fake.on("DELETE", "/v2/client_invoices/inv-1", connect_error())
    async with make_client() as qonto:
        with pytest.raises(QontoTransportError, match="DELETE /v2/client_invoices/inv-1 never reached Qonto") as info:
            await qonto.delete_client_invoice("inv-1")
    assert info.value.request_sent is False
    assert len(fake.requests) == 4


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    policy = RetryPolicy(wait_initial=0.5, wait_max=10, wait_jitter=1.0)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)]:
        delays = [policy.backoff(attempt) for _ in range(50)]
        assert all(base <= d <= base + 1.0 for d in delays)
        assert len(set(delays)) > 1  # jitter really varies
    assert policy.backoff(30) == 10
    assert policy.backoff(1, retry_after=3) == 3
