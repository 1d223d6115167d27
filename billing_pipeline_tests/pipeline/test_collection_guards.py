"""Factur-X collection: the XML is compared line by line and buyer with what we finalized, and one
invoice that cannot be collected never stops the others (issue 11, smaller items)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from billing_pipeline.invoicing.documents.storage import safe_file_name
from billing_pipeline.invoicing.ledger import InvoiceState, invoice_records
from billing_pipeline_tests.defs_for_tests import facturx_files
from billing_pipeline_tests.pipeline.conftest import RENDER_DELAY_S, PipelineWorld
from billing_pipeline_tests.pipeline.small_world import (
    PERIOD,
    Company,
    failed_checks,
    materialize,
    write_customers,
    write_usage,
)


def _two_finalized(world: PipelineWorld, instance: dg.DagsterInstance) -> None:
    write_customers(world, [Company("alpha"), Company("beta", siren="493375109", email="b@beta.example.fr")])
    write_usage(world, {"alpha": 100, "beta": 200})
    assert materialize(world, instance).success
    time.sleep(RENDER_DELAY_S + 0.3)


def _set_column(world: PipelineWorld, customer: str, **values: object) -> None:
    with world.billing.ledger().engine.begin() as connection:
        connection.execute(
            sa.update(invoice_records)
            .where(invoice_records.c.customer_id == customer, invoice_records.c.period == PERIOD)
            .values(**values)
        )


def test_a_file_whose_lines_or_buyer_differ_from_what_was_finalized_is_rejected(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    _two_finalized(world, instance)
    ledger = world.billing.ledger()
    lines = json.loads(ledger.invoice("alpha", PERIOD).expected_lines)
    lines[-1]["quantity"] = str(Decimal(lines[-1]["quantity"]) + 1)  # we finalized something else than the XML says
    _set_column(world, "alpha", expected_lines=json.dumps(lines))
    _set_column(world, "beta", buyer_siren="796061109")

    result = dg.materialize([facturx_files], partition_key=PERIOD, resources=world.resources, instance=instance)
    alpha, beta = ledger.invoice("alpha", PERIOD), ledger.invoice("beta", PERIOD)
    assert alpha.state == InvoiceState.REJECTED and "BP-CMP-07" in alpha.last_error and "quantity" in alpha.last_error
    assert beta.state == InvoiceState.REJECTED and "BP-CMP-09" in beta.last_error
    assert "facturx_matches_plan_and_qonto" in failed_checks(result)


def test_one_invoice_that_cannot_be_stored_does_not_stop_the_others(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    _two_finalized(world, instance)
    ledger = world.billing.ledger()
    number = ledger.invoice("beta", PERIOD).number
    folder = world.invoices_dir / PERIOD
    folder.mkdir(parents=True, exist_ok=True)
    (folder / safe_file_name(number)).write_bytes(b"someone else's file")  # never overwritten

    result = dg.materialize(
        [facturx_files], partition_key=PERIOD, resources=world.resources, instance=instance, raise_on_error=False
    )
    assert result.success  # the step itself completes: the failure is reported, per invoice
    assert ledger.invoice("alpha", PERIOD).state == InvoiceState.STORED
    assert ledger.invoice("beta", PERIOD).state == InvoiceState.FINALIZED
    failed = failed_checks(result)["every_finalized_invoice_has_verified_file"]
    assert failed.severity == dg.AssetCheckSeverity.ERROR
    assert "StoredFileConflict" in json.dumps(failed.metadata["failed"].value)
