"""The ledger's numbered schema migrations, in order (run by ``billing_pipeline.ledger.migrate``).

Version 1 is the schema of release a86cc62, the last one without a version table: a ledger it wrote
is adopted as version 1 and upgraded from there. Every table gets its missing *nullable* columns by
itself, with no entry here; an entry is needed for anything else — filling a new column of older
rows, a constraint, an index — and takes the next number. Each migration runs inside the upgrade's
transaction and must be idempotent on the rows it touches.
"""

from __future__ import annotations

import sqlalchemy as sa

from billing_pipeline.invoicing.corrections.records import correction_records
from billing_pipeline.invoicing.invoices.records import QONTO_CURRENCY, invoice_records
from billing_pipeline.ledger import Migration


def _currency_of_earlier_amounts(connection: sa.Connection) -> None:
    """Version 2: amounts carry their currency. Every earlier amount was billed by Qonto, in euros."""
    for table in (invoice_records, correction_records):
        connection.execute(sa.update(table).where(table.c.currency.is_(None)).values(currency=QONTO_CURRENCY))


def _index_invoices_by_period_and_state(connection: sa.Connection) -> None:
    """Version 3: a sensor tick reads counts per period and state and a page of rows per period from an
    index, not every row (10⁶ rows: a minute without it). ``checkfirst``: idempotent."""
    for index in invoice_records.indexes:
        index.create(connection, checkfirst=True)


LEDGER_MIGRATIONS: dict[int, Migration] = {
    2: _currency_of_earlier_amounts,
    3: _index_invoices_by_period_and_state,
}
