"""In-process transport: the emulator app behind httpx with the failure modes of a real socket.

``httpx.ASGITransport`` alone would surface an emulated lost response as a Python exception from
the app and would never time out. This wrapper turns the emulator's lost-response signal into
``httpx.RemoteProtocolError`` (connection reset) or ``httpx.ReadTimeout`` and enforces the
request's read timeout, so client code sees exactly what it would see over TCP.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette

from .faults import LostResponse
from .runtime import EmulatorRuntime


class EmulatorTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        read_timeout = timeouts.get("read")
        try:
            if read_timeout is None:
                return await self._inner.handle_async_request(request)
            return await asyncio.wait_for(self._inner.handle_async_request(request), read_timeout)
        except LostResponse as signal:
            if signal.mode == "timeout":
                raise httpx.ReadTimeout("emulated lost response: no answer", request=request) from None
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response (emulated lost response)",
                request=request,
            ) from None
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the emulator's response", request=request) from None

    async def aclose(self) -> None:
        runtime: EmulatorRuntime = self.app.state.runtime
        runtime.close()
