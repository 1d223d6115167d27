"""`dagster dev` started from Python for a test, driven through its GraphQL API, stopped at rest.

Stopping it: :func:`quiesce` first (no sensor, schedule, backfill or run left in flight: see
quiesce.py), then SIGINT to `dagster dev`, which stops its webserver, daemon and code server in
order; SIGTERM to the whole process group if that has not ended it, SIGKILL last. A slow stop is
reported (a warning and the log), not raised: the UI assertions are the test, not the shutdown.

SIGINT must reach Python's KeyboardInterrupt handler. A CI job started in the background by a
non-interactive shell (`.ci/run &`, `nohup .ci/run &`) hands every descendant SIGINT already
ignored; Python then installs no handler, Dagster's ``setup_interrupt_handlers`` copies that
SIG_IGN onto SIGTERM, and `dagster dev` ignores both — as do its webserver and daemon, which stop
themselves on the shutdown message by sending themselves SIGINT. That is how the first CI run failed
("ignored SIGINT for 60 s", with no "KeyboardInterrupt received" in the log). So `dagster dev` is
exec'd with SIGINT back at its default disposition.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from billing_pipeline_tests.ui.quiesce import quiesce

REPOSITORY = "__repository__"  # a Definitions object's repository name
ASSET_JOB = "__ASSET_JOB"  # the implicit job that can materialize any selection of assets
FINISHED_RUN_STATES = {"SUCCESS", "FAILURE", "CANCELED"}
# exec'd as `python -c <this> -m dagster dev ...`: same pid, SIGINT at SIG_DFL whatever pytest inherited
_EXEC_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)
_log = logging.getLogger(__name__)

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


class SlowShutdownWarning(UserWarning):
    """`dagster dev` needed more than SIGINT, or runs were still in flight when it was stopped."""


@dataclass(frozen=True)
class Shutdown:
    returncode: int | None  # of `dagster dev`; negative: ended by that signal
    signals: tuple[str, ...]  # sent, in order: ("SIGINT",) when it stopped as asked
    seconds: float  # quiesce included
    runs_in_flight: tuple[str, ...]  # runs neither finished nor terminated before the signals
    group_ended: bool  # no process of the group left (webserver, daemon, code servers, run workers)

    @property
    def graceful(self) -> bool:
        return self.signals == ("SIGINT",) and not self.runs_in_flight and self.group_ended


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group is still running (zombies, awaiting a reaper, do not count)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


class DagsterDev:
    """One `dagster dev` (webserver + daemon + code server) on 127.0.0.1 for the life of a ``with``.

    It leads its own process group (``start_new_session``): the webserver, daemon, code servers and
    run workers all belong to it, so the group is what is waited for and, last, signalled."""

    # How long each signal is given. `dagster dev` itself allows its webserver and then its daemon
    # 60 s each (the daemon joins each of its threads for up to 30 s), so SIGINT gets more than that
    # on a loaded machine; at rest, on two busy cores, the services were down in under 10 s.
    sigint_grace_s = 150.0
    sigterm_grace_s = 30.0
    sigkill_grace_s = 15.0

    def __init__(self, workspace: Path, env: dict[str, str], cwd: Path, log_file: Path) -> None:
        self.workspace = workspace
        self.env = env
        self.cwd = cwd
        self.log_file = log_file
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self.shutdown: Shutdown | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def command(self) -> list[str]:
        return ["-m", "dagster", "dev", "-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(self.port)]

    def __enter__(self) -> DagsterDev:
        if self._process is not None:  # a second `dagster dev` would replace, and leak, the first
            raise DagsterDevError("this DagsterDev was already started")
        command = [sys.executable, "-c", _EXEC_WITH_DEFAULT_SIGINT, *self.command()]
        self.log_file.write_bytes(b"")
        # append mode for every writer, so that the lines this harness adds (`note`) are not overwritten
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop(raise_if_died=kind is None)  # an error already on its way says more

    def stop(self, raise_if_died: bool = True) -> Shutdown | None:
        """Quiesce, then stop the whole process group; returns how it went (once: later calls
        return the same). Raises only if `dagster dev` had already died on its own."""
        process = self._process
        if process is None or self.shutdown is not None:
            return self.shutdown
        if process.poll() is not None:
            self.shutdown = Shutdown(process.returncode, (), 0.0, (), self._end_group(process.pid))
            if raise_if_died:
                raise DagsterDevError(f"dagster dev had exited on its own ({process.returncode})\n{self.log_tail()}")
            return self.shutdown
        started = time.monotonic()
        self.note("stopping: sensors and schedules off, backfills canceled, waiting for runs in flight")
        in_flight = self._quiesce()
        sent: list[str] = []
        ended = False
        for sig, grace in ((signal.SIGINT, self.sigint_grace_s), (signal.SIGTERM, self.sigterm_grace_s),
                           (signal.SIGKILL, self.sigkill_grace_s)):  # fmt: skip
            if sig == signal.SIGINT:
                process.send_signal(sig)  # to `dagster dev` alone: it stops its services in order
            else:
                self._signal_group(process.pid, sig)
            sent.append(sig.name)
            self.note(f"{sig.name} sent after {time.monotonic() - started:.1f} s")
            ended = self._wait_group(process, grace)
            if ended:
                break
        seconds = round(time.monotonic() - started, 1)
        self.shutdown = Shutdown(process.poll(), tuple(sent), seconds, tuple(in_flight), ended)
        self._report(self.shutdown)
        return self.shutdown

    def _quiesce(self) -> list[str]:
        try:
            return quiesce(self)
        except (httpx.HTTPError, DagsterDevError, KeyError, TypeError) as error:
            _log.warning("could not bring dagster dev to rest before stopping it: %r", error)
            return []

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass  # already gone

    @staticmethod
    def _wait_group(process: subprocess.Popen[bytes], timeout_s: float) -> bool:
        """Reap `dagster dev`, then wait for the rest of its group (a code server outlives it until
        its runs end); whether all of it ended within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        while _group_alive(process.pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        return True

    def _end_group(self, pgid: int) -> bool:
        """SIGTERM, then SIGKILL, what a dead `dagster dev` left behind; whether none of it is left."""
        for sig, grace in ((signal.SIGTERM, self.sigterm_grace_s), (signal.SIGKILL, self.sigkill_grace_s)):
            if not _group_alive(pgid):
                return True
            self._signal_group(pgid, sig)
            deadline = time.monotonic() + grace
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.5)
        return not _group_alive(pgid)

    def _report(self, shutdown: Shutdown) -> None:
        summary = (
            f"dagster dev on port {self.port} stopped in {shutdown.seconds} s with {', then '.join(shutdown.signals)} "
            f"(exit {shutdown.returncode}); runs still in flight: {list(shutdown.runs_in_flight) or 'none'}; "
            f"{'no process left' if shutdown.group_ended else 'PROCESSES LEFT in group ' + str(self._process_pid())}"
        )
        self.note(summary)
        if shutdown.graceful:
            _log.info(summary)
            return
        _log.warning("%s\n%s", summary, self.log_tail())
        warnings.warn(f"{summary}; log: {self.log_file}", SlowShutdownWarning, stacklevel=3)

    def _process_pid(self) -> int | None:
        return self._process.pid if self._process else None

    def note(self, line: str) -> None:
        """A line of this harness in the dagster dev log, where its shutdown is read."""
        with self.log_file.open("a") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [test harness] {line}\n")

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
