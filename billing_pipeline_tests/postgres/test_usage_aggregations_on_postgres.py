"""Metric aggregations and subscription spans from PostgreSQL: the same results as from files.

Typed (timestamptz, numeric) and text columns, with and without the pushdown: non-sum metrics and
customers with spans come as raw rows, the seat levels of earlier months through the carry-in query.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from billing_pipeline.billing.coverage import DaySpan
from billing_pipeline.billing.sql_usage import SqlUsageSource
from billing_pipeline_tests.billing import test_usage_engines as engines
from billing_pipeline_tests.billing.test_sql_usage import as_instants, create_usage_table
from billing_pipeline_tests.billing.test_usage_aggregations import (
    AGGREGATIONS,
    FIELDS,
    MONTH,
    OCTOBER,
    PARIS,
    ev,
    read_from,
    summary,
    write_usage,
)
from billing_pipeline_tests.postgres.server import PostgresDatabase

pytestmark = pytest.mark.postgres

TYPED = {
    "event_id": "text",
    "customer_id": "text",
    "metric": "text",
    "quantity": "numeric",
    "timestamp": "timestamp with time zone",
    "unique_key": "text",
}
TEXT = dict.fromkeys(FIELDS, "text")
EVENTS = [
    *MONTH,
    *(dict(event) for event in MONTH[:5]),  # exact repeats
    ev("s0", "seats", 3, "2026-08-15T10:00:00Z"),
    ev("s1", "seats", 5, "2026-09-30T21:30:00Z"),  # still September in Paris: the level carried in
    ev("s2", "seats", 8, "2026-10-10T22:00:00Z"),
    ev("s3", "seats", 2, "2026-10-20T10:00:00Z", customer="c2"),
    ev("c1", "calls", 4, "2026-10-12T10:00:00Z", customer="c2"),
    ev("c2", "calls", 6, "2026-10-25T10:00:00Z", customer="c2"),
    ev("n1", "users", 1, "2026-10-26T10:00:00Z", customer="c2"),  # no unique_key: a problem
]
SPANS = {"c2": [DaySpan(date(2026, 10, 1), date(2026, 10, 15)), DaySpan(date(2026, 10, 17), date(2026, 10, 24))]}


@pytest.mark.parametrize("types", [TYPED, TEXT], ids=["typed", "text"])
@pytest.mark.parametrize("pushdown", [True, False], ids=["pushdown", "streamed"])
def test_postgres_aggregates_like_the_files(
    new_database: Callable[[str], PostgresDatabase], tmp_path: Path, types: dict[str, str], pushdown: bool
) -> None:
    expected = summary(read_from("csv", write_usage(tmp_path, "csv", [EVENTS]), spans=SPANS))
    database = new_database("aggregations")
    rows: list[dict[str, Any]] = [dict(event) for event in EVENTS]
    create_usage_table(database.url, as_instants(rows) if types is TYPED else rows, types=types)
    source = SqlUsageSource(database.url, pushdown=pushdown)
    usage = source.read(OCTOBER, PARIS, customers=None, metrics=None, aggregations=AGGREGATIONS, spans=SPANS)
    assert summary(usage) == expected
    assert usage.quantities["c1"]["seats"] > 0 and usage.uncovered and usage.problems


@pytest.mark.parametrize("types", [TYPED, TEXT], ids=["typed", "text"])
def test_postgres_engine_like_every_other_engine(
    new_database: Callable[[str], PostgresDatabase], tmp_path: Path, types: dict[str, str]
) -> None:
    """The events of the engine-equivalence tests (``billing/test_usage_engines.py``): same results
    to the digit, problems located by event_id."""
    database = new_database("engines")
    rows: list[dict[str, Any]] = [dict(event) for event in engines.EVENTS]
    create_usage_table(database.url, as_instants(rows) if types is TYPED else rows, types=types)
    source = SqlUsageSource(database.url)
    usage = engines.read_source(source)
    engines.check_like_the_files(usage, tmp_path, source.label)


def test_postgres_text_values_like_the_files(new_database: Callable[[str], PostgresDatabase], tmp_path: Path) -> None:
    """Text instants and quantities of every form, each its own group: the certain ones settled by
    the engine's own arithmetic, the others by the file reader — the same results as from files."""
    database = new_database("edges")
    create_usage_table(database.url, engines.edge_events(), types=TEXT)
    engines.check_edges_like_the_files(engines.read_source(SqlUsageSource(database.url)), tmp_path)


@pytest.mark.parametrize(
    ("kind", "amounts"),
    [
        ("bigint", ["5", "0", "-3", "999999999999", "1000000000000"]),
        ("numeric(18, 6)", ["1.5", "0.000001", "-0.5", "999999999999.999999"]),
        ("numeric", ["1.5", "1.0000000", "1.1234567", "-1", "NaN", "Infinity", "1234567890123456789012.5"]),
        ("double precision", ["1.5", "0.1", "1e-7", "-1", "1e20"]),
    ],
)
def test_postgres_numeric_quantities_like_the_files(
    new_database: Callable[[str], PostgresDatabase], tmp_path: Path, kind: str, amounts: list[str]
) -> None:
    """Typed quantities read without text where that is exact (integers, numeric: PostgreSQL's
    decimal arithmetic never rounds), through their text otherwise (floating point)."""
    rows = [
        ev(f"q{at}", "calls", amount, "2026-10-15T12:00:00Z", customer=f"q{at}") for at, amount in enumerate(amounts)
    ]
    database = new_database("numbers")
    create_usage_table(database.url, as_instants(rows), types={**TYPED, "quantity": kind})
    usage = engines.read_source(SqlUsageSource(database.url))
    expected = read_from("csv", write_usage(tmp_path, "csv", [rows]), spans=engines.SPANS)
    assert summary(usage)[:4] == summary(expected)[:4]
    # the values differ in form only (a numeric(18, 6) column shows -0.5 as -0.500000)
    assert sorted((p.field, p.reason) for p in usage.problems) == sorted((p.field, p.reason) for p in expected.problems)
