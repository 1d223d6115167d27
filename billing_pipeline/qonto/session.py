"""One logical API call: auth header, concurrency bound, request budget, retries, error mapping."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from billing_pipeline import __version__
from billing_pipeline.qonto.auth import AuthProvider
from billing_pipeline.qonto.config import QontoConfig
from billing_pipeline.qonto.errors import (
    QontoAmbiguousWriteError,
    QontoAuthError,
    QontoConfigurationError,
    QontoError,
    QontoErrorObject,
    QontoForbiddenError,
    QontoNotFoundError,
    QontoRateLimitedError,
    QontoServerError,
    QontoTransportError,
    QontoValidationError,
    parse_error_objects,
)
from billing_pipeline.qonto.ratelimit import RequestBudget
from billing_pipeline.qonto.retries import RetryPolicy, is_idempotent, parse_retry_after, retrying

logger = logging.getLogger(__name__)

USER_AGENT = f"billing-pipeline/{__version__} (+qonto-client)"
STAGING_HEADER = "X-Qonto-Staging-Token"
TRACE_HEADER = "X-Tyk-Trace-Id"

# A pooled connection idle this long is not reused. Servers close idle keep-alive connections (uvicorn
# after 5 s, load balancers after about 60 s); a write sent on one as the server closes it gets no
# answer and becomes ambiguous (a create whose outcome is unknown). httpx's default is 5 s, exactly
# uvicorn's: the first create after a pause of about 5 s then raced the close (found by the
# end-to-end benchmark). Well below every server's timeout, only warm connections are reused: by the
# API client and by the download client alike (whose 5 s default let downloads race the close too).
# The pool checks a connection when it hands it to a request; the request is written at the event
# loop's next turns, so a loop held for seconds in between still writes on a closed connection: the
# invoicing steps bound their per-customer fan-out for that (``invoicing/fan_out.py``).
KEEPALIVE_EXPIRY_S = 2.0

# failures that happen before a single byte of the request left this machine
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)

_CONFIG_HINT = "set QONTO_STAGING_TOKEN / check QONTO_BASE_URL"

JsonObject = dict[str, Any]


class ApiSession:
    """Sends requests to the Qonto API on behalf of one ``QontoClient``."""

    def __init__(
        self,
        config: QontoConfig,
        *,
        http: httpx.AsyncClient,
        auth: AuthProvider,
        budget: RequestBudget,
        policy: RetryPolicy,
    ) -> None:
        self._config = config
        self._http = http
        self._auth = auth
        self._budget = budget
        self._policy = policy
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self.request_count = 0

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | list[str]] | None = None,
        body: JsonObject | None = None,
        idempotent: bool | None = None,
    ) -> JsonObject | None:
        """Perform ``method path`` with retries; the decoded JSON object, or None for an empty body.

        ``idempotent=True`` marks a write that Qonto documents as safe to repeat (send_by_einvoice):
        retried like a read. By default only reads are.
        """
        idempotent = is_idempotent(method) if idempotent is None else idempotent
        async for attempt in retrying(self._policy, f"{method} {path}", idempotent=idempotent):
            with attempt:
                return await self._send_once(method, path, params, body, idempotent=idempotent)
        raise AssertionError("tenacity ends with a result or an exception")  # pragma: no cover

    async def call_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | list[str]] | None = None,
        body: JsonObject | None = None,
    ) -> JsonObject | None:
        """One attempt, never retried, for a caller that must see the first answer as it is (scope
        probes: a retry would hide what Qonto said, and repeat a write). It takes its permit of the
        request budget and its concurrency slot like every call, and maps errors the same way."""
        return await self._send_once(method, path, params, body, idempotent=is_idempotent(method))

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int | list[str]] | None,
        body: JsonObject | None,
        *,
        idempotent: bool,
    ) -> JsonObject | None:
        headers: dict[str, str] = {}
        if self._config.staging_token is not None:
            headers[STAGING_HEADER] = self._config.staging_token.get_secret_value()
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        async with self._semaphore:
            # the permit is stamped as close as possible to the send; the token is read after the
            # (possibly long) wait for a permit so that it cannot expire in between
            await self._budget.acquire()
            headers["Authorization"] = await self._auth.authorization()
            self.request_count += 1
            started = time.monotonic()
            try:
                response = await self._http.request(method, path, params=params, content=content, headers=headers)
            except httpx.TransportError as exc:
                raise _transport_failure(method, path, exc, idempotent=idempotent) from exc
        logger.debug(
            "Qonto %s %s -> %d in %.0f ms",
            method,
            path,
            response.status_code,
            1000 * (time.monotonic() - started),
        )
        return interpret_response(method, path, response, idempotent=idempotent, base_url=self._config.base_url)


def _transport_failure(method: str, path: str, exc: httpx.TransportError, *, idempotent: bool) -> QontoError:
    what = f"{method} {path}"
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol):
        return QontoConfigurationError(f"{what}: {reason} ({_CONFIG_HINT})", method=method, path=path)
    if isinstance(exc, NOT_SENT_ERRORS):
        return QontoTransportError(
            f"{what} never reached Qonto ({reason})", request_sent=False, method=method, path=path
        )
    if idempotent:
        return QontoTransportError(f"{what} failed in transit ({reason})", request_sent=True, method=method, path=path)
    return QontoAmbiguousWriteError(
        f"{what}: outcome unknown, the request was sent but no answer came back ({reason}); "
        "read Qonto's state before writing again",
        method=method,
        path=path,
    )


def decode_json(response: httpx.Response) -> object | None:
    """The JSON body with exact decimals, or None when the body is not JSON."""
    if not response.content:
        return None
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None


def interpret_response(
    method: str, path: str, response: httpx.Response, *, idempotent: bool, base_url: str
) -> JsonObject | None:
    """Map an HTTP answer to its JSON object or to the matching ``QontoError``."""
    status = response.status_code
    what = f"{method} {path}"
    body = decode_json(response)
    content_type = response.headers.get("content-type", "unknown")
    if 200 <= status < 300:
        if status == 204 or not response.content:
            return None
        if not isinstance(body, dict):
            raise QontoConfigurationError(
                f"{what} answered {status} with a non-JSON body ({content_type}): probably a login page "
                f"rather than Qonto's API — {_CONFIG_HINT} (base URL {base_url})",
                status=status,
                method=method,
                path=path,
            )
        return body
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("location", "")).hostname or "an unknown host"
        raise QontoConfigurationError(
            f"{what} was redirected ({status}) to {target}: probably the sandbox login gate — "
            f"{_CONFIG_HINT} (base URL {base_url})",
            status=status,
            method=method,
            path=path,
        )
    raise error_for_status(what, response, body, idempotent=idempotent, base_url=base_url)


def error_for_status(
    what: str, response: httpx.Response, body: object | None, *, idempotent: bool, base_url: str
) -> QontoError:
    """The typed error for a 4xx/5xx answer."""
    status = response.status_code
    method, _, path = what.partition(" ")
    errors = parse_error_objects(body)
    trace_id = _trace_id(body, response)
    kwargs: dict[str, Any] = {
        "status": status,
        "errors": errors,
        "trace_id": trace_id,
        "method": method,
        "path": path,
        "retry_after": parse_retry_after(response.headers.get("Retry-After")),
    }
    message = _describe(what, status, errors, trace_id)
    if status == 429:
        return QontoRateLimitedError(message, **kwargs)
    if status >= 500:
        if idempotent:
            return QontoServerError(message, **kwargs)
        return QontoAmbiguousWriteError(
            f"{message}; outcome unknown — a 5xx may come after the write was committed, "
            "read Qonto's state before writing again",
            **kwargs,
        )
    if status == 403:
        return QontoForbiddenError(message, **kwargs)
    if status == 401:
        return QontoAuthError(message, **kwargs)
    if body is None:
        content_type = response.headers.get("content-type", "unknown")
        return QontoConfigurationError(
            f"{what} answered {status} with a non-JSON body ({content_type}): not Qonto's API — "
            f"{_CONFIG_HINT} (base URL {base_url})",
            **kwargs,
        )
    if status == 404:
        return QontoNotFoundError(message, **kwargs)
    if status in (400, 412, 422):
        return QontoValidationError(message, **kwargs)
    return QontoError(message, **kwargs)


def _trace_id(body: object, response: httpx.Response) -> str | None:
    if isinstance(body, dict) and body.get("trace_id"):
        return str(body["trace_id"])
    return response.headers.get(TRACE_HEADER)


def _describe(what: str, status: int, errors: list[QontoErrorObject], trace_id: str | None) -> str:
    details = "; ".join(e.describe() for e in errors) if errors else "no error details"
    text = f"Qonto answered {status} to {what}: {details}"
    if trace_id:
        text += f" [trace_id {trace_id}]"
    return text
