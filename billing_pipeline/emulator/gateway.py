"""The emulated API gateway in front of the routes — what Qonto's Tyk gateway and load balancer do.

In order: the sandbox login page (no staging token), the rate limit (429), injected faults
(latency, 5xx, 429), authentication (401), authorization (403: the route needs a scope the
credentials lack, ``scopes.py``), then the route — so a refused call reads neither its query nor
its body and writes nothing. The route's response is buffered so
that a "lost response" can be produced after the write committed: the status line goes out, then
the connection is dropped (uvicorn closes the socket; ``EmulatorTransport`` raises the same
error httpx would). ``/_emulator/*`` bypasses all of it and is never counted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .clock import wall_ms
from .config import EMULATOR_STAGING_TOKEN
from .errors import TRACE_HEADER, ApiError, api_error, error_response
from .faults import LatencyParams, LostResponse, LostResponseParams, RateLimitedParams, ServerErrorParams
from .runtime import EmulatorRuntime
from .sandbox import STAGING_HEADER, login_page
from .scopes import required_scope
from .traffic import Admission, admit, record_response

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator"
FILES_PREFIX = "/files/"
OAUTH_PREFIX = "/oauth2/"


class Gateway:
    def __init__(self, app: ASGIApp, runtime: EmulatorRuntime, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        # Qonto counts a request against its limits when it reaches its edge: the arrival is stamped
        # here, before this process reads the body, waits for a worker thread or for the state
        # file's write lock (a busy emulator would otherwise bunch queued arrivals into one instant)
        arrived_ms = wall_ms()
        # the whole request is read first: a delayed request is then processed even if the client
        # gives up meanwhile, as on a real server (the ambiguous write a client must reconcile)
        body = await _read_body(receive)
        if body is None:
            return
        receive = _replay(body, receive)
        await run_in_threadpool(self.runtime.ensure_ready)
        trace_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["trace_id"] = trace_id
        method, path = scope["method"], scope["path"]
        route = f"{method} {self._template(scope)}"
        headers = Headers(scope=scope)
        is_files = path.startswith(FILES_PREFIX)
        is_api = not is_files and not path.startswith(OAUTH_PREFIX)

        if self.runtime.config.sandbox and not is_files and headers.get(STAGING_HEADER) != EMULATOR_STAGING_TOKEN:
            await self._finish(login_page(), route, scope, receive, send)
            return

        admission: Admission = await run_in_threadpool(
            admit,
            self.runtime,
            method=method,
            path=path,
            api=is_api,
            authorization=headers.get("authorization"),
            arrived_ms=arrived_ms,
        )
        fault = admission.fault
        delay_ms = (self.runtime.config.latency_ms if is_api else 0) + (
            fault.ms if isinstance(fault, LatencyParams) else 0
        )
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)

        early = self._early_error(admission, route if is_api else None)
        if early is not None:
            await self._finish(error_response(early, trace_id), route, scope, receive, send)
            return
        if admission.auth is not None:
            state["auth"] = admission.auth

        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        try:
            await self.app(scope, receive, capture)
        except Exception:
            # an emulator bug: answer like Qonto's rare 5xx instead of a plain-text page
            logger.exception("unhandled error in the Qonto emulator for %s", route)
            failure = api_error(500, "internal_server_error", "unexpected error in the emulator (see its log)")
            await self._finish(error_response(failure, trace_id), route, scope, receive, send)
            return
        start = messages[0]
        if not is_files:  # the file host is not behind Qonto's gateway
            MutableHeaders(scope=start).setdefault(TRACE_HEADER, trace_id)

        if isinstance(fault, ServerErrorParams):  # commit=True: the write happened, the answer is a 5xx
            failure = api_error(fault.status, "internal_server_error", "emulated server error after commit")
            await self._finish(error_response(failure, trace_id), route, scope, receive, send)
            return
        if isinstance(fault, LostResponseParams):
            await run_in_threadpool(record_response, self.runtime, route, "lost")
            if fault.mode == "timeout":
                await asyncio.sleep(fault.hang_s)
            await send(_incomplete(start))
            raise LostResponse(fault.mode)
        await run_in_threadpool(record_response, self.runtime, route, str(start["status"]))
        for message in messages:
            await send(message)

    def _early_error(self, admission: Admission, api_route: str | None) -> ApiError | None:
        fault = admission.fault
        if admission.rate_limited_window is not None:
            return api_error(429, "too_many_requests", f"rate limit exceeded ({admission.rate_limited_window} window)")
        if isinstance(fault, RateLimitedParams):
            error = api_error(429, "too_many_requests", "rate limit exceeded (emulated burst)")
            if fault.retry_after is not None:
                error.headers["Retry-After"] = str(fault.retry_after)
            return error
        if isinstance(fault, ServerErrorParams) and not fault.commit:
            return api_error(fault.status, "internal_server_error", "emulated server error")
        if admission.auth_error is not None:
            return api_error(401, "unauthorized", admission.auth_error)
        needed = required_scope(api_route) if api_route is not None else None
        if needed is not None and needed not in self.runtime.config.scopes:
            granted = ", ".join(sorted(self.runtime.config.scopes)) or "none"
            # Qonto's 403 body is not documented [unconfirmed]: its envelope, our code
            return api_error(
                403,
                "insufficient_scope",
                f"{api_route} requires the OAuth scope {needed}; the credentials carry: {granted}",
            )
        return None

    async def _finish(self, response: Response, route: str, scope: Scope, receive: Receive, send: Send) -> None:
        await run_in_threadpool(record_response, self.runtime, route, str(response.status_code))
        await response(scope, receive, send)

    def _template(self, scope: Scope) -> str:
        partial = None
        for candidate in self.routes:
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                return str(getattr(candidate, "path", scope["path"]))
            if match == Match.PARTIAL and partial is None:
                partial = str(getattr(candidate, "path", scope["path"]))
        return partial or "(unmatched)"


def _incomplete(start: Message) -> Message:
    """The status line of a response that will be cut off before its end.

    A bodiless answer (204 of send, send_by_einvoice, DELETE) is complete with its headers, so
    dropping the connection after them would lose nothing: announce a body that never comes
    instead, so that the client sees the cut (httpx: ``RemoteProtocolError``) as with any other.
    """
    if int(start["status"]) not in (204, 304):
        return start
    headers = [(name, value) for name, value in start.get("headers", []) if name.lower() != b"content-length"]
    return {**start, "status": 200, "headers": [*headers, (b"content-length", b"1")]}


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None when the client disconnected before sending all of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
