"""Deterministic fault injection: faults queued for the next N requests matching method + path.

Queued faults live in the state file, so a test can arm them from outside the process that will
serve the request. Kinds and their parameters:

* ``server_error``  — ``status`` (500..599, default 500), ``commit`` (default false: nothing is
  written; true: the write happens, then the 5xx is answered — an ambiguous failure);
* ``rate_limited``  — 429 before anything is done; ``retry_after`` seconds (header only if set);
* ``lost_response`` — the request is fully processed and committed, then the connection drops;
  ``mode`` ``reset`` (default: dropped right away) or ``timeout`` (held ``hang_s`` seconds first);
* ``latency``       — ``ms`` milliseconds of delay before the request is handled.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FaultKind = Literal["server_error", "rate_limited", "lost_response", "latency"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerErrorParams(_Params):
    kind: Literal["server_error"] = "server_error"
    status: int = Field(default=500, ge=500, le=599)
    commit: bool = False


class RateLimitedParams(_Params):
    kind: Literal["rate_limited"] = "rate_limited"
    retry_after: int | None = Field(default=None, ge=0)


class LostResponseParams(_Params):
    kind: Literal["lost_response"] = "lost_response"
    mode: Literal["reset", "timeout"] = "reset"
    hang_s: float = Field(default=30.0, ge=0)


class LatencyParams(_Params):
    kind: Literal["latency"] = "latency"
    ms: int = Field(default=1000, ge=0)


Fault = Annotated[
    ServerErrorParams | RateLimitedParams | LostResponseParams | LatencyParams, Field(discriminator="kind")
]


class _FaultHolder(BaseModel):
    fault: Fault


class FaultRequest(BaseModel):
    """Body of ``POST /_emulator/faults``."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    method: str = Field(default="*", pattern=r"^(\*|[A-Za-z]+)$")
    path_regex: str = Field(min_length=1)
    count: int = Field(default=1, ge=1)
    params: dict[str, object] = Field(default_factory=dict)

    @field_validator("path_regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"path_regex does not compile: {exc}") from exc
        return value

    def fault(self) -> ServerErrorParams | RateLimitedParams | LostResponseParams | LatencyParams:
        return _FaultHolder.model_validate({"fault": {**self.params, "kind": self.kind}}).fault


class LostResponse(Exception):
    """Raised after the response has started: the server drops the connection (a lost response)."""

    def __init__(self, mode: str) -> None:
        super().__init__(f"emulated lost response ({mode})")
        self.mode = mode


def queue_fault(connection: sqlite3.Connection, request: FaultRequest) -> int:
    fault = request.fault()  # validates the params for the kind
    cursor = connection.execute(
        "INSERT INTO faults (kind, method, path_regex, remaining, params) VALUES (?, ?, ?, ?, ?)",
        (request.kind, request.method.upper(), request.path_regex, request.count, fault.model_dump_json()),
    )
    return int(cursor.lastrowid or 0)


def take_fault(
    connection: sqlite3.Connection, method: str, path: str
) -> ServerErrorParams | RateLimitedParams | LostResponseParams | LatencyParams | None:
    """Consume one use of the oldest queued fault matching this request, if any."""
    rows = connection.execute(
        "SELECT id, method, path_regex, params FROM faults WHERE remaining > 0 ORDER BY id"
    ).fetchall()
    for row in rows:
        if row["method"] not in ("*", method.upper()) or not re.search(row["path_regex"], path):
            continue
        connection.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (row["id"],))
        connection.execute("DELETE FROM faults WHERE remaining <= 0")
        return _FaultHolder.model_validate({"fault": json.loads(row["params"])}).fault
    return None


def pending_faults(connection: sqlite3.Connection) -> list[dict[str, object]]:
    rows = connection.execute("SELECT * FROM faults WHERE remaining > 0 ORDER BY id").fetchall()
    return [
        {
            "id": row["id"],
            "kind": row["kind"],
            "method": row["method"],
            "path_regex": row["path_regex"],
            "remaining": row["remaining"],
            "params": json.loads(row["params"]),
        }
        for row in rows
    ]
