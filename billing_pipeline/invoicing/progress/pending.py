"""The documents waiting for their Factur-X file, as the readiness probe needs them: O(periods) rows.

A sensor tick must not load every finalized row (10⁶ rows took a minute, the sensor's timeout). Per
period it needs only: how many are waiting and since when, an identity of the waiting set (the run
key: a new set gets a new collection run), and the few rows it may probe — the newest, the oldest
and the longest unchecked stale ones (``documents/readiness.py``). All of it is grouped and limited
in SQL: one GROUP BY for the whole ledger, then a bounded page of rows per period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa

from billing_pipeline.invoicing.corrections.records import (
    CorrectionRecord,
    CorrectionState,
    correction_from_row,
    correction_records,
)
from billing_pipeline.invoicing.documents.facturx_files import STALE_AFTER_S
from billing_pipeline.invoicing.documents.waiting import PendingDocuments, pending_fingerprint
from billing_pipeline.invoicing.invoices.records import InvoiceRecord, InvoiceState, invoice_from_row, invoice_records
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.tables import aware

_inv, _cor = invoice_records.c, correction_records.c
T = TypeVar("T")
# stale invoices a tick may re-read per period (readiness.MAX_REREADS_PER_PERIOD): the page holds them all
STALE_PAGE = 2
_WAITING = _inv.state == InvoiceState.FINALIZED.value
_ISSUED = _cor.state == CorrectionState.ISSUED.value
# Python's probe order treats a missing finalization time as "now" (the newest): so does the page
_NO_FINALIZATION = sa.case((_inv.finalized_at.is_(None), 1), else_=0)
# the last time we looked at a waiting invoice: its finalization or our last re-read, the later one
_LAST_LOOK = sa.case(
    (_inv.checked_at.is_(None), _inv.finalized_at),
    (_inv.finalized_at.is_(None), _inv.checked_at),
    (_inv.checked_at > _inv.finalized_at, _inv.checked_at),
    else_=_inv.finalized_at,
)
_NOTE_AGE = sa.func.coalesce(_cor.finalized_at, _cor.updated_at)


def _in_period(column: sa.ColumnElement[str], period: str | None) -> list[sa.ColumnElement[bool]]:
    return [] if period is None else [column == period]


def pending_documents(
    ledger: Ledger, period: str | None = None, now: datetime | None = None
) -> dict[str, PendingDocuments]:
    """Per period, the finalized invoices and issued credit notes without a stored Factur-X file:
    their counts and identity for the whole set, and the bounded page of rows the probe picks from."""
    now = now or datetime.now(UTC)
    found: dict[str, PendingDocuments] = {}
    with ledger.engine.connect() as connection:
        invoice_sets = connection.execute(
            sa.select(_inv.period, sa.func.count(), sa.func.min(_inv.finalized_at), sa.func.max(_inv.finalized_at))
            .where(_WAITING, *_in_period(_inv.period, period))
            .group_by(_inv.period)
        ).all()
        note_sets = connection.execute(
            sa.select(_cor.period, sa.func.count(), sa.func.min(_cor.reference), sa.func.max(_cor.reference))
            .where(_ISSUED, *_in_period(_cor.period, period))
            .group_by(_cor.period)
        ).all()
        notes_of = {key: (count, low, high) for key, count, low, high in note_sets}
        invoices_of = {key: (count, aware(low), aware(high)) for key, count, low, high in invoice_sets}
        for key in sorted(set(invoices_of) | set(notes_of)):
            count, oldest, newest = invoices_of.get(key, (0, None, None))
            note_count, first_note, last_note = notes_of.get(key, (0, None, None))
            found[key] = PendingDocuments(
                invoices=_invoice_page(connection, key, now) if count else [],
                credit_notes=_note_page(connection, key) if note_count else [],
                invoice_count=count,
                credit_note_count=note_count,
                oldest_finalized_at=oldest,
                fingerprint=pending_fingerprint(count, oldest, newest, note_count, first_note, last_note),
            )
    return found


def _invoice_page(connection: sa.Connection, period: str, now: datetime) -> list[InvoiceRecord]:
    """The newest and the oldest waiting invoice, and the STALE_PAGE looked at longest ago among the
    stale ones: a superset of what ``readiness._probes`` picks from the whole set."""
    waiting = sa.select(invoice_records).where(_WAITING, _inv.period == period)
    newest = waiting.order_by(_NO_FINALIZATION.desc(), _inv.finalized_at.desc(), _inv.customer_id.desc()).limit(1)
    oldest = waiting.order_by(_NO_FINALIZATION, _inv.finalized_at, _inv.customer_id).limit(1)
    stale = (
        waiting.where(_LAST_LOOK < now - timedelta(seconds=STALE_AFTER_S))
        .order_by(sa.func.coalesce(_inv.checked_at, _inv.finalized_at), _inv.customer_id)
        .limit(STALE_PAGE)
    )
    rows = [row for query in (newest, oldest, stale) for row in connection.execute(query).mappings()]
    return _unique((invoice_from_row(row) for row in rows), key=lambda r: r.customer_id)


def _note_page(connection: sa.Connection, period: str) -> list[CorrectionRecord]:
    """The oldest and the newest issued credit note (what ``corrections_ready`` probes)."""
    issued = sa.select(correction_records).where(_ISSUED, _cor.period == period)
    rows = [
        row
        for query in (
            issued.order_by(_NOTE_AGE, _cor.reference).limit(1),
            issued.order_by(_NOTE_AGE.desc(), _cor.reference.desc()).limit(1),
        )
        for row in connection.execute(query).mappings()
    ]
    return _unique((correction_from_row(row) for row in rows), key=lambda r: r.reference)


def _unique(records: Iterable[T], key: Callable[[T], str]) -> list[T]:
    seen: dict[str, T] = {}
    for record in records:
        seen.setdefault(key(record), record)
    return list(seen.values())
