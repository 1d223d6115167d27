from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator


@pytest.fixture(scope="session")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    state = tmp_path_factory.mktemp("emulator") / "emulator.sqlite"
    with running_emulator(render_delay_s=0, state_path=state) as running:
        yield running


@pytest.fixture
def emulator(shared_emulator: RunningEmulator) -> RunningEmulator:
    """One server for the session, wiped back to the seeded organization before each test."""
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def api(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}, timeout=10) as client:
        yield client
