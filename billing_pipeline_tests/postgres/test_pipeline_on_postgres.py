"""The whole pipeline for two periods as production runs it: Dagster's instance loaded from
deploy/dagster.production.yaml and the invoicing ledger both on PostgreSQL, Qonto played by the
emulator over loopback HTTP."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.facturx import verify_pdf
from billing_pipeline.invoicing.ledger import InvoiceState, Ledger
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, facturx_files
from billing_pipeline_tests.postgres.conftest import RENDER_DELAY_S, PostgresBillingWorld

pytestmark = pytest.mark.postgres

PERIODS = ["2026-09", "2026-10"]
UP_TO_FINALIZED = BILLING_ASSETS[:4]


def _bill(world: PostgresBillingWorld, instance: dg.DagsterInstance, period: str) -> None:
    resources = world.resources()
    assert dg.materialize(UP_TO_FINALIZED, partition_key=period, resources=resources, instance=instance).success
    # Qonto renders the Factur-X file after a delay: move the emulator's clock past it
    world.emulator.advance_clock(RENDER_DELAY_S + 1)
    assert dg.materialize([facturx_files], partition_key=period, resources=resources, instance=instance).success


def _count(url: str, query: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def test_two_periods_end_to_end_with_dagster_and_the_ledger_on_postgresql_then_a_rerun_changes_nothing(
    pg_world: PostgresBillingWorld, production_instance: dg.DagsterInstance
) -> None:
    instance = production_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    plans = {period: plan_period(period, pg_world.data_dir) for period in PERIODS}
    assert all(plan.invoices for plan in plans.values()), "the sample data bills someone in each period"

    for period in PERIODS:
        _bill(pg_world, instance, period)

    # the ledger on PostgreSQL: one stored invoice per planned customer and period, verified file on disk
    ledger = Ledger(pg_world.ledger_db.url)
    try:
        for period, plan in plans.items():
            records = ledger.invoices(period)
            planned_totals = {i.customer.customer_id: i.total for i in plan.invoices}
            assert {r.customer_id for r in records} == planned_totals.keys()
            assert {r.state for r in records} == {InvoiceState.STORED}
            for record in records:
                assert record.file_path is not None
                report = verify_pdf(Path(record.file_path).read_bytes())
                assert report.valid, report.errors
                assert report.invoice_number == record.number
                assert report.totals.total == planned_totals[record.customer_id]
    finally:
        ledger.dispose()
    planned_invoices = sum(len(plan.invoices) for plan in plans.values())
    assert _count(pg_world.ledger_db.url, "SELECT count(*) FROM invoice_records") == planned_invoices

    # Qonto (the emulator) holds exactly those invoices, once each, with our totals to the cent
    live = pg_world.live_invoices()
    assert len(live) == planned_invoices
    assert set(Counter(i["header"] for i in live).values()) == {1}
    assert sum(Decimal(i["total_amount"]["value"]) for i in live) == sum(plan.total for plan in plans.values())

    # Dagster's runs, materializations and checks are in PostgreSQL
    runs = instance.get_runs()
    assert len(runs) == 2 * len(PERIODS)
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert _count(pg_world.dagster_db.url, "SELECT count(*) FROM runs") == len(runs)
    for asset in [*UP_TO_FINALIZED, facturx_files]:  # what this test materialized (no corrections needed)
        assert instance.get_materialized_partitions(asset.key) == set(PERIODS), asset.key

    # billing a period again (a retry, a backfill, a second click) creates and changes nothing in Qonto
    before = pg_world.emulator.state()
    rerun = dg.materialize(
        UP_TO_FINALIZED, partition_key=PERIODS[-1], resources=pg_world.resources(), instance=instance
    )
    assert rerun.success
    after = pg_world.emulator.state()
    assert after["clients"] == before["clients"]
    assert after["client_invoices"] == before["client_invoices"]
