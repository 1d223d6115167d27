"""Where a benchmark's Qonto requests went: the emulator's per-route counters between two snapshots
(``GET /_admin/stats``, recorded by ``billing_pipeline/emulator/traffic.py``), per invoice."""

from __future__ import annotations

from typing import Any


def requests_by_route(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """API requests per route (``GET /v2/client_invoices/{id}`` …) made between the two snapshots."""
    return {
        route: count - before["requests"].get(route, 0)
        for route, count in after["requests"].items()
        # the file host (pre-signed downloads) and the OAuth token endpoint are not API requests
        if count > before["requests"].get(route, 0) and route.split(" ", 1)[-1].startswith("/v2/")
    }


def breakdown_line(label: str, before: dict[str, Any], after: dict[str, Any], invoices: int) -> str:
    """``<label>: <calls> API requests, <n> answered 429; per invoice: <route> <x>, …`` (largest first)."""
    calls = after["api_requests"] - before["api_requests"]
    limited = after["rate_limited"] - before["rate_limited"]
    routes = sorted(requests_by_route(before, after).items(), key=lambda pair: (-pair[1], pair[0]))
    per_invoice = ", ".join(f"{route} {count / max(1, invoices):.2f}" for route, count in routes)
    return f"{label}: {calls} API requests, {limited} answered 429; per invoice: {per_invoice}"
