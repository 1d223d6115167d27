"""Fixtures shared by every test folder: one real PostgreSQL server per session (``-m postgres``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from billing_pipeline_tests.postgres.server import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Started once for the session, whichever folders ask for it (the kernel's tests, the pipeline's);
    skipped with the reason on a machine without PostgreSQL's server binaries."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    from billing_pipeline_tests.postgres.server import PostgresUnavailable, start_server

    try:
        server = start_server()
    except PostgresUnavailable as unavailable:
        pytest.skip(str(unavailable))
    try:
        yield server
    finally:
        server.stop()
        server.remove()
