"""The attachment sensor at 10⁶ ledger rows: a tick reads counts per period and a bounded page of rows
(grouped and limited in SQL), and the page holds exactly what the probe would pick from every row."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from benchmarks.big_ledger import fill_invoices
from billing_pipeline.defs.documents.sensor import facturx_attachment_sensor
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.invoicing.documents.readiness import _probes
from billing_pipeline.invoicing.documents.waiting import PendingDocuments
from billing_pipeline.invoicing.invoices.records import InvoiceState, invoice_records
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import CorrectionState, Ledger
from billing_pipeline.invoicing.progress import pending_documents
from billing_pipeline.ledger import Money
from billing_pipeline_tests.pipeline.test_concurrency import _CountingConnection, _CountingQonto

PERIOD = "2026-10"
NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
INDEX = "ix_invoice_records_period_state_finalized"


def _finalize(ledger: Ledger, customer: str, minutes_ago: float | None, period: str = PERIOD) -> None:
    ledger.record_finalized(
        InvoiceReference.of(customer, period), invoice_id=f"inv-{period}-{customer}", client_id=f"cl-{customer}",
        number=f"F-{customer}", attachment_id=f"att-{customer}",
        finalized_at=None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago),
    )  # fmt: skip


def _checked(ledger: Ledger, customer: str, minutes_ago: float) -> None:
    with ledger.engine.begin() as connection:
        connection.execute(
            sa.update(invoice_records)
            .where(invoice_records.c.customer_id == customer, invoice_records.c.period == PERIOD)
            .values(checked_at=NOW - timedelta(minutes=minutes_ago))
        )


def _issue_credit_note(ledger: Ledger, n: int, minutes_ago: float) -> None:
    reference = f"BP-{PERIOD}-k{n}/avoir/F-{n}"
    ledger.record_correction_intent(
        reference, customer_id=f"k{n}", period=PERIOD, kind="credit_note", corrects_invoice_id=f"inv-k{n}",
        corrects_number=f"F-{n}",
    )  # fmt: skip
    ledger.record_correction_issued(
        reference, qonto_id=f"cn-{n}", number=f"AV-{n}", total=Money(amount="-1.00", currency="EUR"),
        attachment_id=None, finalized_at=NOW - timedelta(minutes=minutes_ago),
    )  # fmt: skip


def _whole(ledger: Ledger) -> PendingDocuments:
    return PendingDocuments.of(
        ledger.invoices(PERIOD, {InvoiceState.FINALIZED}), ledger.corrections(PERIOD, {CorrectionState.ISSUED})
    )


def _chosen(pending: PendingDocuments) -> list[tuple[str, bool]]:
    return [(record.customer_id, reread) for record, reread in _probes(pending.invoices, NOW)]


def test_the_page_holds_what_the_probe_picks_from_every_row(tmp_path: Path) -> None:
    check_the_page_against_every_row(Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}"))


def check_the_page_against_every_row(ledger: Ledger) -> None:
    """Also run on PostgreSQL (postgres/test_progress_on_postgres.py): the page's SQL on both."""
    for n in range(40):  # finalized 1 to 40 hours ago, every one stale; a few re-read since
        _finalize(ledger, f"c{n:02d}", minutes_ago=60 * (n + 1))
    _finalize(ledger, "no-time", minutes_ago=None)  # finalized without a known time: the probe's newest
    for customer, minutes_ago in (("c39", 5), ("c38", 50), ("c10", 3000), ("c20", 30)):
        _checked(ledger, customer, minutes_ago)
    _finalize(ledger, "other", minutes_ago=1, period="2026-09")  # another period: not in this one's page
    ledger.record_stored(InvoiceReference.of("c05", PERIOD), file_path="f.pdf", sha256="0" * 64)
    for n, minutes_ago in enumerate((30, 10, 600)):
        _issue_credit_note(ledger, n, minutes_ago)

    page, whole = pending_documents(ledger, now=NOW)[PERIOD], _whole(ledger)
    assert len(page.invoices) <= 4 and len(page.credit_notes) <= 2  # whatever the number waiting
    assert (page.invoice_count, page.credit_note_count) == (40, 3) == (whole.invoice_count, whole.credit_note_count)
    assert page.oldest_finalized_at == whole.oldest_finalized_at == NOW - timedelta(hours=40)
    assert page.fingerprint == whole.fingerprint
    # the probe picks the same invoices (and re-reads the same) from the page as from every row
    assert _chosen(page) == _chosen(whole)
    assert [c for c, _ in _chosen(page)] == ["no-time", "c39", "c10", "c37"]
    assert {n.reference for n in page.credit_notes} == {f"BP-{PERIOD}-k1/avoir/F-1", f"BP-{PERIOD}-k2/avoir/F-2"}

    # the waiting set changed both ways at once (one stored, one newly finalized): a new key
    ledger.record_stored(InvoiceReference.of("c00", PERIOD), file_path="f.pdf", sha256="0" * 64)
    _finalize(ledger, "newcomer", minutes_ago=0.5)
    again = pending_documents(ledger, now=NOW)[PERIOD]
    assert again.invoice_count == page.invoice_count and again.fingerprint != page.fingerprint
    assert again.fingerprint == _whole(ledger).fingerprint


def test_a_tick_over_a_million_ledger_rows_stays_in_seconds(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    finalized_at = datetime.now(UTC) - timedelta(hours=1)  # every row stale: the page's hardest case
    periods = [f"2026-{m:02d}" for m in range(1, 11)]
    started = time.perf_counter()
    rows = fill_invoices(ledger, periods, per_period=100_000, finalized_at=finalized_at)
    fill_s = time.perf_counter() - started
    ledger.dispose()
    fake = _CountingQonto(finalized_at)

    class FakeQontoResource(QontoResource):
        def connection(self):  # type: ignore[override]
            return _CountingConnection(fake)

    resources = {
        "qonto": FakeQontoResource(mode="custom", state_dir=str(tmp_path)),
        "billing": BillingResource(state_dir=str(tmp_path)),
    }
    with dg.instance_for_test() as instance, dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        started = time.perf_counter()
        result = facturx_attachment_sensor(ctx)
        tick_s = time.perf_counter() - started
    print(f"\nattachment sensor: {rows:,} finalized ledger rows (written in {fill_s:.1f} s), one tick {tick_s:.2f} s")
    assert isinstance(result, dg.SensorResult)
    assert sorted(r.partition_key for r in result.run_requests) == periods
    assert rows == 1_000_000
    assert fake.calls <= 4 * len(periods)  # bounded probes: at most an invoice and an attachment read twice
    # a loose bound: speed targets live in benchmarks/scale.py; one tick read every row in ~60 s before
    assert tick_s < 10


def test_an_older_ledger_gets_the_index_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as connection:  # as a release before migration 3 left it
        connection.execute(f"DROP INDEX {INDEX}")
        connection.execute("DELETE FROM ledger_schema_version WHERE version >= 3")
    Ledger(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as connection:
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        versions = {row[0] for row in connection.execute("SELECT version FROM ledger_schema_version")}
    assert INDEX in indexes and 3 in versions
