"""An upgrade as users make it: this release opens the ledger the previous release wrote, and bills.

The ledger below was written by release a86cc62 (``billing_pipeline_tests/ledger/fixtures``): every
table, with rows in each, in the schema of that release (no version table). ``bill`` for the next
period runs headless on it, as a cron job does after ``pip install -U``: the schema is adopted and
upgraded in place, every earlier row is still there, and the new period is billed, stored and
delivered exactly as on a fresh ledger.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from billing_pipeline.invoicing.migrations import LEDGER_MIGRATIONS
from billing_pipeline.ledger import BASELINE_VERSION
from billing_pipeline_tests.pipeline.conftest import copy_sample_data
from billing_pipeline_tests.pipeline.test_headless_bill import QONTO_VARIABLES, _bill

FIXTURE = Path(__file__).parents[1] / "ledger" / "fixtures" / "ledger_release_a86cc62.sql"
TABLES = (
    "client_links",
    "invoice_records",
    "correction_records",
    "delivery_records",
    "payment_transactions",
    "payment_allocations",
    "payment_markings",
    "payment_reminders",
    "payment_cursor",
)
NEXT_PERIOD = "2026-11"  # the fixture's ledger billed 2026-09 and 2026-10; the sample data has usage in 2026-11


def _rows(connection: sqlite3.Connection, table: str) -> list[tuple]:
    return sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def _previous_release_ledger(path: Path) -> dict[str, list[tuple]]:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as connection:
        connection.executescript(FIXTURE.read_text())
        before = {table: _rows(connection, table) for table in TABLES}
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert all(before[table] for table in TABLES), "the fixture must hold rows in every table"
    assert "ledger_schema_version" not in tables  # as the previous release left it
    return before


def test_this_release_bills_the_next_period_on_the_previous_releases_ledger(tmp_path: Path) -> None:
    copy_sample_data(tmp_path / "data")
    ledger_path = tmp_path / ".state" / "ledger.sqlite"
    before = _previous_release_ledger(ledger_path)

    result = _bill(tmp_path, "--period", NEXT_PERIOD, "--wait", "120", "--format", "json")

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    billed = sorted(i["customer_id"] for i in report["invoices"])
    assert billed and not set(billed) & {row[0] for row in before["invoice_records"]}
    assert all(i["status"] == "stored" and i["delivery"]["status"] in ("sent", "received") for i in report["invoices"])
    with sqlite3.connect(ledger_path) as connection:
        # the schema was adopted (version table written) ...
        versions = [row[0] for row in connection.execute("SELECT version FROM ledger_schema_version")]
        assert versions and max(versions) == max(LEDGER_MIGRATIONS) > BASELINE_VERSION
        # ... every earlier row is still there, unchanged but for the columns this release added
        for table in TABLES:
            width = len(before[table][0])
            after = [row[:width] for row in _rows(connection, table)]
            assert all(row in after for row in before[table]), f"{table}: a row of the previous release changed"
        # migration 2: the amounts of earlier invoices and credit notes are in euros
        for table in ("invoice_records", "correction_records"):
            currencies = {row[0] for row in connection.execute(f"SELECT DISTINCT currency FROM {table}")}
            assert currencies == {"EUR"}
        november = connection.execute(
            "SELECT customer_id, state FROM invoice_records WHERE period = ?", (NEXT_PERIOD,)
        ).fetchall()
        delivered = connection.execute("SELECT count(*) FROM delivery_records WHERE period = ?", (NEXT_PERIOD,))
        assert sorted(november) == [(c, "stored") for c in billed]
        assert delivered.fetchone()[0] == len(billed)

    # a second run of the upgraded ledger changes nothing (no second invoice, no second email)
    again = _bill(tmp_path, "--period", NEXT_PERIOD, "--format", "json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["invoices"] == report["invoices"]


def test_payments_run_on_the_previous_releases_ledger(tmp_path: Path) -> None:
    """The payment tables of the previous release (counted transfers, markings, reminders, cursor)
    are read and extended by this release's payment pass without a complaint."""
    copy_sample_data(tmp_path / "data")
    ledger_path = tmp_path / ".state" / "ledger.sqlite"
    before = _previous_release_ledger(ledger_path)
    result = subprocess.run(
        [sys.executable, "-m", "billing_pipeline.cli", "payments", "--format", "json"],
        cwd=tmp_path, env=_env_of_bill(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(json.loads(result.stdout)) == {"matched", "partial", "overpaid", "unmatched"}
    engine = sa.create_engine(f"sqlite:///{ledger_path}")
    with engine.connect() as connection:
        for table in ("payment_transactions", "payment_markings", "payment_reminders"):
            count = connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert count >= len(before[table])
    engine.dispose()


def _env_of_bill() -> dict[str, str]:
    """The environment ``_bill`` gives ``bill``: no credentials (the embedded emulator), no DAGSTER_HOME."""
    env = {k: v for k, v in os.environ.items() if k not in QONTO_VARIABLES and not k.startswith("BILLING_")}
    env.pop("DAGSTER_HOME", None)
    return env
