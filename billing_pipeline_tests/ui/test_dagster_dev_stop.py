"""How DagsterDev stops its process group, on stand-in processes (no Dagster, a few seconds): the
SIGINT → SIGTERM → SIGKILL escalation, waiting for children that outlive the leader, and SIGINT
working even when the test process inherited it ignored (CI started in the background); and what
quiesce asks of the GraphQL API before that."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billing_pipeline_tests.ui.dagster_dev import DagsterDev, SlowShutdownWarning, _group_alive
from billing_pipeline_tests.ui.quiesce import quiesce

# like `dagster dev`: SIGTERM handled as SIGINT is (dagster._utils.interrupts.setup_interrupt_handlers)
_PRELUDE = "import os, signal, subprocess, sys, time\nsignal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))\n"
# a child that ends 2 s after its parent has, as a code server ends once its last run has; it says
# ready once it knows its parent (on a loaded machine it may start well after the parent)
_LINGERING_CHILD = (
    "import os, time\np = os.getppid()\nprint('child ready', flush=True)\nwhile os.getppid() == p: time.sleep(0.1)\n"
    "time.sleep(2)"
)
GRACEFUL = (
    _PRELUDE
    + f"subprocess.Popen([sys.executable, '-c', {_LINGERING_CHILD!r}])\n"
    + "print('leader ready', flush=True)\ntry:\n    time.sleep(600)\nexcept KeyboardInterrupt:\n    sys.exit(0)\n"
)
# ignores SIGINT and SIGTERM, and so does its child: only SIGKILL ends them
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print('leader ready', flush=True)\ntime.sleep(600)\n"
)


class StandIn(DagsterDev):
    sigint_grace_s = 10.0
    sigterm_grace_s = 2.0
    sigkill_grace_s = 10.0

    def __init__(self, script: str, tmp: Path) -> None:
        super().__init__(tmp / "workspace.yaml", dict(os.environ), tmp, tmp / "stand-in.log")
        self.script = script

    def command(self) -> list[str]:
        return ["-c", self.script]

    def _quiesce(self) -> list[str]:
        return []  # no GraphQL API here

    def wait_ready(self) -> None:
        """Until the leader has its KeyboardInterrupt handler in place and its child (if any) runs."""
        expected = ["leader ready", *(["child ready"] if "child ready" in self.script else [])]
        deadline = time.monotonic() + 60
        while not all(marker in self.log_tail() for marker in expected):
            assert time.monotonic() < deadline, self.log_tail()
            time.sleep(0.1)


def test_sigint_stops_it_and_the_children_it_leaves_are_waited_for(tmp_path: Path) -> None:
    with StandIn(GRACEFUL, tmp_path) as dev:
        dev.wait_ready()
        shutdown = dev.stop()
    assert shutdown is not None and shutdown.graceful, shutdown
    assert shutdown.returncode == 0 and shutdown.seconds >= 2  # the child was waited for
    assert not _group_alive(dev._process.pid)  # type: ignore[union-attr]


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """As in a job started with `.ci/run &` by a non-interactive shell."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_sigint_works_when_the_test_process_inherited_it_ignored(tmp_path: Path) -> None:
    with sigint_ignored(), StandIn(GRACEFUL, tmp_path) as dev:
        dev.wait_ready()
        shutdown = dev.stop()
    # without the exec shim: SIGINT and (copied from it) SIGTERM ignored, ended by SIGKILL
    assert shutdown is not None and shutdown.signals == ("SIGINT",) and shutdown.returncode == 0, shutdown


def test_a_group_that_ignores_sigint_and_sigterm_is_killed_with_a_warning_not_an_error(tmp_path: Path) -> None:
    with pytest.warns(SlowShutdownWarning, match="SIGINT, then SIGTERM, then SIGKILL"):
        with StandIn(STUBBORN, tmp_path) as dev:
            dev.sigint_grace_s = 1.0
            dev.wait_ready()
            shutdown = dev.stop()
    assert shutdown is not None and shutdown.group_ended and shutdown.returncode == -signal.SIGKILL
    assert not _group_alive(dev._process.pid)  # type: ignore[union-attr]


def test_stopping_twice_returns_the_first_outcome(tmp_path: Path) -> None:
    with StandIn(GRACEFUL, tmp_path) as dev:
        dev.wait_ready()
        first = dev.stop()
    assert dev.stop() is first


class FakeApi:
    """Answers quiesce's GraphQL: one running sensor, one stopped schedule, a requested backfill, and
    run ``r1`` active for ``active_polls`` polls."""

    def __init__(self, active_polls: int) -> None:
        self.active_polls = active_polls
        self.mutations: list[tuple[str, dict[str, Any]]] = []

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        if query.lstrip().startswith("mutation"):
            self.mutations.append((query.split("{")[1].split("(")[0].strip(), variables or {}))
            return {}
        if "repositoriesOrError" in query:
            sensor = {"name": "s", "sensorState": {"id": "sensor-1", "status": "RUNNING", "ticks": []}}
            schedule = {"name": "m", "scheduleState": {"id": "schedule-1", "status": "STOPPED", "ticks": []}}
            return {"repositoriesOrError": {"nodes": [{"sensors": [sensor], "schedules": [schedule]}]}}
        if "partitionBackfillsOrError" in query:
            return {"partitionBackfillsOrError": {"results": [{"id": "b1"}]}}
        self.active_polls -= 1
        return {"runsOrError": {"results": [{"runId": "r1", "status": "STARTED"}] if self.active_polls >= 0 else []}}


def test_quiesce_stops_the_instigators_cancels_backfills_and_lets_runs_finish() -> None:
    api = FakeApi(active_polls=2)
    assert quiesce(api, finish_s=30, poll_s=0.01) == []
    assert api.mutations == [("stopSensor", {"id": "sensor-1"}), ("cancelPartitionBackfill", {"id": "b1"})]


def test_quiesce_terminates_the_runs_that_do_not_finish_and_reports_those_left() -> None:
    api = FakeApi(active_polls=1_000)
    assert quiesce(api, finish_s=0, terminate_s=0, poll_s=0.01) == ["r1"]
    assert api.mutations[-1] == ("terminateRuns", {"ids": ["r1"]})
