"""Why an engine cannot read a usage table: apart from ``engine_connect`` so that importing them
does not import ibis (0.3 s, and as much again per backend), which only a table read needs."""

from __future__ import annotations


class EngineUnavailable(Exception):
    """The URL names an engine that cannot be used here (unknown, or its package is missing)."""


class CannotConnect(Exception):
    """The engine is there but the database is not reachable (file missing, server down…)."""
