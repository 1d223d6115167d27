"""A ledger with millions of invoice rows, written in seconds: one ``INSERT … SELECT`` per period from a
recursive CTE counting the customers, so no row travels through Python (``executemany`` of 10⁶
dicts would take minutes and gigabytes). Used by the sensor's scale test and ``benchmarks/scale.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from billing_pipeline.invoicing.invoices.records import InvoiceState, invoice_records
from billing_pipeline.invoicing.ledger import Ledger


def fill_invoices(
    ledger: Ledger,
    periods: Sequence[str],
    per_period: int,
    finalized_at: datetime,
    state: InvoiceState = InvoiceState.FINALIZED,
) -> int:
    """``per_period`` rows in ``state`` for each period (customers ``c0``…, invoice ids ``<period>-<n>``,
    attachment ``att-<period>-<n>``); each period finalized a minute after the previous one."""
    counter = sa.select(sa.literal(0).label("i")).cte("counter", recursive=True)
    counter = counter.union_all(sa.select(counter.c.i + 1).where(counter.c.i < per_period - 1))
    n = sa.cast(counter.c.i, sa.String)
    columns = ["customer_id", "period", "reference", "client_id", "invoice_id", "state", "total", "currency",
               "number", "finalized_at", "attachment_id", "updated_at"]  # fmt: skip
    with ledger.engine.begin() as connection:
        for offset, period in enumerate(periods):
            at = finalized_at + timedelta(minutes=offset)
            customer = sa.literal("c") + n
            rows = sa.select(
                customer,
                sa.literal(period),
                sa.literal(f"BP-{period}-c") + n,
                sa.literal("client-c") + n,
                sa.literal(f"{period}-") + n,
                sa.literal(state.value),
                sa.literal("24.00"),
                sa.literal("EUR"),
                sa.literal(f"F-{period}-") + n,
                sa.literal(at, sa.DateTime(timezone=True)),
                sa.literal(f"att-{period}-") + n,
                sa.literal(at, sa.DateTime(timezone=True)),
            )
            connection.execute(invoice_records.insert().from_select(columns, rows))
    return per_period * len(periods)
