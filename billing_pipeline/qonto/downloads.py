"""Download of pre-signed attachment URLs, with no Qonto credential at all.

The URL itself is the credential (valid 30 minutes). The download host is not Qonto's API, so it
must never see the ``Authorization`` or staging header: downloads go through their own httpx client
that has no default headers besides a User-Agent, keeps no cookies, and always verifies TLS.
"""

from __future__ import annotations

import logging
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import httpx

from billing_pipeline.qonto.errors import (
    QontoAuthError,
    QontoConfigurationError,
    QontoError,
    QontoNotFoundError,
    QontoTransportError,
)
from billing_pipeline.qonto.retries import RetryPolicy, retrying
from billing_pipeline.qonto.session import KEEPALIVE_EXPIRY_S, USER_AGENT, decode_json, error_for_status

logger = logging.getLogger(__name__)

_PDF_MAGIC = b"%PDF-"
# the PDF header may be preceded by up to 1 KiB of junk (ISO 32000-1, 7.5.2 note)
_PDF_HEADER_WINDOW = 1024


def _cookieless_jar() -> CookieJar:
    # an empty allow-list refuses to store or return any cookie
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def new_download_client(transport: httpx.AsyncBaseTransport | None, timeout_s: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout_s),
        # httpx's default pool sizes, with the API client's keep-alive expiry
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY_S),
        verify=True,
        follow_redirects=True,
        cookies=_cookieless_jar(),
        headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
    )


def describe_url(url: str) -> str:
    """Scheme, host and path of a signed URL — never its signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class SignedUrlDownloader:
    def __init__(self, http: httpx.AsyncClient, policy: RetryPolicy) -> None:
        self._http = http
        self._policy = policy
        self.download_count = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch(self, url: str, *, expect_pdf: bool) -> bytes:
        """GET ``url``; retried on transport errors and 5xx (a download is idempotent).

        Raises ``QontoAuthError`` (403/401) when the signature expired or is invalid.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise QontoConfigurationError(f"refusing to download from a non-http(s) URL: {describe_url(url)}")
        where = describe_url(url)
        async for attempt in retrying(self._policy, f"download {where}", idempotent=True):
            with attempt:
                data = await self._fetch_once(url, where)
        if expect_pdf and _PDF_MAGIC not in data[:_PDF_HEADER_WINDOW]:
            raise QontoConfigurationError(
                f"download of {where} did not return a PDF ({len(data)} bytes, starting {data[:15]!r}): "
                "a login page or an error document — sandbox attachment URLs may need a browser session"
            )
        return data

    async def _fetch_once(self, url: str, where: str) -> bytes:
        self.download_count += 1
        try:
            response = await self._http.get(url)
        except httpx.TransportError as exc:
            raise QontoTransportError(
                f"download {where} failed ({type(exc).__name__})",
                request_sent=not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout),
            ) from exc
        if response.status_code == 200:
            logger.debug("downloaded %d bytes from %s", len(response.content), where)
            return response.content
        status = response.status_code
        if status == 429 or status >= 500:
            raise error_for_status(f"GET {where}", response, decode_json(response), idempotent=True, base_url=where)
        if status in (401, 403):
            raise QontoAuthError(
                f"download {where} refused ({status}): the signed URL expired or its signature is invalid",
                status=status,
            )
        if status == 404:
            raise QontoNotFoundError(f"download {where} answered 404", status=status)
        raise QontoError(f"download {where} answered {status}", status=status)
