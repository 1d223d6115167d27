"""The invoicing ledger on a real PostgreSQL server: the database itself enforces one invoice per
(customer, period), and the advisory period lock excludes writers in other processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import InvoiceState, Ledger, LedgerConflict, PlannedContent, invoice_records
from billing_pipeline_tests.postgres.server import PostgresDatabase

pytestmark = pytest.mark.postgres

PERIOD = "2026-10"
REF = InvoiceReference.of("cus-1", PERIOD)
CONTENT = PlannedContent(digest="d", net_total=Decimal("10.00"), vat_total=Decimal("2.00"), total=Decimal("12.00"))

# A second process that takes the period lock, says so, and holds it until told to go.
_LOCK_HOLDER = """
import os, sys
from billing_pipeline.invoicing.ledger import Ledger
ledger = Ledger(os.environ["LEDGER_URL"])
with ledger.period_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
ledger.dispose()
"""


@pytest.fixture
def ledger_db(new_database: Callable[[str], PostgresDatabase]) -> PostgresDatabase:
    return new_database("ledger")


@pytest.fixture
def ledger(ledger_db: PostgresDatabase) -> Iterator[Ledger]:
    ledger = Ledger(ledger_db.url)
    yield ledger
    ledger.dispose()


def _raw_invoice_row(customer_id: str, period: str, reference: str, **values: str) -> dict:
    return {
        "customer_id": customer_id,
        "period": period,
        "reference": reference,
        "state": InvoiceState.CREATING.value,
        "updated_at": datetime.now(UTC),
        **values,
    }


def _insert_bypassing_the_ledger(ledger: Ledger, row: dict) -> None:
    """What a buggy writer or a second process without our checks would do."""
    with ledger.engine.begin() as connection:
        connection.execute(sa.insert(invoice_records).values(**row))


def test_the_ledger_creates_its_tables_on_postgresql_with_the_invoice_key(
    ledger: Ledger, ledger_db: PostgresDatabase
) -> None:
    assert (ledger.engine.dialect.name, ledger.engine.dialect.driver) == ("postgresql", "psycopg")
    inspector = sa.inspect(ledger.engine)
    assert {"client_links", "invoice_records"} <= set(inspector.get_table_names())
    key = inspector.get_pk_constraint("invoice_records")
    assert key["name"] == "pk_invoice_per_customer_period"
    assert key["constrained_columns"] == ["customer_id", "period"]
    unique_columns = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("invoice_records")}
    assert {("reference",), ("invoice_id",)} <= unique_columns
    assert ledger_db.server.password not in repr(ledger)


def test_the_database_rejects_a_second_invoice_for_the_same_customer_and_period(ledger: Ledger) -> None:
    ledger.record_invoice_intent(REF, "client-1")

    with pytest.raises(sa.exc.IntegrityError, match="pk_invoice_per_customer_period"):
        _insert_bypassing_the_ledger(ledger, _raw_invoice_row("cus-1", PERIOD, "BP-2026-10-cus-1-again"))

    # the same customer in another period, and another customer in this one, are fine
    _insert_bypassing_the_ledger(ledger, _raw_invoice_row("cus-1", "2026-11", "BP-2026-11-cus-1"))
    _insert_bypassing_the_ledger(ledger, _raw_invoice_row("cus-2", PERIOD, "BP-2026-10-cus-2"))
    assert [(r.customer_id, r.period) for r in ledger.invoices()] == [
        ("cus-1", PERIOD),
        ("cus-2", PERIOD),
        ("cus-1", "2026-11"),
    ]


def test_the_database_rejects_a_reused_reference_or_qonto_invoice(ledger: Ledger) -> None:
    ledger.record_invoice_intent(REF, "client-1")
    ledger.record_draft(REF, invoice_id="inv-1", client_id="client-1", content=CONTENT)

    with pytest.raises(sa.exc.IntegrityError, match=r"Key \(reference\)=\(BP-2026-10-cus-1\) already exists"):
        _insert_bypassing_the_ledger(ledger, _raw_invoice_row("cus-2", PERIOD, "BP-2026-10-cus-1"))
    with pytest.raises(sa.exc.IntegrityError, match=r"Key \(invoice_id\)=\(inv-1\) already exists"):
        _insert_bypassing_the_ledger(ledger, _raw_invoice_row("cus-2", PERIOD, "BP-2026-10-cus-2", invoice_id="inv-1"))
    assert len(ledger.invoices(PERIOD)) == 1


def test_two_concurrent_transactions_cannot_both_record_the_invoice(ledger: Ledger) -> None:
    first = ledger.engine.connect()
    second = ledger.engine.connect()
    try:
        first.begin()
        first.execute(sa.insert(invoice_records).values(**_raw_invoice_row("cus-1", PERIOD, "BP-2026-10-cus-1")))
        outcome: list[BaseException | None] = []

        def insert_the_same_invoice() -> None:
            # blocks on the first transaction's uncommitted key, then fails once it commits
            try:
                with second.begin():
                    second.execute(
                        sa.insert(invoice_records).values(**_raw_invoice_row("cus-1", PERIOD, "BP-2026-10-cus-1-b"))
                    )
                outcome.append(None)
            except sa.exc.IntegrityError as rejected:
                outcome.append(rejected)

        contender = threading.Thread(target=insert_the_same_invoice)
        contender.start()
        first.commit()
        contender.join(timeout=30)
        assert not contender.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], sa.exc.IntegrityError)
        assert "pk_invoice_per_customer_period" in str(outcome[0])
    finally:
        first.close()
        second.close()
    [record] = ledger.invoices(PERIOD)
    assert record.reference == "BP-2026-10-cus-1"


def test_the_ledger_refuses_a_new_intent_once_the_invoice_exists(ledger: Ledger) -> None:
    ledger.record_invoice_intent(REF, "client-1")
    ledger.record_draft(REF, invoice_id="inv-1", client_id="client-1", content=CONTENT)
    with pytest.raises(
        LedgerConflict, match=r"invoice \[customer_id=cus-1, period=2026-10\] already exists \(draft\)"
    ):
        ledger.record_invoice_intent(REF, "client-1")


def _start_lock_holder(ledger: Ledger, period: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, period],
        env={**os.environ, "LEDGER_URL": ledger.url},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def _contend(ledger: Ledger, period: str) -> tuple[threading.Thread, threading.Event]:
    acquired = threading.Event()

    def take_the_lock() -> None:
        with ledger.period_lock(period):
            acquired.set()

    contender = threading.Thread(target=take_the_lock, daemon=True)
    contender.start()
    return contender, acquired


def _granted_advisory_locks(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        return int(connection.execute(sa.text(query)).scalar_one())


def test_the_period_lock_excludes_another_process_until_it_releases(ledger: Ledger) -> None:
    holder = _start_lock_holder(ledger, PERIOD)
    try:
        assert _granted_advisory_locks(ledger) == 1
        contender, acquired = _contend(ledger, PERIOD)
        with ledger.period_lock("2026-11"):  # another period is not held up
            pass
        # a lock that works never lets the contender in while the other process holds it
        assert not acquired.wait(1.0)

        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        assert acquired.wait(timeout=30)
        contender.join(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert _granted_advisory_locks(ledger) == 0


def test_a_holder_killed_mid_period_frees_the_lock(ledger: Ledger) -> None:
    holder = _start_lock_holder(ledger, PERIOD)
    contender, acquired = _contend(ledger, PERIOD)
    assert not acquired.wait(0.5)
    # the server ends the dead process's session, and its advisory locks with it
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert acquired.wait(timeout=30)
    contender.join(timeout=30)
    assert _granted_advisory_locks(ledger) == 0
