"""The invoicing ledger: our durable memory of what we asked Qonto to do.

Qonto has no idempotency key on client or invoice endpoints, so before every create we write an
*intent* row here (committed before the HTTP call). A row left in ``creating`` means "a create may
have happened": the next run must find the object in Qonto before it may create again.
The ledger also enforces, in the database, one invoice per (customer, period) and one reference per
invoice. SQLite by default; any SQLAlchemy URL (PostgreSQL in production) works the same.

Invoice rows change state only through the typed transitions below (``record_draft``,
``record_finalized``, ``record_canceled`` …), each checked by the
``INVOICE`` state machine through the ledger kernel's one ``move``.
Timestamps that other writers compare with (intents) come from the database's clock, never from
the clock of the machine that happens to write: two machines whose clocks disagree still agree on
how old an intent is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from billing_pipeline.invoicing.clients.records import ClientLink, ClientLinks, ClientState, client_links
from billing_pipeline.invoicing.corrections.records import CorrectionLedger, CorrectionRecord, CorrectionState
from billing_pipeline.invoicing.delivery.records import DeliveryLedger
from billing_pipeline.invoicing.invoices.records import (
    FINAL_STATES,
    INVOICE,
    InvoiceRecord,
    InvoiceState,
    PlannedContent,
    invoice_from_row,
    invoice_records,
)
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.invoices.shared_listing import SharedListing, changes_margin
from billing_pipeline.invoicing.migrations import LEDGER_MIGRATIONS
from billing_pipeline.invoicing.payments.records import PaymentLedger
from billing_pipeline.invoicing.tables import IllegalTransition, LedgerConflict, metadata, period_rows
from billing_pipeline.ledger import DB_NOW, LedgerEngine, move, redacted, refresh

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
    """Every stage's records over one kernel engine (``billing_pipeline.ledger``): the schema of every
    table is created and upgraded in place when the ledger is opened (``LEDGER_MIGRATIONS``)."""

    def __init__(self, url: str, *, lock_dir: Path | None = None) -> None:
        self.url = url
        self.kernel = LedgerEngine(url, lock_dir=lock_dir, metadata=metadata, migrations=LEDGER_MIGRATIONS)
        self.engine = self.kernel.engine
        self._is_sqlite = self.kernel.is_sqlite

    def __repr__(self) -> str:
        return f"Ledger({redacted(self.url)!r})"

    def dispose(self) -> None:
        self.kernel.dispose()

    def now(self) -> datetime:
        """The ledger database's current time (UTC): the one clock every writer shares."""
        return self.kernel.now()

    def shared_listing(self, run_key: str | None, *, in_flight_grace_s: float) -> SharedListing | None:
        """The period listings the steps of run ``run_key`` share (None: each step lists for itself)."""
        if not run_key:
            return None
        return SharedListing(self.engine, run_key, self.now, changes_margin(in_flight_grace_s))

    @contextmanager
    def period_lock(self, period: str, *, timeout_s: float = 600) -> Iterator[None]:
        """Serialize writers of one billing period across processes and machines.

        A Dagster pool already serializes the steps; this lock makes the guarantee hold for any
        caller (two ``bill`` commands, a UI run and a cron run) whatever the instance config.
        """
        with self.kernel.lock(f"period:{period}", timeout_s=timeout_s):
            yield

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
        rows = period_rows(self.engine, invoice_records, ("period", "customer_id"), period, states)
        return [invoice_from_row(row) for row in rows]

    # -- invoices: typed transitions -------------------------------------------------------
    def record_invoice_intent(self, reference: InvoiceReference, client_id: str, *, reissue: bool = False) -> None:
        """Committed before an invoice create. ``reissue``: a new invoice replaces one a person canceled
        (only ever on an explicit setting)."""
        self._move(
            reference,
            InvoiceState.CREATING,
            {"client_id": client_id, "invoice_id": None, "intent_at": DB_NOW},
            also_from=frozenset({InvoiceState.CANCELED}) if reissue else frozenset(),
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
            "finalized_at": finalized_at,
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
                "finalized_at": finalized_at,
                "number": number,
                "checked_at": DB_NOW,
            },
        )

    def record_checked(self, reference: InvoiceReference) -> None:
        """We just looked at this pending invoice in Qonto (the sensor re-reads the longest unchecked)."""
        self._refresh(reference, FINAL_STATES, {"checked_at": DB_NOW})

    def record_stored(self, reference: InvoiceReference, *, file_path: str, sha256: str) -> None:
        self._move(reference, InvoiceState.STORED, {"file_path": file_path, "sha256": sha256, "last_error": None})

    def record_rejected(self, reference: InvoiceReference, *, problems: str) -> None:
        self._move(reference, InvoiceState.REJECTED, {"last_error": problems})

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
                "last_error": reason,
            },
        )

    def record_abandoned(self, reference: InvoiceReference, *, reason: str) -> None:
        """Nothing to bill any more under this reference (no live invoice of ours remains in Qonto)."""
        self._move(reference, InvoiceState.ABANDONED, {"invoice_id": None, "last_error": reason})

    def _move(
        self,
        reference: InvoiceReference,
        to: InvoiceState,
        values: dict[str, Any],
        *,
        also_from: frozenset[InvoiceState] = frozenset(),
        conflict: bool = False,
    ) -> None:
        move(
            self.engine,
            invoice_records,
            _key(reference),
            INVOICE,
            to,
            values,
            insert={"reference": str(reference)},
            also_from=also_from,
            conflict=conflict,
        )

    def _refresh(self, reference: InvoiceReference, states: frozenset[InvoiceState], values: dict[str, Any]) -> None:
        refresh(self.engine, invoice_records, _key(reference), INVOICE, values, states=states)


def _key(reference: InvoiceReference) -> dict[str, str]:
    return {"customer_id": reference.customer_id, "period": reference.period.key}
