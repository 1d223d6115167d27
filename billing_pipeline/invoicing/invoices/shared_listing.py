"""The period's Qonto listing, read once per run and shared by the run's steps through the ledger.

Drafts, finalization and the corrections' reconciliation each need what Qonto holds for the period
(``qonto_index.PeriodIndex``). The first of them in a run lists the period whole and stores the
invoices of the period in the ledger (``qonto_period_listings``, one row per period, compressed
JSON). Every later step of the same run reads that row and asks Qonto only for what changed since:
``filter[updated_at_from]`` = the moment the stored listing began, less ``CHANGES_MARGIN``. Qonto
stamps ``updated_at`` on every create, update, finalization, cancellation and payment, so a draft
created since (by us, or by a create whose answer was lost), an edit or a cancellation by a person
all come back in that short listing; an invoice whose header no longer names the period leaves the
index. A step that re-lists a period nobody touched reads one page instead of the period's pages.

What a listing of changes cannot show is a draft a person *deleted* since: it stays in the shared
copy. A step acting on it meets a 404 and fails naming the customer (nothing is created or counted
twice: a deleted draft bills nothing), and a failed step drops the shared copy (``forget``), so its
retry lists the period whole and sees the deletion like any fresh run.

The margin is never shorter than twice the grace given to creates in flight (``in_flight``): a
create Qonto had received but not yet shown when the copy was read is in the next listing of changes.

The copy belongs to one run (``run_key``: the Dagster run id): another run, or a run that finds the
row written by another one, lists the period whole again and takes the row over. ``CHANGES_MARGIN``
covers the difference between the ledger database's clock and Qonto's, and an invoice Qonto
stamped just before the stored listing read it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.tables import aware, metadata
from billing_pipeline.qonto.models import ClientInvoice

CHANGES_MARGIN = timedelta(minutes=5)

listing_records = sa.Table(
    "qonto_period_listings",
    metadata,
    sa.Column("period", sa.String, primary_key=True),
    sa.Column("run_key", sa.String, nullable=False),
    sa.Column("changes_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("invoices", sa.LargeBinary, nullable=False),  # zlib-compressed JSON list
)


@dataclass(frozen=True)
class StoredListing:
    """A run's copy of the period's invoices, and from when Qonto must be asked for changes."""

    invoices: dict[str, ClientInvoice]
    changes_from: datetime


def changes_margin(in_flight_grace_s: float) -> timedelta:
    """How far before a stored listing began the next step asks for changes (see the module doc)."""
    return max(CHANGES_MARGIN, timedelta(seconds=2 * in_flight_grace_s))


def of_period(invoice: ClientInvoice, period: BillingPeriod) -> bool:
    reference = InvoiceReference.from_header(invoice.header)
    return reference is not None and reference.period == period


@dataclass(frozen=True)
class SharedListing:
    """The shared copy of one run (``run_key``) in the ledger database behind ``engine``; ``clock``:
    the ledger database's time (the one clock every writer shares)."""

    engine: sa.Engine
    run_key: str
    clock: Callable[[], datetime]
    margin: timedelta = CHANGES_MARGIN

    def load(self, period: BillingPeriod) -> StoredListing | None:
        """This run's copy of ``period``; None when there is none (or it is another run's)."""
        query = sa.select(listing_records).where(listing_records.c.period == period.key)
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        if row is None or row["run_key"] != self.run_key:
            return None
        changes_from = aware(row["changes_from"])
        assert changes_from is not None
        items = json.loads(zlib.decompress(row["invoices"]))
        invoices = {item["id"]: ClientInvoice.model_validate(item) for item in items}
        return StoredListing(invoices=invoices, changes_from=changes_from)

    def save(self, period: BillingPeriod, invoices: Iterable[ClientInvoice], changes_from: datetime) -> None:
        payload = zlib.compress(json.dumps([i.model_dump(mode="json") for i in invoices]).encode("utf-8"))
        values = {"run_key": self.run_key, "changes_from": changes_from, "invoices": payload}
        with self.engine.begin() as connection:
            table = listing_records
            updated = connection.execute(sa.update(table).where(table.c.period == period.key).values(**values))
            if updated.rowcount == 0:
                try:
                    with connection.begin_nested():
                        connection.execute(sa.insert(table).values(period=period.key, **values))
                except sa.exc.IntegrityError:
                    pass  # another run stored its copy first: ours is not kept, our next step lists whole

    def forget(self, period: BillingPeriod) -> None:
        """Drop this run's copy of the period (a step failed: its retry lists the period whole)."""
        table = listing_records
        with self.engine.begin() as connection:
            connection.execute(sa.delete(table).where(table.c.period == period.key, table.c.run_key == self.run_key))
