"""``QontoClient``: the async client for the invoicing part of the Qonto Business API.

Usage::

    async with QontoClient(config) as qonto:
        org = await qonto.get_organization()
        async for client in qonto.iter_clients(email="billing@acme.example"):
            ...

Every call goes through the shared request budget, the concurrency bound, the retry rules of
``retries.py`` and the error mapping of ``session.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

import httpx
from pydantic import BaseModel

from billing_pipeline.qonto.auth import ApiKeyProvider, AuthProvider, OAuthTokenManager, utc_now
from billing_pipeline.qonto.calls import envelope, filters, is_pdf, iterate_pages, parse_model, segment, status_list
from billing_pipeline.qonto.config import ApiKeyAuth, QontoConfig
from billing_pipeline.qonto.credit_notes import CreditNoteCalls
from billing_pipeline.qonto.delivery_calls import DeliveryCalls
from billing_pipeline.qonto.downloads import SignedUrlDownloader, new_download_client
from billing_pipeline.qonto.errors import QontoAuthError, QontoConfigurationError
from billing_pipeline.qonto.models import (
    Attachment,
    Client,
    ClientCreate,
    ClientInvoice,
    ClientInvoiceCreate,
    ClientInvoiceUpdate,
    ClientUpdate,
    Organization,
    Page,
    PageMeta,
)
from billing_pipeline.qonto.preflight import PreflightCalls
from billing_pipeline.qonto.ratelimit import shared_budget
from billing_pipeline.qonto.readiness import facturx_is_ready
from billing_pipeline.qonto.redaction import install_log_redaction
from billing_pipeline.qonto.retries import RetryPolicy
from billing_pipeline.qonto.session import KEEPALIVE_EXPIRY_S, USER_AGENT, ApiSession, JsonObject
from billing_pipeline.qonto.transactions import TransactionCalls
from billing_pipeline.qonto.wire import MAX_PER_PAGE

__all__ = ["KEEPALIVE_EXPIRY_S", "URL_REFRESH_AFTER", "QontoClient", "facturx_is_ready"]

logger = logging.getLogger(__name__)

# signed URLs live 30 minutes; past 25 the download could start valid and end expired
URL_REFRESH_AFTER = timedelta(minutes=25)

M = TypeVar("M", bound=BaseModel)
Clock = Callable[[], datetime]


class QontoClient(CreditNoteCalls, DeliveryCalls, TransactionCalls, PreflightCalls):
    """Async Qonto API client; use as ``async with QontoClient(config) as qonto``.

    Credit notes (``create_credit_note``, ``get_credit_note``, ``list_credit_notes``,
    ``iter_credit_notes``) come from ``CreditNoteCalls``; bank transactions and ``mark_client_invoice_paid``
    from ``TransactionCalls``; ``get_einvoicing_settings`` and ``probe_scopes`` from ``PreflightCalls``.

    ``transport`` / ``download_transport`` replace the network (tests, in-process emulator).
    ``retry_policy`` sets the backoff timing (attempts always come from ``config.max_attempts``);
    ``clock`` returns the current aware datetime (token expiry, signed-URL age).
    """

    def __init__(
        self,
        config: QontoConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        download_transport: httpx.AsyncBaseTransport | None = None,
        retry_policy: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        install_log_redaction()
        self._config = config
        self._clock: Clock = clock or utc_now
        policy = replace(retry_policy or RetryPolicy(), attempts=config.max_attempts)
        if not config.verify_tls:
            logger.warning(
                "TLS certificate verification is DISABLED for %s (QontoConfig.verify_tls=False): "
                "anyone on the network path can read the credentials",
                config.base_url,
            )
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            transport=transport,
            timeout=httpx.Timeout(config.timeout_s),
            limits=httpx.Limits(max_keepalive_connections=config.max_concurrency, keepalive_expiry=KEEPALIVE_EXPIRY_S),
            verify=config.verify_tls,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        self._auth: AuthProvider
        if isinstance(config.auth, ApiKeyAuth):
            self._auth = ApiKeyProvider(config.auth)
        else:
            self._auth = OAuthTokenManager(
                config.auth, self._http, staging_token=config.staging_token, clock=self._clock
            )
        self._session = ApiSession(
            config,
            http=self._http,
            auth=self._auth,
            budget=shared_budget(
                config.rate_limit_10s,
                config.rate_limit_10min,
                config.rate_limit_db,
                config.rate_window_margin_s,
                config.rate_limit_url.get_secret_value() if config.rate_limit_url is not None else None,
            ),
            policy=policy,
        )
        self._downloader = SignedUrlDownloader(new_download_client(download_transport, config.timeout_s), policy)

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._downloader.aclose()

    def __repr__(self) -> str:
        sandbox = " sandbox" if self._config.staging_token is not None else ""
        return f"<QontoClient {self._config.base_url}{sandbox} {self._auth.describe()}>"

    @property
    def config(self) -> QontoConfig:
        return self._config

    @property
    def request_count(self) -> int:
        """HTTP requests sent to the Qonto API so far (every attempt counts)."""
        return self._session.request_count

    @property
    def download_count(self) -> int:
        """HTTP requests sent to signed download URLs so far."""
        return self._downloader.download_count

    # --- organization ---------------------------------------------------------------------------

    async def get_organization(self) -> Organization:
        body = await self._session.call("GET", "/v2/organization")
        return parse_model(Organization, envelope(body, "organization", "GET /v2/organization"))

    # --- clients --------------------------------------------------------------------------------

    async def list_clients(
        self,
        *,
        email: str | None = None,
        tax_identification_number: str | None = None,
        vat_number: str | None = None,
        name: str | None = None,
        sort_by: str | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> Page[Client]:
        if name is not None and len(name.strip()) < 2:
            raise ValueError("name filter needs at least 2 characters (Qonto rule)")
        params = filters(
            email=email, tax_identification_number=tax_identification_number, vat_number=vat_number, name=name
        )
        return await self._list("/v2/clients", "clients", Client, params, sort_by, page, per_page)

    async def iter_clients(
        self,
        *,
        email: str | None = None,
        tax_identification_number: str | None = None,
        vat_number: str | None = None,
        name: str | None = None,
        sort_by: str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> AsyncIterator[Client]:
        async def fetch(page: int) -> Page[Client]:
            return await self.list_clients(
                email=email,
                tax_identification_number=tax_identification_number,
                vat_number=vat_number,
                name=name,
                sort_by=sort_by,
                page=page,
                per_page=per_page,
            )

        async for client in iterate_pages(fetch):
            yield client

    async def get_client(self, client_id: str) -> Client:
        path = f"/v2/clients/{segment(client_id)}"
        return parse_model(Client, envelope(await self._session.call("GET", path), "client", f"GET {path}"))

    async def create_client(self, client: ClientCreate) -> Client:
        body = await self._session.call("POST", "/v2/clients", body=client.to_payload())
        return parse_model(Client, envelope(body, "client", "POST /v2/clients"))

    async def update_client(self, client_id: str, update: ClientUpdate) -> Client:
        path = f"/v2/clients/{segment(client_id)}"
        body = await self._session.call("PATCH", path, body=update.to_payload())
        return parse_model(Client, envelope(body, "client", f"PATCH {path}"))

    # --- client invoices ------------------------------------------------------------------------

    async def list_client_invoices(
        self,
        *,
        status: Sequence[str] | None = None,
        created_at_from: datetime | None = None,
        created_at_to: datetime | None = None,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        sort_by: str | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> Page[ClientInvoice]:
        params = filters(
            status=status_list(status),
            created_at_from=created_at_from,
            created_at_to=created_at_to,
            updated_at_from=updated_at_from,
            updated_at_to=updated_at_to,
        )
        return await self._list(
            "/v2/client_invoices", "client_invoices", ClientInvoice, params, sort_by, page, per_page
        )

    async def iter_client_invoices(
        self,
        *,
        status: Sequence[str] | None = None,
        created_at_from: datetime | None = None,
        created_at_to: datetime | None = None,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        sort_by: str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> AsyncIterator[ClientInvoice]:
        async def fetch(page: int) -> Page[ClientInvoice]:
            return await self.list_client_invoices(
                status=status,
                created_at_from=created_at_from,
                created_at_to=created_at_to,
                updated_at_from=updated_at_from,
                updated_at_to=updated_at_to,
                sort_by=sort_by,
                page=page,
                per_page=per_page,
            )

        async for invoice in iterate_pages(fetch):
            yield invoice

    async def get_client_invoice(self, invoice_id: str) -> ClientInvoice:
        path = f"/v2/client_invoices/{segment(invoice_id)}"
        return await self._invoice_call("GET", path)

    async def create_client_invoice(self, invoice: ClientInvoiceCreate) -> ClientInvoice:
        return await self._invoice_call("POST", "/v2/client_invoices", invoice.to_payload())

    async def update_client_invoice(self, invoice_id: str, update: ClientInvoiceUpdate) -> ClientInvoice:
        path = f"/v2/client_invoices/{segment(invoice_id)}"
        return await self._invoice_call("PATCH", path, update.to_payload())

    async def delete_client_invoice(self, invoice_id: str) -> None:
        await self._session.call("DELETE", f"/v2/client_invoices/{segment(invoice_id)}")

    async def finalize_client_invoice(self, invoice_id: str) -> ClientInvoice:
        return await self._invoice_call("POST", f"/v2/client_invoices/{segment(invoice_id)}/finalize")

    async def cancel_client_invoice(self, invoice_id: str) -> ClientInvoice:
        """``mark_as_canceled``: unpaid → canceled, irreversible."""
        return await self._invoice_call("POST", f"/v2/client_invoices/{segment(invoice_id)}/mark_as_canceled")

    # --- attachments ----------------------------------------------------------------------------

    async def get_attachment(self, attachment_id: str) -> Attachment:
        path = f"/v2/attachments/{segment(attachment_id)}"
        fetched_at = self._clock()
        data = envelope(await self._session.call("GET", path), "attachment", f"GET {path}")
        return parse_model(Attachment, {**data, "fetched_at": fetched_at})

    async def download_attachment(self, attachment: Attachment) -> bytes:
        """The file behind ``attachment.url``, fetched without any Qonto credential.

        A URL older than 25 minutes is renewed first by re-reading the attachment; a URL refused
        as expired is renewed once.
        """
        if self._clock() - attachment.fetched_at >= URL_REFRESH_AFTER:
            logger.info("signed URL of attachment %s is older than 25 min; fetching a fresh one", attachment.id)
            attachment = await self.get_attachment(attachment.id)
        expect_pdf = is_pdf(attachment)
        try:
            return await self._downloader.fetch(attachment.url, expect_pdf=expect_pdf)
        except QontoAuthError:
            logger.info("signed URL of attachment %s was refused; fetching a fresh one", attachment.id)
            attachment = await self.get_attachment(attachment.id)
            return await self._downloader.fetch(attachment.url, expect_pdf=expect_pdf)

    # --- plumbing -------------------------------------------------------------------------------

    async def _invoice_call(self, method: str, path: str, body: JsonObject | None = None) -> ClientInvoice:
        answer = await self._session.call(method, path, body=body)
        return parse_model(ClientInvoice, envelope(answer, "client_invoice", f"{method} {path}"))

    async def _list(
        self,
        path: str,
        key: str,
        model: type[M],
        params: dict[str, str],
        sort_by: str | None,
        page: int,
        per_page: int,
    ) -> Page[M]:
        if page < 1:
            raise ValueError(f"page must be >= 1, got {page}")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
        query: dict[str, str | int] = {**params, "page": page, "per_page": per_page}
        if sort_by is not None:
            query["sort_by"] = sort_by
        body = await self._session.call("GET", path, params=query)
        if body is None or not isinstance(body.get(key), list):
            raise QontoConfigurationError(f"GET {path} answered without the {key!r} list", method="GET", path=path)
        items = [parse_model(model, item) for item in body[key]]
        meta = parse_model(PageMeta, body.get("meta") or {})
        return Page[model](items=items, meta=meta)  # type: ignore[valid-type]
