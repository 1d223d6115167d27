"""Read-only ledger queries behind the read model, grouped and filtered in SQL.

Counts come from GROUP BY queries (a tick of a sensor reads a few rows per period, never every ledger
row); only the rows a caller acts on are loaded: the documents to probe, the deliveries to follow,
the rows ``bill`` prints. Each rule that needs a join or a subquery is one SQL expression below, used
by the counts and by the rows alike.
"""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import TypeVar

import sqlalchemy as sa

from billing_pipeline.invoicing.corrections.records import CorrectionState, correction_records
from billing_pipeline.invoicing.corrections.service import CREDITING_STATES
from billing_pipeline.invoicing.delivery.records import DeliveryRecord, DeliveryState, delivery_records
from billing_pipeline.invoicing.invoices.records import InvoiceState, invoice_from_row, invoice_records
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.progress.model import DeliveryWork, PeriodProgress, PeriodReport

_inv, _cor, _del = invoice_records.c, correction_records.c, delivery_records.c
S = TypeVar("S", bound=StrEnum)

# an invoice canceled by a credit note of ours: a correction, not a person's cancellation (Qonto invoice
# ids are unique, so the credit note's period need not be compared)
_CREDITED_BY_US = sa.and_(
    _inv.state == InvoiceState.CANCELED.value,
    _inv.invoice_id.in_(sa.select(_cor.corrects_invoice_id).where(_cor.state.in_([s.value for s in CREDITING_STATES]))),
)
# a person canceled it: the customer is not billed for the period
_NOT_BILLED = sa.and_(_inv.state == InvoiceState.CANCELED.value, sa.not_(_CREDITED_BY_US))
# the invoices of a period as reported: an abandoned row bills nothing, a credited one is reported
# with its credit note under "corrections"
_BILLED = sa.and_(_inv.state != InvoiceState.ABANDONED.value, sa.not_(_CREDITED_BY_US))
# a verified invoice and its delivery row, if any (an outer join: no row = not delivered yet)
_VERIFIED_AND_DELIVERY = invoice_records.outerjoin(delivery_records, _del.invoice_id == _inv.invoice_id)
_STORED = _inv.state == InvoiceState.STORED.value


def _in_period(column: sa.ColumnElement[str], period: str | None) -> list[sa.ColumnElement[bool]]:
    return [] if period is None else [column == period]


def _count_by_state(
    connection: sa.Connection, table: sa.Table, states: type[S], period: str | None, into: dict[str, dict[S, int]]
) -> None:
    """Rows of a stage's table counted per period and state (every stage's table has both columns)."""
    rows = connection.execute(
        sa.select(table.c.period, table.c.state, sa.func.count())
        .where(*_in_period(table.c.period, period))
        .group_by(table.c.period, table.c.state)
    )
    for key, state, count in rows:
        into[key][states(state)] = count


def progress_by_period(ledger: Ledger, *, delivering: bool, period: str | None = None) -> dict[str, PeriodProgress]:
    """Every period with a row in the ledger (or only ``period``): four GROUP BY queries and the (short)
    list of customers not billed."""
    invoices: dict[str, dict[InvoiceState, int]] = defaultdict(dict)
    not_billed: dict[str, list[str]] = defaultdict(list)
    credit_notes: dict[str, dict[CorrectionState, int]] = defaultdict(dict)
    deliveries: dict[str, dict[DeliveryState, int]] = defaultdict(dict)
    verified: dict[str, dict[DeliveryState | None, int]] = defaultdict(dict)
    with ledger.engine.connect() as connection:
        _count_by_state(connection, invoice_records, InvoiceState, period, invoices)
        rows = connection.execute(
            sa.select(_inv.period, _inv.customer_id)
            .where(_NOT_BILLED, *_in_period(_inv.period, period))
            .order_by(_inv.period, _inv.customer_id)
        )
        for key, customer_id in rows:
            not_billed[key].append(customer_id)
        _count_by_state(connection, correction_records, CorrectionState, period, credit_notes)
        _count_by_state(connection, delivery_records, DeliveryState, period, deliveries)
        rows = connection.execute(
            sa.select(_inv.period, _del.state, sa.func.count())
            .select_from(_VERIFIED_AND_DELIVERY)
            .where(_STORED, *_in_period(_inv.period, period))
            .group_by(_inv.period, _del.state)
        )
        for key, state, count in rows:
            verified[key][DeliveryState(state) if state is not None else None] = count
    periods = set(invoices) | set(credit_notes) | set(deliveries)
    return {
        key: PeriodProgress(
            period=key,
            delivering=delivering,
            invoices=dict(invoices[key]),
            # a canceled invoice is either credited by us or a customer not billed
            credited=invoices[key].get(InvoiceState.CANCELED, 0) - len(not_billed[key]),
            not_billed=tuple(not_billed[key]),
            credit_notes=dict(credit_notes[key]),
            deliveries=dict(deliveries[key]),
            verified=dict(verified[key]),
        )
        for key in sorted(periods)
    }


def period_progress(ledger: Ledger, period: str, *, delivering: bool) -> PeriodProgress:
    """One period's progress (an empty one when the ledger has nothing of it)."""
    found = progress_by_period(ledger, delivering=delivering, period=period)
    return found.get(period) or PeriodProgress(period=period, delivering=delivering)


def delivery_work(ledger: Ledger) -> DeliveryWork:
    """What the delivery sensor follows, across periods (each part filtered in SQL)."""
    resend: dict[str, list[DeliveryRecord]] = defaultdict(list)
    for record in ledger.deliveries(states={DeliveryState.RESEND}):
        resend[record.period].append(record)
    undelivered: dict[str, list[str]] = defaultdict(list)
    begun = sa.select(_del.period).distinct().scalar_subquery()
    query = (
        sa.select(_inv.period, _inv.invoice_id)
        .select_from(_VERIFIED_AND_DELIVERY)
        .where(_STORED, _del.invoice_id.is_(None), _inv.period.in_(begun))
        .order_by(_inv.period, _inv.customer_id)
    )
    with ledger.engine.connect() as connection:
        for key, invoice_id in connection.execute(query):
            undelivered[key].append(invoice_id)
    return DeliveryWork(
        submitted=ledger.deliveries(states={DeliveryState.SUBMITTED}),
        resend=dict(resend),
        undelivered=dict(undelivered),
    )


def period_report(ledger: Ledger, period: str) -> PeriodReport:
    """The rows ``bill`` prints for ``period``."""
    query = sa.select(invoice_records).where(_inv.period == period, _BILLED).order_by(_inv.period, _inv.customer_id)
    with ledger.engine.connect() as connection:
        invoices = [invoice_from_row(row) for row in connection.execute(query).mappings().all()]
    return PeriodReport(
        invoices=invoices,
        corrections=ledger.corrections(period),
        deliveries={d.invoice_id: d for d in ledger.deliveries(period)},
    )


def delivery_facts(ledger: Ledger, period: str | None = None) -> list[DeliveryRecord]:
    """Every delivery of the ledger (or of one period): channel, state, lifecycle events, last error."""
    return ledger.deliveries(period)
