"""Bring a test's `dagster dev` instance to rest through its GraphQL API before it is stopped.

Why: the code server of `dagster dev` only exits once the runs it executes have finished, and
`dagster dev` does not wait for it — a run still in flight at teardown (the attachment, delivery
and payment sensors launch runs on their own, every 30 s) keeps its code server and run worker
alive after `dagster dev` has exited, writing into a temp dir pytest is about to reuse. So the
sensors and schedules are stopped first (no new ticks, hence no new runs), backfills canceled, the
runs already launched given a short while to finish, and the rest terminated the way the UI's
"Terminate" button does it.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

ACTIVE_RUN_STATES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]

_INSTIGATORS = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
  sensors { name sensorState { id status ticks(limit: 1) { status } } }
  schedules { name scheduleState { id status ticks(limit: 1) { status } } } } } } }"""
_STOP_SENSOR = "mutation($id: String) { stopSensor(id: $id) { __typename } }"
_STOP_SCHEDULE = "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }"
_ACTIVE_RUNS = """
query($statuses: [RunStatus!]) { runsOrError(filter: {statuses: $statuses}) {
  ... on Runs { results { runId status } } } }"""
_REQUESTED_BACKFILLS = """
{ partitionBackfillsOrError(status: REQUESTED) { ... on PartitionBackfills { results { id } } } }"""
_CANCEL_BACKFILL = "mutation($id: String!) { cancelPartitionBackfill(backfillId: $id) { __typename } }"
# SAFE_TERMINATE: the code server interrupts the run worker, which marks the run CANCELED itself
_TERMINATE = """
mutation($ids: [String!]!) { terminateRuns(runIds: $ids, terminatePolicy: SAFE_TERMINATE) { __typename } }"""


class GraphQL(Protocol):
    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]: ...


def _instigator_states(api: GraphQL) -> list[dict[str, Any]]:
    repositories = api.graphql(_INSTIGATORS)["repositoriesOrError"].get("nodes", [])
    return [
        {**state, "kind": kind}
        for repository in repositories
        for kind, field in (("sensor", "sensorState"), ("schedule", "scheduleState"))
        for state in (instigator[field] for instigator in repository[f"{kind}s"])
    ]


def stop_instigators(api: GraphQL) -> None:
    for state in _instigator_states(api):
        if state["status"] == "RUNNING":
            api.graphql(_STOP_SENSOR if state["kind"] == "sensor" else _STOP_SCHEDULE, {"id": state["id"]})


def ticks_in_progress(api: GraphQL) -> int:
    """Ticks still being evaluated: a sensor stopped mid-tick may yet request a run."""
    return sum(1 for state in _instigator_states(api) if state["ticks"] and state["ticks"][0]["status"] == "STARTED")


def active_runs(api: GraphQL) -> list[str]:
    runs = api.graphql(_ACTIVE_RUNS, {"statuses": ACTIVE_RUN_STATES})["runsOrError"].get("results", [])
    return [run["runId"] for run in runs]


def cancel_backfills(api: GraphQL) -> None:
    for backfill in api.graphql(_REQUESTED_BACKFILLS)["partitionBackfillsOrError"].get("results", []):
        api.graphql(_CANCEL_BACKFILL, {"id": backfill["id"]})


def _wait_for_rest(api: GraphQL, timeout_s: float, poll_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        runs = active_runs(api)
        if not runs and not ticks_in_progress(api):
            return []
        if time.monotonic() >= deadline:
            return runs
        time.sleep(poll_s)


def quiesce(api: GraphQL, finish_s: float = 60, terminate_s: float = 60, poll_s: float = 2) -> list[str]:
    """Stop every sensor and schedule, cancel backfills, let launched runs finish for ``finish_s``,
    then terminate the rest and wait ``terminate_s`` for them; returns the runs still not finished."""
    stop_instigators(api)
    cancel_backfills(api)
    left = _wait_for_rest(api, finish_s, poll_s)
    if not left:
        return []
    api.graphql(_TERMINATE, {"ids": left})
    return _wait_for_rest(api, terminate_s, poll_s)
