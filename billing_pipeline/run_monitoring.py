"""Crash recovery of the Dagster instance: a run whose worker died never keeps its pool slots.

Dagster's run monitoring (the ``MONITORING`` daemon of ``dagster dev`` / ``dagster-daemon``) marks a
STARTED run failed when the instance's run launcher says its worker is gone, then gives the pool
slots of finished runs back after ``run_monitoring.free_slots_after_run_end_seconds``. Dagster's
``DefaultRunLauncher`` cannot tell whether a worker is alive, so a run SIGKILLed together with its
code server (reboot, ``make dev`` killed) or an in-process run (``billing-pipeline bill``) stayed
STARTED for ever and its ``qonto_writes`` slot with it.

``LocalRunLauncher`` is the ``DefaultRunLauncher`` plus that health check: the worker of a run is the
process whose pid Dagster records in the run's first engine event ("Started process for run (pid:
N)", "Executing steps in process (pid: N)"); it is gone when that pid no longer exists, is a zombie,
or was started after the event (pid reused after a reboot). Only workers of this machine are judged:
a SQLite instance is single-machine by nature; on a shared (PostgreSQL) instance a run is judged only
when it names its host (loopback code server, or the ``billing/worker_host`` tag ``bill`` sets).

``billing-pipeline bill`` has no daemon: :func:`monitored` runs the same two steps (report dead runs
failed, free the slots of finished runs) in a background thread of ``bill`` itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

from dagster import DagsterInstance, DefaultRunLauncher
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import FINISHED_STATUSES, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import GRPC_INFO_TAG

WORKER_HOST_TAG = "billing/worker_host"
# slots of a finished run are given back this long after its end when the instance sets no
# run_monitoring.free_slots_after_run_end_seconds (the grace Dagster gives step processes to exit)
DEFAULT_FREE_SLOTS_AFTER_S = 10
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_PID_EVENTS_SCANNED = 20
_log = logging.getLogger("billing_pipeline.run_monitoring")


def worker_tags() -> dict[str, str]:
    """Tags of a run executed in this process (``execute_in_process``), so that it can be judged."""
    return {WORKER_HOST_TAG: socket.gethostname()}


def _is_local(instance: DagsterInstance, run: DagsterRun) -> bool:
    host = run.tags.get(WORKER_HOST_TAG)
    if host is not None:
        return host == socket.gethostname()
    grpc_info = run.tags.get(GRPC_INFO_TAG)
    if grpc_info:  # launched through a code server: its workers run where the server runs
        info = json.loads(grpc_info)
        return bool(info.get("socket")) or info.get("host") in _LOOPBACK | {socket.gethostname()}
    from dagster._core.storage.runs import SqliteRunStorage

    return isinstance(instance.run_storage, SqliteRunStorage)


def _worker_pid(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid Dagster recorded for the run's worker, and when it recorded it."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=_PID_EVENTS_SCANNED, ascending=True
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and str(pid.value).isdigit():
            return int(pid.value), record.event_log_entry.timestamp
    return None


def _process_alive(pid: int, seen_at: float) -> bool:
    stat_path = f"/proc/{pid}/stat"
    if os.path.isdir("/proc/self"):
        try:
            with open(stat_path) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open("/proc/stat") as machine:
                boot = next(float(line.split()[1]) for line in machine if line.startswith("btime "))
        except (OSError, IndexError, StopIteration):
            return False
        if fields[0] in ("Z", "X"):  # exited, not yet reaped
            return False
        started_at = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return started_at <= seen_at + 2  # a later process with the same pid is someone else
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_health(instance: DagsterInstance, run: DagsterRun) -> CheckRunHealthResult:
    if not _is_local(instance, run):
        return CheckRunHealthResult(WorkerStatus.RUNNING, "worker on another machine: not judged here")
    found = _worker_pid(instance, run.run_id)
    if found is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid recorded yet")
    pid, seen_at = found
    if _process_alive(pid, seen_at):
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker pid {pid} alive")
    return CheckRunHealthResult(
        WorkerStatus.FAILED, f"run worker (pid {pid} on {socket.gethostname()}) is gone: killed or crashed"
    )


class LocalRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (runs in a subprocess of the code server) with a worker health
    check, so that run monitoring fails the runs whose worker died and frees their pool slots."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        return worker_health(self._instance, run)


def recover_dead_runs(instance: DagsterInstance) -> list[str]:
    """One pass of what Dagster's monitoring daemon does: STARTED runs whose worker is gone are
    reported failed; finished runs still holding pool slots give them back after the grace.
    Returns the ids of the runs reported failed."""
    failed = []
    for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        run = record.dagster_run
        health = worker_health(instance, run)
        if health.status != WorkerStatus.FAILED:
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != DagsterRunStatus.STARTED:
            continue  # it finished while we looked
        message = f"Detected run worker status {health}. Marking run {run.run_id} as failed."
        _log.info(message)
        instance.report_run_failed(current, message)
        failed.append(run.run_id)
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return failed
    holders = storage.get_concurrency_run_ids()
    if not holders:
        return failed
    grace = instance.run_monitoring_settings.get("free_slots_after_run_end_seconds") or DEFAULT_FREE_SLOTS_AFTER_S
    now = time.time()
    for record in instance.get_run_records(RunsFilter(run_ids=list(holders), statuses=FINISHED_STATUSES)):
        run = record.dagster_run
        if record.end_time is not None and record.end_time + grace < now:
            freed = storage.free_concurrency_slots_for_run(run.run_id)
            if freed:
                _log.info(f"Freed {freed} pool slot(s) of run {run.run_id} ({run.status.value})")
    return failed


@contextlib.contextmanager
def monitored(instance: DagsterInstance, interval_s: float = 1.0) -> Iterator[None]:
    """Run :func:`recover_dead_runs` now, then every ``interval_s`` in a background thread while the
    block executes (a headless run blocked on a slot held by a dead run gets it back)."""
    recover_dead_runs(instance)
    stop = threading.Event()

    def loop() -> None:
        with DagsterInstance.from_ref(instance.get_ref()) as own:
            while True:
                # a plain sleep, not stop.wait(timeout): timed waits hang under libfaketime 0.9.10
                time.sleep(interval_s)
                if stop.is_set():
                    return
                try:
                    recover_dead_runs(own)
                except Exception as error:  # never let monitoring kill the run it protects
                    print(f"run monitoring pass failed: {error!r}", file=sys.stderr)

    thread = threading.Thread(target=loop, name="billing-run-monitor", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()  # within interval_s (untimed: a timed join hangs under libfaketime too)
