"""Test helpers: the emulator on a real loopback socket, or in-process behind an httpx transport.

with running_emulator(render_delay_s=0) as emulator:
    httpx.get(f"{emulator.base_url}/v2/organization", headers={"Authorization": emulator.api_key})
    emulator.queue_fault("lost_response", "POST", r"^/v2/client_invoices$")
    assert emulator.stats()["max_requests_10s"] <= 20
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .app import create_app
from .config import EMULATOR_API_KEY, EMULATOR_STAGING_TOKEN, EmulatorConfig
from .embedded import embedded_transport
from .server import EmulatorServer, bind_socket, default_files_base_url, install_log_filter, uvicorn_config
from .transport import EmulatorTransport

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class RunningEmulator:
    base_url: str
    files_base_url: str
    api_key: str
    staging_token: str | None  # set in sandbox mode only, like the CLI prints it
    config: EmulatorConfig

    def _admin(self, method: str, path: str, json: dict[str, Any] | None = None) -> httpx.Response:
        response = httpx.request(method, f"{self.base_url}/_emulator/{path}", json=json, timeout=30)
        response.raise_for_status()
        return response

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "stats").json()
        return stats

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._admin("GET", "state").json()
        return state

    def reset(self, *, traffic_only: bool = False) -> None:
        self._admin("POST", "reset", {"scope": "traffic" if traffic_only else "all"})

    def queue_fault(self, kind: str, method: str, path_regex: str, count: int = 1, **params: Any) -> int:
        body = {"kind": kind, "method": method, "path_regex": path_regex, "count": count, "params": params}
        fault_id: int = self._admin("POST", "faults", body).json()["fault_id"]
        return fault_id

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")

    def transfer(self, amount: str, **fields: Any) -> dict[str, Any]:
        """Simulate a settled bank movement (default: a credit on the main account); Qonto's JSON of it."""
        transaction: dict[str, Any] = self._admin("POST", "transactions", {"amount": amount, **fields}).json()[
            "transaction"
        ]
        return transaction

    def advance_clock(self, seconds: float) -> None:
        """Move the business clock (render delay, URL and token expiry) forward for every process."""
        self._admin("POST", "clock", {"advance_s": seconds})


def _config_with(config: EmulatorConfig | None, overrides: dict[str, Any], temp_dir: Path | None) -> EmulatorConfig:
    values = config.model_dump(exclude_unset=True) if config is not None else {}
    values.update(overrides)
    if "state_path" not in values and temp_dir is not None:
        values["state_path"] = temp_dir / "qonto-emulator.sqlite"
    return EmulatorConfig.model_validate(values)


@contextmanager
def running_emulator(
    config: EmulatorConfig | None = None, *, keep_alive_s: float | None = None, **overrides: Any
) -> Iterator[RunningEmulator]:
    """uvicorn in a background thread on 127.0.0.1, a free port; state in a temp file unless given.

    ``keep_alive_s``: the server closes a keep-alive connection idle this long (uvicorn's default, 5 s,
    otherwise), to test the client against a server quicker to close them."""
    with ExitStack() as stack:
        explicit_state = "state_path" in overrides or (config is not None and "state_path" in config.model_fields_set)
        temp_dir = (
            None if explicit_state else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qonto-emu-")))
        )
        sock = bind_socket(HOST, 0)
        stack.callback(sock.close)
        port = sock.getsockname()[1]
        settled = _config_with(config, overrides, temp_dir)
        if settled.files_base_url is None:
            settled = settled.model_copy(update={"files_base_url": default_files_base_url(HOST, port)})
        install_log_filter()
        started = threading.Event()
        server_config = uvicorn_config(create_app(settled))
        if keep_alive_s is not None:
            server_config.timeout_keep_alive = keep_alive_s  # type: ignore[assignment]  # a float works
        server = EmulatorServer(server_config, on_started=started.set)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="qonto-emulator", daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not started.wait(0.05):
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the Qonto emulator did not start")
        try:
            yield RunningEmulator(
                base_url=f"http://{HOST}:{port}",
                files_base_url=settled.effective_files_base_url,
                api_key=EMULATOR_API_KEY,
                staging_token=EMULATOR_STAGING_TOKEN if settled.sandbox else None,
                config=settled,
            )
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def in_process_transport(config: EmulatorConfig | None = None, **overrides: Any) -> EmulatorTransport:
    """The emulator without a server (the embedded default). Close it with ``await transport.aclose()``.

    With no config, the state goes to ``$BILLING_STATE_DIR/qonto-emulator.sqlite``.
    """
    return embedded_transport(_config_with(config, overrides, None))
