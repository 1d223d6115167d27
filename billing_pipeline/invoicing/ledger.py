"""The invoicing ledger: our durable memory of what we asked Qonto to do.

Qonto has no idempotency key on client or invoice endpoints, so before every create we write an
*intent* row here (committed before the HTTP call). A row left in ``creating`` means "a create may
have happened": the next run must find the object in Qonto before it may create again.
The ledger also enforces, in the database, one invoice per (customer, period) and one reference per
invoice. SQLite by default; any SQLAlchemy URL (PostgreSQL in production) works the same.

Invoice rows change state only through the typed transitions below (``record_draft``,
``record_finalized``, ``record_canceled`` …), each checked against ``INVOICE_TRANSITIONS``.
Timestamps that other writers compare with (intents) come from the database's clock, never from
the clock of the machine that happens to write: two machines whose clocks disagree still agree on
how old an intent is.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from filelock import FileLock

from billing_pipeline.invoicing.clients.records import ClientLink, ClientLinks, ClientState, client_links
from billing_pipeline.invoicing.corrections.records import CorrectionLedger, CorrectionRecord, CorrectionState
from billing_pipeline.invoicing.delivery.records import DeliveryLedger
from billing_pipeline.invoicing.invoices.records import (
    FINAL_STATES,
    INVOICE_TRANSITIONS,
    InvoiceRecord,
    InvoiceState,
    PlannedContent,
    invoice_from_row,
    invoice_records,
)
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger_clock import db_now as _db_now
from billing_pipeline.invoicing.payments.records import PaymentLedger
from billing_pipeline.invoicing.tables import IllegalTransition, LedgerConflict, add_missing_columns, metadata, utc

__all__ = [
    "FINAL_STATES",
    "ClientLink",
    "ClientState",
    "CorrectionRecord",
    "CorrectionState",
    "IllegalTransition",
    "InvoiceRecord",
    "InvoiceState",
    "Ledger",
    "LedgerConflict",
    "PlannedContent",
    "client_links",
    "invoice_records",
]


class Ledger(ClientLinks, CorrectionLedger, DeliveryLedger, PaymentLedger):
    def __init__(self, url: str, *, lock_dir: Path | None = None) -> None:
        self.url = url
        self._is_sqlite = url.startswith("sqlite")
        connect_args: dict[str, Any] = {}
        if self._is_sqlite:
            path = url.removeprefix("sqlite:///")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            connect_args = {"timeout": 30}
            self._lock_dir = lock_dir or Path(path).parent / "locks"
        else:
            self._lock_dir = lock_dir or Path(".state") / "locks"
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if self._is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            with self.engine.begin() as connection:
                metadata.create_all(connection)
                add_missing_columns(connection)
        else:
            # several processes may create the schema at once on an empty database: take turns
            with self.engine.begin() as connection:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                metadata.create_all(connection)
                add_missing_columns(connection)

    def __repr__(self) -> str:
        return f"Ledger({self.engine.url.render_as_string(hide_password=True)!r})"

    def dispose(self) -> None:
        self.engine.dispose()

    # -- the database's clock --------------------------------------------------------------
    def now(self) -> datetime:
        """The ledger database's current time (UTC): the one clock every writer shares."""
        with self.engine.connect() as connection:
            return _db_now(connection)

    # -- mutual exclusion ------------------------------------------------------------------
    @contextmanager
    def period_lock(self, period: str, *, timeout_s: float = 600) -> Iterator[None]:
        """Serialize writers of one billing period across processes and machines.

        A Dagster pool already serializes the steps; this lock makes the guarantee hold for any
        caller (two ``bill`` commands, a UI run and a cron run) whatever the instance config.
        """
        if self._is_sqlite:
            self._lock_dir.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self._lock_dir / f"period-{period}.lock"), timeout=timeout_s):
                yield
            return
        key = _lock_key(f"billing-period:{period}")
        deadline = time.monotonic() + timeout_s
        with self.engine.connect() as connection:
            while not connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"period {period} stayed locked by another writer for {timeout_s:.0f} s")
                time.sleep(0.2)
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    @contextmanager
    def clients_lock(self, *, timeout_s: float = 600) -> Iterator[None]:
        """Clients are shared by every period: creating them is serialized across all periods."""
        with self.period_lock("clients", timeout_s=timeout_s):
            yield

    # -- invoices: reads -------------------------------------------------------------------
    def invoice(self, customer_id: str, period: str) -> InvoiceRecord | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(invoice_records).where(
                        invoice_records.c.customer_id == customer_id, invoice_records.c.period == period
                    )
                )
                .mappings()
                .first()
            )
        return invoice_from_row(row) if row else None

    def invoices(self, period: str | None = None, states: set[InvoiceState] | None = None) -> list[InvoiceRecord]:
        query = sa.select(invoice_records).order_by(invoice_records.c.period, invoice_records.c.customer_id)
        if period is not None:
            query = query.where(invoice_records.c.period == period)
        if states:
            query = query.where(invoice_records.c.state.in_([s.value for s in states]))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [invoice_from_row(row) for row in rows]

    # -- invoices: typed transitions -------------------------------------------------------
    def record_invoice_intent(self, reference: InvoiceReference, client_id: str, *, reissue: bool = False) -> None:
        """Committed before an invoice create. ``reissue``: a new invoice replaces one a person canceled
        (only ever on an explicit setting)."""
        allowed = INVOICE_TRANSITIONS[InvoiceState.CREATING] | ({InvoiceState.CANCELED} if reissue else set())
        self._move(
            reference,
            InvoiceState.CREATING,
            {"client_id": client_id, "invoice_id": None, "intent_at": _DB_NOW},
            allowed=allowed,
            conflict=True,
        )

    def record_draft(
        self, reference: InvoiceReference, *, invoice_id: str, client_id: str, content: PlannedContent
    ) -> None:
        """A draft of ours exists in Qonto and holds ``content`` (created, adopted or updated)."""
        self._move(
            reference,
            InvoiceState.DRAFT,
            {"invoice_id": invoice_id, "client_id": client_id, "last_error": None, **content.columns()},
        )

    def record_finalized(
        self,
        reference: InvoiceReference,
        *,
        invoice_id: str,
        client_id: str | None,
        number: str | None,
        finalized_at: datetime | None,
        attachment_id: str | None,
        content: PlannedContent | None = None,
    ) -> None:
        """Qonto numbered the invoice. A stored or rejected file keeps its state (only facts refresh)."""
        values: dict[str, Any] = {
            "invoice_id": invoice_id,
            "number": number,
            "finalized_at": utc(finalized_at),
            "attachment_id": attachment_id,
        }
        if client_id:
            values["client_id"] = client_id
        if content is not None:
            values.update(content.columns())
        record = self.invoice(reference.customer_id, reference.period.key)
        if record is not None and record.state in (InvoiceState.STORED, InvoiceState.REJECTED):
            self._move(reference, record.state, values)
        else:
            self._move(reference, InvoiceState.FINALIZED, values)

    def record_attachment(
        self,
        reference: InvoiceReference,
        *,
        attachment_id: str | None,
        finalized_at: datetime | None,
        number: str | None,
    ) -> None:
        """Facts re-read from Qonto for a numbered invoice (its state does not change)."""
        self._refresh(
            reference,
            FINAL_STATES,
            {
                "attachment_id": attachment_id,
                "finalized_at": utc(finalized_at),
                "number": number,
                "checked_at": _DB_NOW,
            },
        )

    def record_checked(self, reference: InvoiceReference) -> None:
        """We just looked at this pending invoice in Qonto (the sensor re-reads the longest unchecked)."""
        self._refresh(reference, FINAL_STATES, {"checked_at": _DB_NOW})

    def record_stored(self, reference: InvoiceReference, *, file_path: str, sha256: str) -> None:
        self._move(reference, InvoiceState.STORED, {"file_path": file_path, "sha256": sha256, "last_error": None})

    def record_rejected(self, reference: InvoiceReference, *, problems: str) -> None:
        self._move(reference, InvoiceState.REJECTED, {"last_error": problems[:4000]})

    def record_canceled(self, reference: InvoiceReference, *, invoice_id: str, number: str | None, reason: str) -> None:
        """A person canceled this invoice in Qonto: the customer is not billed for the period."""
        record = self.invoice(reference.customer_id, reference.period.key)
        canceled = record.canceled_ids() if record else []
        if invoice_id not in canceled:
            canceled.append(invoice_id)
        self._move(
            reference,
            InvoiceState.CANCELED,
            {
                "invoice_id": invoice_id,
                "number": number,
                "canceled_invoice_ids": json.dumps(canceled),
                "last_error": reason[:4000],
            },
        )

    def record_abandoned(self, reference: InvoiceReference, *, reason: str) -> None:
        """Nothing to bill any more under this reference (no live invoice of ours remains in Qonto)."""
        self._move(reference, InvoiceState.ABANDONED, {"invoice_id": None, "last_error": reason[:4000]})

    def _move(
        self,
        reference: InvoiceReference,
        to: InvoiceState,
        values: dict[str, Any],
        *,
        allowed: frozenset[InvoiceState | None] | set[InvoiceState | None] | None = None,
        conflict: bool = False,
    ) -> None:
        allowed = INVOICE_TRANSITIONS[to] if allowed is None else allowed
        customer_id, period = reference.customer_id, reference.period.key
        where = (invoice_records.c.customer_id == customer_id, invoice_records.c.period == period)
        with self.engine.begin() as connection:
            now = _db_now(connection)
            values = {key: (now if value is _DB_NOW else value) for key, value in values.items()}
            query = sa.select(invoice_records.c.state).where(*where)
            if not self._is_sqlite:
                query = query.with_for_update()
            row = connection.execute(query).first()
            current = InvoiceState(row.state) if row is not None else None
            if current not in allowed:
                if conflict and current is not None:
                    raise LedgerConflict(
                        f"an invoice for customer {customer_id} and period {period} already exists ({current.value})"
                    )
                raise IllegalTransition(
                    f"invoice {reference} is {current.value if current else 'not in the ledger'}: "
                    f"it cannot become {to.value}"
                )
            if row is None:
                connection.execute(
                    sa.insert(invoice_records).values(
                        customer_id=customer_id,
                        period=period,
                        reference=str(reference),
                        state=to.value,
                        updated_at=now,
                        **values,
                    )
                )
            else:
                connection.execute(
                    sa.update(invoice_records).where(*where).values(state=to.value, updated_at=now, **values)
                )

    def _refresh(self, reference: InvoiceReference, states: frozenset[InvoiceState], values: dict[str, Any]) -> None:
        where = (
            invoice_records.c.customer_id == reference.customer_id,
            invoice_records.c.period == reference.period.key,
        )
        with self.engine.begin() as connection:
            now = _db_now(connection)
            values = {key: (now if value is _DB_NOW else value) for key, value in values.items()}
            updated = connection.execute(
                sa.update(invoice_records)
                .where(*where, invoice_records.c.state.in_([s.value for s in states]))
                .values(**values)
            ).rowcount
        if not updated:
            raise IllegalTransition(f"invoice {reference} is not numbered in the ledger: nothing to refresh")


_DB_NOW = object()  # placeholder: "the database's clock, read inside the transaction"


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_SCHEMA_LOCK_KEY = _lock_key("billing-ledger-schema")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
