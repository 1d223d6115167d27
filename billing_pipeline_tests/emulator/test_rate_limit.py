"""Qonto's two rate windows, counted per sliding window and shared through the state file."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from billing_pipeline.emulator.testing import running_emulator

from .helpers import assert_error


def test_429_over_the_10_second_window(tmp_path: Path) -> None:
    with running_emulator(rate_limit_10s=5, state_path=tmp_path / "e.sqlite") as emulator:
        headers = {"Authorization": emulator.api_key}
        statuses = [httpx.get(f"{emulator.base_url}/v2/organization", headers=headers).status_code for _ in range(7)]
        last = httpx.get(f"{emulator.base_url}/v2/organization", headers=headers)
        emulator.stats()  # admin calls are neither limited nor counted
        stats = emulator.stats()

    assert statuses == [200] * 5 + [429] * 2
    assert_error(last, 429, "too_many_requests", detail="10 s window")
    assert stats["rate_limited"] == 3
    assert stats["api_requests"] == 8
    assert stats["max_requests_10s"] == 8  # every arrival counts, admitted or not
    assert stats["responses"]["GET /v2/organization"] == {"200": 5, "429": 3}


def test_429_over_the_10_minute_window(tmp_path: Path) -> None:
    with running_emulator(rate_limit_10s=0, rate_limit_10min=3, state_path=tmp_path / "e.sqlite") as emulator:
        headers = {"Authorization": emulator.api_key}
        responses = [httpx.get(f"{emulator.base_url}/v2/clients", headers=headers) for _ in range(4)]

    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert_error(responses[-1], 429, "too_many_requests", detail="10 min window")


def test_unauthenticated_requests_count_too(tmp_path: Path) -> None:
    with running_emulator(rate_limit_10s=2, state_path=tmp_path / "e.sqlite") as emulator:
        statuses = [httpx.get(f"{emulator.base_url}/v2/organization").status_code for _ in range(3)]

    assert statuses == [401, 401, 429]


def test_two_servers_on_one_state_file_share_one_budget(tmp_path: Path) -> None:
    state = tmp_path / "shared.sqlite"
    with (
        running_emulator(rate_limit_10s=4, state_path=state) as first,
        running_emulator(rate_limit_10s=4, state_path=state) as second,
    ):
        headers = {"Authorization": first.api_key}
        statuses = [
            httpx.get(f"{server.base_url}/v2/organization", headers=headers).status_code
            for server in (first, second, first, second, first, second)
        ]
        stats = second.stats()

    assert statuses == [200, 200, 200, 200, 429, 429]
    assert stats["max_requests_10s"] == 6


def test_no_rate_limit_when_disabled(tmp_path: Path) -> None:
    with running_emulator(rate_limit_10s=0, rate_limit_10min=0, state_path=tmp_path / "e.sqlite") as emulator:
        with httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}) as api:
            statuses = {api.get("/v2/organization").status_code for _ in range(30)}
        assert emulator.stats()["max_requests_10s"] == 30

    assert statuses == {200}


def test_an_arrival_is_counted_when_it_arrives_not_when_the_state_file_is_free(tmp_path: Path) -> None:
    """Qonto counts a request at its edge. Here another process holds the state file's write lock
    for 1.5 s while a request arrives: its logged arrival is the moment it came in, so a busy
    emulator does not bunch queued arrivals into one instant (which made a client that spaces its
    requests look like it overran a window)."""
    state = tmp_path / "e.sqlite"
    with running_emulator(rate_limit_10s=5, state_path=state) as emulator:
        headers = {"Authorization": emulator.api_key}
        assert httpx.get(f"{emulator.base_url}/v2/organization", headers=headers).status_code == 200
        holder = sqlite3.connect(state, timeout=30, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        sent_ms = time.time_ns() // 1_000_000
        with ThreadPoolExecutor(1) as pool:
            response = pool.submit(httpx.get, f"{emulator.base_url}/v2/organization", headers=headers, timeout=30)
            time.sleep(1.5)
            holder.execute("COMMIT")
            holder.close()
            assert response.result().status_code == 200
        with sqlite3.connect(state) as log:
            arrivals = [row[0] for row in log.execute("SELECT ts_ms FROM api_requests ORDER BY ts_ms")]

    assert len(arrivals) == 2
    assert arrivals[-1] - sent_ms < 1_000, f"logged {arrivals[-1] - sent_ms} ms after it was sent"
