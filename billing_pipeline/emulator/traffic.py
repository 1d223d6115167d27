"""Per-request bookkeeping shared by all processes: rate limits, faults, auth, statistics.

Rate limiting is a sliding log of API request arrivals in the state file (kept 10 minutes), so
two emulator processes on one file enforce one budget, like Qonto's per-IP limit. Every arrival
is logged, admitted or not; only admitted ones count against the budget. The largest number of
arrivals seen in any 10 s and any 10 min window is kept for tests that prove a client never
overflows.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from .config import EMULATOR_API_KEY
from .faults import LatencyParams, LostResponseParams, RateLimitedParams, ServerErrorParams, take_fault
from .oauth import access_token_valid
from .runtime import EmulatorRuntime
from .store import business_now_ms

SHORT_WINDOW_MS = 10_000
LONG_WINDOW_MS = 600_000

AnyFault = ServerErrorParams | RateLimitedParams | LostResponseParams | LatencyParams


@dataclass(frozen=True)
class Admission:
    fault: AnyFault | None
    rate_limited_window: str | None  # "10 s" or "10 min" when over budget
    auth: str | None  # "api_key" or "oauth"
    auth_error: str | None


def admit(
    runtime: EmulatorRuntime,
    *,
    method: str,
    path: str,
    api: bool,
    authorization: str | None,
    arrived_ms: int,
) -> Admission:
    """One transaction: consume a queued fault, log the arrival, check the budget and credentials.

    ``arrived_ms`` is when the request reached the server (wall clock); the budget counts it then,
    not when this transaction got the state file's lock.
    """
    config = runtime.config
    with runtime.store.write() as connection:
        window = _log_arrival(connection, config.rate_limit_10s, config.rate_limit_10min, arrived_ms) if api else None
        fault = None
        if window is None:  # a 429 is answered before anything else, faults stay queued
            fault = take_fault(connection, method, path)
            if fault is None and api:
                fault = _random_fault(runtime)
        auth, auth_error = (
            _authenticate(connection, authorization, business_now_ms(connection)) if api else (None, None)
        )
    return Admission(fault=fault, rate_limited_window=window, auth=auth, auth_error=auth_error)


def _random_fault(runtime: EmulatorRuntime) -> AnyFault | None:
    config = runtime.config
    if config.fault_rate and runtime.random() < config.fault_rate:
        return ServerErrorParams(status=500)
    if config.lost_response_rate and runtime.random() < config.lost_response_rate:
        return LostResponseParams(mode="reset")
    return None


def _log_arrival(connection: sqlite3.Connection, limit_10s: int, limit_10min: int, now: int) -> str | None:
    """Log an arrival at ``now``. Arrivals stamped a little later that took the lock first count in
    its window too: a few milliseconds' overlap errs on the side of refusing, never of admitting more
    than the limit in any window."""
    connection.execute("DELETE FROM api_requests WHERE ts_ms <= ?", (now - LONG_WINDOW_MS,))
    window = None
    for label, limit, span in (("10 s", limit_10s, SHORT_WINDOW_MS), ("10 min", limit_10min, LONG_WINDOW_MS)):
        if not limit:
            continue
        admitted = connection.execute(
            "SELECT COUNT(*) FROM api_requests WHERE ts_ms > ? AND admitted = 1", (now - span,)
        ).fetchone()[0]
        if admitted >= limit:
            window = label
            break
    connection.execute("INSERT INTO api_requests (ts_ms, admitted) VALUES (?, ?)", (now, int(window is None)))
    for name, span in (("max_requests_10s", SHORT_WINDOW_MS), ("max_requests_10min", LONG_WINDOW_MS)):
        seen = connection.execute("SELECT COUNT(*) FROM api_requests WHERE ts_ms > ?", (now - span,)).fetchone()[0]
        connection.execute(
            "INSERT INTO stat_counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)",
            (name, seen),
        )
    _increment(connection, "api_requests")
    return window


def _authenticate(connection: sqlite3.Connection, header: str | None, now_ms: int) -> tuple[str | None, str | None]:
    if not header:
        return None, "the Authorization header is missing"
    if header.startswith("Bearer "):
        if access_token_valid(connection, header.removeprefix("Bearer ").strip(), now_ms):
            return "oauth", None
        return None, "the OAuth access token is invalid or expired"
    if header.lower().startswith("basic "):
        return None, "send the API key as 'Authorization: login:secret-key', without the Basic scheme"
    if secrets.compare_digest(header.encode(), EMULATOR_API_KEY.encode()):
        return "api_key", None
    return None, "invalid API key: expected 'Authorization: login:secret-key'"


def _increment(connection: sqlite3.Connection, name: str, by: int = 1) -> None:
    connection.execute(
        "INSERT INTO stat_counters (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        (name, by),
    )


def record_response(runtime: EmulatorRuntime, route: str, outcome: str) -> None:
    """``outcome`` is the status code, or ``lost`` for a dropped connection."""
    with runtime.store.write() as connection:
        _increment(connection, f"request|{route}")
        _increment(connection, f"response|{route}|{outcome}")
        _increment(connection, f"status|{outcome}")


def record_download(runtime: EmulatorRuntime, header_names: list[str], *, credentialed: bool) -> None:
    with runtime.store.write() as connection:
        _increment(connection, "downloads")
        if credentialed:
            _increment(connection, "rejected_credentialed_downloads")
        connection.executemany(
            "INSERT OR IGNORE INTO download_header_names (name) VALUES (?)", [(name,) for name in header_names]
        )


def stats(runtime: EmulatorRuntime) -> dict[str, Any]:
    with runtime.store.read() as connection:
        counters = {row["name"]: int(row["value"]) for row in connection.execute("SELECT * FROM stat_counters")}
        header_names = [
            row["name"] for row in connection.execute("SELECT name FROM download_header_names ORDER BY name")
        ]
    requests: dict[str, int] = {}
    responses: dict[str, dict[str, int]] = {}
    statuses: dict[str, int] = {}
    for name, value in counters.items():
        kind, _, rest = name.partition("|")
        if kind == "request":
            requests[rest] = value
        elif kind == "response":
            route, _, outcome = rest.rpartition("|")
            responses.setdefault(route, {})[outcome] = value
        elif kind == "status":
            statuses[rest] = value
    return {
        "requests": dict(sorted(requests.items())),
        "responses": dict(sorted(responses.items())),
        "statuses": dict(sorted(statuses.items())),
        "api_requests": counters.get("api_requests", 0),
        "rate_limited": statuses.get("429", 0),
        "lost_responses": statuses.get("lost", 0),
        "max_requests_10s": counters.get("max_requests_10s", 0),
        "max_requests_10min": counters.get("max_requests_10min", 0),
        "downloads": counters.get("downloads", 0),
        "rejected_credentialed_downloads": counters.get("rejected_credentialed_downloads", 0),
        "download_header_names": header_names,
    }
