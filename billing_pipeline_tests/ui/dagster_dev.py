"""`dagster dev` started from Python for a test, driven through its GraphQL API, stopped with SIGINT.

Started from Python (not a shell's `&`) so that SIGINT is not ignored: dagster then stops its
webserver, daemon and code server cleanly (see the Dagster notes on headless operation).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

REPOSITORY = "__repository__"  # a Definitions object's repository name
ASSET_JOB = "__ASSET_JOB"  # the implicit job that can materialize any selection of assets
FINISHED_RUN_STATES = {"SUCCESS", "FAILURE", "CANCELED"}

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on UnauthorizedError { message }
  }
}
"""
_RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"
_LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DagsterDevError(RuntimeError):
    pass


class DagsterDev:
    """One `dagster dev` (webserver + daemon + code server) on 127.0.0.1 for the life of a ``with``."""

    def __init__(self, workspace: Path, env: dict[str, str], cwd: Path, log_file: Path) -> None:
        self.workspace = workspace
        self.env = env
        self.cwd = cwd
        self.log_file = log_file
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> DagsterDev:
        command = [sys.executable, "-m", "dagster", "dev", "-w", str(self.workspace),
                   "-h", "127.0.0.1", "-p", str(self.port)]  # fmt: skip
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(
                command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self, timeout_s: float = 60) -> int | None:
        process = self._process
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        process.send_signal(signal.SIGINT)  # graceful: webserver, daemon and code server all stop
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            # last resort only: the children live in the process group started for them
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            raise DagsterDevError(f"dagster dev ignored SIGINT for {timeout_s} s\n{self.log_tail()}") from None

    def log_tail(self, characters: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-characters:]
        except OSError:
            return ""

    # -- readiness ---------------------------------------------------------------------------
    def wait_until_loaded(self, location: str, timeout_s: float = 180) -> None:
        """Wait for /server_info, then for the code location to be LOADED."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(f"{self.url}/server_info", timeout=5).status_code == 200:
                    entries = self.graphql(_LOCATIONS)["workspaceOrError"]["locationEntries"]
                    if {e["name"]: e["loadStatus"] for e in entries}.get(location) == "LOADED":
                        return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.5)
        raise DagsterDevError(f"code location {location} not loaded after {timeout_s} s\n{self.log_tail()}")

    def _check_alive(self) -> None:
        if self._process is None or self._process.poll() is not None:
            raise DagsterDevError(f"dagster dev exited early\n{self.log_tail()}")

    # -- GraphQL -----------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise DagsterDevError(f"GraphQL errors: {body['errors']}")
        data: dict[str, Any] = body["data"]
        return data

    def launch_assets(self, location: str, assets: list[str], partition: str) -> str:
        """Queue one run materializing ``assets`` for ``partition``; returns its run id."""
        params = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": REPOSITORY,
                "pipelineName": ASSET_JOB,
                "assetSelection": [{"path": [name]} for name in assets],
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
            "mode": "default",
        }
        result = self.graphql(_LAUNCH, {"params": params})["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise DagsterDevError(f"launch refused: {result}")
        run_id: str = result["run"]["runId"]
        return run_id

    def wait_for_run(self, run_id: str, timeout_s: float = 300) -> str:
        """Poll the run until it finishes; returns its final status."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            status: str = self.graphql(_RUN_STATUS, {"id": run_id})["runOrError"]["status"]
            if status in FINISHED_RUN_STATES:
                return status
            time.sleep(1)
        raise DagsterDevError(f"run {run_id} not finished after {timeout_s} s\n{self.log_tail()}")
