"""Contract tests: the client over real loopback HTTP against the local Qonto emulator."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import facturx
import pytest
from lxml import etree
from pydantic import SecretStr

from billing_pipeline.emulator.config import (
    EMULATOR_API_KEY,
    EMULATOR_OAUTH_CLIENT_ID,
    EMULATOR_OAUTH_CLIENT_SECRET,
    EMULATOR_OAUTH_REFRESH_TOKEN,
    EMULATOR_SECRET_KEY,
    EMULATOR_STAGING_TOKEN,
    IN_PROCESS_API_BASE_URL,
)
from billing_pipeline.emulator.testing import RunningEmulator, in_process_transport, running_emulator
from billing_pipeline.qonto import (
    Address,
    ApiKeyAuth,
    ClientCreate,
    ClientInvoice,
    ClientInvoiceCreate,
    InvoiceItemInput,
    Money,
    OAuthAuth,
    PaymentMethodsInput,
    QontoAmbiguousWriteError,
    QontoAuthError,
    QontoClient,
    QontoConfig,
    QontoConfigurationError,
    QontoNotFoundError,
    QontoValidationError,
    RetryPolicy,
    facturx_is_ready,
)

FAST = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)
CII = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
CENT = Decimal("0.01")
LINES = [  # (title, quantity, unit price, VAT rate)
    ("API calls", "1250000", "0.0004", "0.2"),
    ("Seats", "3", "49.90", "0.2"),
    ("Training", "1.5", "80.00", "0.1"),
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    # sandbox mode so that the staging token is exercised everywhere (and must stay off downloads)
    with running_emulator(sandbox=True, render_delay_s=10) as running:
        yield running


def config_for(emulator: RunningEmulator, **overrides: Any) -> QontoConfig:
    values: dict[str, Any] = {
        "base_url": emulator.base_url,
        "auth": ApiKeyAuth.parse(emulator.api_key),
        "staging_token": SecretStr(emulator.staging_token) if emulator.staging_token else None,
    }
    values.update(overrides)
    return QontoConfig(**values)


def client_for(emulator: RunningEmulator, **overrides: Any) -> QontoClient:
    return QontoClient(config_for(emulator, **overrides), retry_policy=FAST)


def round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def expected_totals() -> tuple[Decimal, Decimal, Decimal]:
    """EN 16931: line nets rounded, VAT rounded per rate over the summed nets."""
    nets: dict[Decimal, Decimal] = {}
    for _, quantity, price, rate in LINES:
        net = round_cents(Decimal(quantity) * Decimal(price))
        nets[Decimal(rate)] = nets.get(Decimal(rate), Decimal(0)) + net
    net_total = sum(nets.values(), Decimal(0))
    vat = sum((round_cents(amount * rate) for rate, amount in nets.items()), Decimal(0))
    return net_total, vat, net_total + vat


async def billable_client(qonto: QontoClient, email: str) -> str:
    client = await qonto.create_client(
        ClientCreate(
            kind="company",
            name=f"ACME {email}",
            email=email,
            currency="EUR",
            locale="fr",
            vat_number="FR44732829320",
            tax_identification_number="732829320",
            billing_address=Address(
                street_address="1 rue de la Paix", city="Paris", zip_code="75002", country_code="FR"
            ),
        )
    )
    return client.id


def draft_for(client_id: str, iban: str, marker: str) -> ClientInvoiceCreate:
    return ClientInvoiceCreate(
        client_id=client_id,
        issue_date=date(2026, 2, 1),
        due_date=date(2026, 3, 3),
        performance_start_date=date(2026, 1, 1),
        performance_end_date=date(2026, 1, 31),
        payment_methods=PaymentMethodsInput(iban=iban),
        purchase_order=marker,
        items=[
            InvoiceItemInput(
                title=title,
                quantity=Decimal(quantity),
                unit="unit",
                unit_price=Money(value=Decimal(price), currency="EUR"),
                vat_rate=Decimal(rate),
            )
            for title, quantity, price, rate in LINES
        ],
    )


async def new_draft(qonto: QontoClient, marker: str) -> ClientInvoice:
    iban = (await qonto.get_organization()).main_account().iban
    client_id = await billable_client(qonto, f"{marker}@acme.example")
    return await qonto.create_client_invoice(draft_for(client_id, iban, marker))


def invoices_marked(emulator: RunningEmulator, marker: str) -> list[dict[str, Any]]:
    return [i for i in emulator.state()["client_invoices"] if i.get("purchase_order") == marker]


def embedded_xml(pdf: bytes) -> bytes | None:
    # the factur-x library answers (False, False) when no XML is embedded
    _, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=False)
    return xml or None


# --- the seed flow --------------------------------------------------------------------------------


async def test_seed_flow_down_to_the_embedded_facturx(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    marker = f"BP-{uuid.uuid4().hex[:10]}"
    email = f"{marker}@acme.example"
    net_total, vat_total, grand_total = expected_totals()
    async with client_for(emulator) as qonto:
        org = await qonto.get_organization()
        iban = org.main_account().iban
        assert (await qonto.list_clients(email=email)).items == []
        client_id = await billable_client(qonto, email)
        assert [c.id for c in (await qonto.list_clients(email=email)).items] == [client_id]

        draft = await qonto.create_client_invoice(draft_for(client_id, iban, marker))
        assert draft.status == "draft"
        assert draft.total_amount == Money(value=grand_total, currency="EUR")
        assert draft.vat_amount == Money(value=vat_total, currency="EUR")
        assert sum((i.subtotal.value for i in draft.items if i.subtotal), Decimal(0)) == net_total

        invoice = await qonto.finalize_client_invoice(draft.id)
        assert invoice.status == "unpaid"
        assert invoice.number
        assert invoice.finalized_at is not None

        # right after finalize the attachment is still the draft PDF: never taken for Factur-X
        invoice = await qonto.get_client_invoice(draft.id)
        assert invoice.attachment_id is not None
        early = await qonto.get_attachment(invoice.attachment_id)
        assert facturx_is_ready(invoice, early) is False
        assert embedded_xml(await qonto.download_attachment(early)) is None

        emulator.advance_clock(11)  # past the 10 s render delay, without sleeping
        invoice = await qonto.get_client_invoice(draft.id)
        assert invoice.attachment_id is not None
        attachment = await qonto.get_attachment(invoice.attachment_id)
        assert facturx_is_ready(invoice, attachment) is True
        pdf = await qonto.download_attachment(attachment)

    filename, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert xml is not None
    tree = etree.fromstring(xml)
    assert Decimal(tree.findtext(".//ram:GrandTotalAmount", namespaces=CII)) == grand_total
    assert Decimal(tree.findtext(".//ram:TaxBasisTotalAmount", namespaces=CII)) == net_total
    assert Decimal(tree.findtext(".//ram:TaxTotalAmount", namespaces=CII)) == vat_total
    assert invoice.total_amount == Money(value=grand_total, currency="EUR")

    stats = emulator.stats()
    assert stats["rejected_credentialed_downloads"] == 0
    assert {"authorization", "x-qonto-staging-token", "cookie"}.isdisjoint(stats["download_header_names"])
    # the whole exchange, httpcore DEBUG included, never printed a credential
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert EMULATOR_SECRET_KEY not in logged
    assert EMULATOR_STAGING_TOKEN not in logged


async def test_sandbox_without_staging_token_is_a_configuration_error(emulator: RunningEmulator) -> None:
    async with client_for(emulator, staging_token=None) as qonto:
        with pytest.raises(QontoConfigurationError, match="set QONTO_STAGING_TOKEN / check QONTO_BASE_URL"):
            await qonto.get_organization()


# --- lists and errors -----------------------------------------------------------------------------


async def test_pagination_over_more_than_100_clients(emulator: RunningEmulator) -> None:
    prefix = f"Paged{uuid.uuid4().hex[:8]}"
    async with client_for(emulator) as qonto:
        created = await asyncio.gather(
            *(qonto.create_client(ClientCreate(kind="company", name=f"{prefix} {n:03d}")) for n in range(105))
        )
        before = qonto.request_count
        seen = [c.id async for c in qonto.iter_clients(name=prefix, sort_by="name:asc")]
        assert qonto.request_count - before == 2  # 100 + 5, then next_page is null
    assert sorted(seen) == sorted(c.id for c in created)


async def test_401_404_422_mapping(emulator: RunningEmulator) -> None:
    wrong = ApiKeyAuth(login="emulator-org", secret_key=SecretStr("not-the-secret"))
    async with client_for(emulator, auth=wrong) as qonto:
        with pytest.raises(QontoAuthError, match="Qonto answered 401 to GET /v2/organization") as auth_error:
            await qonto.get_organization()
    assert auth_error.value.trace_id
    async with client_for(emulator) as qonto:
        with pytest.raises(QontoNotFoundError, match="404") as not_found:
            await qonto.get_client_invoice(str(uuid.uuid4()))
        assert not_found.value.trace_id
        client_id = await billable_client(qonto, f"v-{uuid.uuid4().hex[:8]}@acme.example")
        foreign_iban = "DE89370400440532013000"  # a valid IBAN, not the organization's
        with pytest.raises(QontoValidationError, match="iban") as invalid:
            await qonto.create_client_invoice(draft_for(client_id, foreign_iban, "BP-foreign"))
    assert invalid.value.status == 422
    assert any("iban" in field for field in invalid.value.fields)


# --- retries without duplicate writes -------------------------------------------------------------


def route_counts(emulator: RunningEmulator, route: str) -> dict[str, int]:
    counts: dict[str, int] = emulator.stats()["responses"].get(route, {})
    return counts


async def test_reads_retried_on_5xx_and_429(emulator: RunningEmulator) -> None:
    before = route_counts(emulator, "GET /v2/organization")
    emulator.queue_fault("server_error", "GET", r"^/v2/organization$", count=2, status=503)
    emulator.queue_fault("rate_limited", "GET", r"^/v2/organization$", count=1, retry_after=0)
    async with client_for(emulator) as qonto:
        assert (await qonto.get_organization()).main_account().iban
    after = route_counts(emulator, "GET /v2/organization")
    assert after.get("503", 0) - before.get("503", 0) == 2
    assert after.get("429", 0) - before.get("429", 0) == 1
    assert after.get("200", 0) - before.get("200", 0) == 1


async def test_write_retried_on_429_creates_exactly_one_invoice(emulator: RunningEmulator) -> None:
    marker = f"BP-{uuid.uuid4().hex[:10]}"
    async with client_for(emulator) as qonto:
        iban = (await qonto.get_organization()).main_account().iban
        client_id = await billable_client(qonto, f"{marker}@acme.example")
        emulator.queue_fault("rate_limited", "POST", r"^/v2/client_invoices$", count=2, retry_after=0)
        created = await qonto.create_client_invoice(draft_for(client_id, iban, marker))
    assert [i["id"] for i in invoices_marked(emulator, marker)] == [created.id]


@pytest.mark.parametrize(
    ("kind", "params"),
    [("server_error", {"status": 502, "commit": True}), ("lost_response", {"mode": "reset"})],
)
async def test_ambiguous_create_is_not_retried(emulator: RunningEmulator, kind: str, params: dict[str, Any]) -> None:
    marker = f"BP-{uuid.uuid4().hex[:10]}"
    async with client_for(emulator) as qonto:
        iban = (await qonto.get_organization()).main_account().iban
        client_id = await billable_client(qonto, f"{marker}@acme.example")
        emulator.queue_fault(kind, "POST", r"^/v2/client_invoices$", count=1, **params)
        with pytest.raises(QontoAmbiguousWriteError, match="outcome unknown"):
            await qonto.create_client_invoice(draft_for(client_id, iban, marker))
    # the write was committed once and never repeated: reconcile by reading
    assert len(invoices_marked(emulator, marker)) == 1


async def test_lost_finalize_is_ambiguous_and_committed(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        draft = await new_draft(qonto, f"BP-{uuid.uuid4().hex[:10]}")
        emulator.queue_fault("lost_response", "POST", r"/finalize$", count=1)
        with pytest.raises(QontoAmbiguousWriteError):
            await qonto.finalize_client_invoice(draft.id)
        assert (await qonto.get_client_invoice(draft.id)).status == "unpaid"


# --- signed URLs ----------------------------------------------------------------------------------


async def test_expired_urls_are_refreshed(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        draft = await new_draft(qonto, f"BP-{uuid.uuid4().hex[:10]}")
        assert draft.attachment_id is not None
        attachment = await qonto.get_attachment(draft.attachment_id)
        refused_before = route_counts(emulator, "GET /files/{attachment_id}").get("403", 0)

        emulator.advance_clock(31 * 60)  # the server now refuses the URL; the client thinks it fresh
        assert (await qonto.download_attachment(attachment))[:5] == b"%PDF-"
        assert route_counts(emulator, "GET /files/{attachment_id}").get("403", 0) == refused_before + 1

    # with a client clock 26 minutes ahead the (expired) URL is renewed before any download attempt
    ahead = attachment.fetched_at + timedelta(minutes=26)
    async with QontoClient(config_for(emulator), retry_policy=FAST, clock=lambda: ahead) as qonto:
        assert (await qonto.download_attachment(attachment))[:5] == b"%PDF-"
        assert qonto.request_count == 1  # the attachment was re-read first
    assert route_counts(emulator, "GET /files/{attachment_id}").get("403", 0) == refused_before + 1


async def test_in_process_emulator_through_transports(tmp_path: Path) -> None:
    """The embedded default: no server, the emulator app behind httpx transports."""
    emulator = in_process_transport(state_path=tmp_path / "emulator.sqlite", render_delay_s=0)
    config = QontoConfig(base_url=IN_PROCESS_API_BASE_URL, auth=ApiKeyAuth.parse(EMULATOR_API_KEY))
    async with QontoClient(config, transport=emulator, download_transport=emulator, retry_policy=FAST) as qonto:
        draft = await new_draft(qonto, f"BP-{uuid.uuid4().hex[:10]}")
        invoice = await qonto.finalize_client_invoice(draft.id)
        invoice = await qonto.get_client_invoice(invoice.id)
        assert invoice.attachment_id is not None
        attachment = await qonto.get_attachment(invoice.attachment_id)
        assert facturx_is_ready(invoice, attachment) is True
        assert embedded_xml(await qonto.download_attachment(attachment)) is not None


# --- OAuth ----------------------------------------------------------------------------------------


async def test_oauth_finalize_where_api_keys_are_refused(tmp_path: Path) -> None:
    with running_emulator(refuse_api_key_finalize=True, render_delay_s=0) as emulator:
        async with client_for(emulator) as qonto:
            draft = await new_draft(qonto, f"BP-{uuid.uuid4().hex[:10]}")
            with pytest.raises(QontoAuthError, match="403"):
                await qonto.finalize_client_invoice(draft.id)
        oauth = OAuthAuth(
            client_id=EMULATOR_OAUTH_CLIENT_ID,
            client_secret=SecretStr(EMULATOR_OAUTH_CLIENT_SECRET),
            refresh_token=SecretStr(EMULATOR_OAUTH_REFRESH_TOKEN),
            token_store_path=tmp_path / "oauth.json",
            token_url=f"{emulator.base_url}/oauth2/token",
        )
        async with client_for(emulator, auth=oauth) as qonto:
            assert (await qonto.finalize_client_invoice(draft.id)).status == "unpaid"
        # a second client (another run) reuses the stored token chain instead of the spent bootstrap
        async with client_for(emulator, auth=oauth) as qonto:
            assert (await qonto.get_client_invoice(draft.id)).status == "unpaid"
    assert (tmp_path / "oauth.json").stat().st_mode & 0o777 == 0o600


# --- the request budget ---------------------------------------------------------------------------


def test_two_processes_share_one_budget_and_never_overflow(tmp_path: Path) -> None:
    # the emulator allows 20 per 10 s; each process alone would send its 15 at once. The clients
    # allow 18 per 10.5 s (the default window margin absorbs send-to-arrival jitter).
    with running_emulator(rate_limit_10s=20, rate_limit_10min=1000, render_delay_s=0) as emulator:
        rate_db = tmp_path / "qonto-rate.sqlite"
        command = [sys.executable, "-m", "billing_pipeline_tests.qonto.limiter_worker"]
        workers = [
            subprocess.Popen(
                [*command, emulator.base_url, emulator.api_key, str(rate_db), "15", "18", "0.5"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=120) for worker in workers]
        stats = emulator.stats()
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.strip() == "sent=15"
    assert stats["api_requests"] == 30
    assert stats["rate_limited"] == 0
    assert stats["max_requests_10s"] <= 20


async def test_ten_minute_window_holds_requests_back(tmp_path: Path) -> None:
    with running_emulator(rate_limit_10s=0, rate_limit_10min=12, render_delay_s=0) as emulator:
        config = config_for(emulator, rate_limit_10s=50, rate_limit_10min=10, rate_limit_db=tmp_path / "rate.sqlite")
        async with QontoClient(config, retry_policy=FAST) as qonto:
            await asyncio.gather(*(qonto.get_organization() for _ in range(10)))
            # the 11th would only be admitted ten minutes after the first
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(qonto.get_organization(), timeout=1.0)
        stats = emulator.stats()
    assert stats["api_requests"] == 10
    assert stats["rate_limited"] == 0
    assert stats["max_requests_10min"] == 10
