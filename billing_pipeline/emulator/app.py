"""``create_app``: the emulator as a Starlette ASGI app, for uvicorn or ``httpx.ASGITransport``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from .admin import admin_routes
from .api import api_routes
from .config import EmulatorConfig
from .errors import ApiError, api_error, error_response
from .files import file_routes
from .gateway import Gateway
from .runtime import DocumentRenderer, EmulatorRuntime


def _trace_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("trace_id") or uuid.uuid4().hex)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc, _trace_id(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = api_error(404, "not_found", f"no such endpoint: {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = api_error(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
    else:
        error = api_error(exc.status_code, "http_error", str(exc.detail))
    return error_response(error, _trace_id(request))


def create_app(config: EmulatorConfig, *, renderer: DocumentRenderer | None = None) -> Starlette:
    """The emulator app. ``renderer`` defaults to ``billing_pipeline.emulator.documents``.

    State is initialised on the first request, since ``httpx.ASGITransport`` runs no lifespan;
    under a server the lifespan does it at startup (a bad state path fails before serving) and
    closes the state file at shutdown.
    """
    runtime = EmulatorRuntime(config, renderer)
    routes = [*api_routes(), *file_routes(), *admin_routes()]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(runtime.ensure_ready)
        yield
        runtime.close()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(Gateway, runtime=runtime, routes=routes)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
