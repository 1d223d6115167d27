"""The ledger's correction documents (a mixin of ``Ledger``): intent before create, then issued, stored."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from billing_pipeline.invoicing.invoices.records import QONTO_CURRENCY
from billing_pipeline.invoicing.tables import from_row, metadata, period_rows
from billing_pipeline.ledger import DB_NOW, DecimalString, Money, StateMachine, move

# corrections after finalization: one row per correction document (a credit note today), keyed by a
# deterministic reference; the intent is committed before the create, like invoices
correction_records = sa.Table(
    "correction_records",
    metadata,
    sa.Column("reference", sa.String(300), primary_key=True),
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("corrects_invoice_id", sa.String(64), nullable=False),
    sa.Column("corrects_number", sa.String(64), nullable=True),
    sa.Column("qonto_id", sa.String(64), nullable=True, unique=True),
    sa.Column("number", sa.String(64), nullable=True),
    sa.Column("total", DecimalString(), nullable=True),  # signed: negative for a credit note
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attachment_id", sa.String(64), nullable=True),
    sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("file_path", sa.String(1024), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),  # of ``total`` (migration 2 fills in older rows)
)


class CorrectionState(StrEnum):
    CREATING = "creating"  # intent written, the create may or may not have reached Qonto
    ISSUED = "issued"  # in Qonto, numbered; waiting for its Factur-X file
    STORED = "stored"
    REJECTED = "rejected"


class CorrectionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    reference: str
    customer_id: str
    period: str
    kind: str
    corrects_invoice_id: str
    corrects_number: str | None
    qonto_id: str | None
    number: str | None
    total: Money | None  # signed: negative for a credit note
    state: CorrectionState
    attachment_id: str | None
    finalized_at: datetime | None
    file_path: str | None
    sha256: str | None
    intent_at: datetime | None
    updated_at: datetime
    last_error: str | None
    currency: str = QONTO_CURRENCY


def correction_from_row(row: Any) -> CorrectionRecord:
    data = dict(row)
    currency = data["currency"] = data.get("currency") or QONTO_CURRENCY
    data["total"] = None if data["total"] is None else Money(amount=data["total"], currency=currency)
    return from_row(CorrectionRecord, data, ("finalized_at", "intent_at", "updated_at"))


CORRECTION = StateMachine(
    "correction",
    CorrectionState,
    {
        CorrectionState.CREATING: frozenset({None, CorrectionState.CREATING}),
        CorrectionState.ISSUED: frozenset({CorrectionState.CREATING, CorrectionState.ISSUED}),
        CorrectionState.STORED: frozenset({CorrectionState.ISSUED, CorrectionState.REJECTED, CorrectionState.STORED}),
        CorrectionState.REJECTED: frozenset({CorrectionState.ISSUED, CorrectionState.REJECTED}),
    },
    final=frozenset({CorrectionState.STORED, CorrectionState.REJECTED}),
)


class CorrectionLedger:
    engine: sa.Engine

    def corrections(
        self, period: str | None = None, states: set[CorrectionState] | None = None
    ) -> list[CorrectionRecord]:
        rows = period_rows(self.engine, correction_records, ("period", "reference"), period, states)
        return [correction_from_row(row) for row in rows]

    def record_correction_intent(
        self, reference: str, *, customer_id: str, period: str, kind: str, corrects_invoice_id: str,
        corrects_number: str | None,
    ) -> None:  # fmt: skip
        self._move_correction(
            reference,
            CorrectionState.CREATING,
            {"intent_at": DB_NOW},
            insert={
                "customer_id": customer_id,
                "period": period,
                "kind": kind,
                "corrects_invoice_id": corrects_invoice_id,
                "corrects_number": corrects_number,
            },
        )

    def record_correction_issued(
        self, reference: str, *, qonto_id: str, number: str | None, total: Money | None,
        attachment_id: str | None, finalized_at: datetime | None,
    ) -> None:  # fmt: skip
        self._move_correction(
            reference,
            CorrectionState.ISSUED,
            {
                "qonto_id": qonto_id,
                "number": number,
                "total": total.amount if total is not None else None,
                "currency": total.currency if total is not None else None,
                "attachment_id": attachment_id,
                "finalized_at": finalized_at,
            },
        )

    def record_correction_stored(self, reference: str, *, file_path: str, sha256: str) -> None:
        self._move_correction(
            reference, CorrectionState.STORED, {"file_path": file_path, "sha256": sha256, "last_error": None}
        )

    def record_correction_rejected(self, reference: str, *, problems: str) -> None:
        self._move_correction(reference, CorrectionState.REJECTED, {"last_error": problems})

    def _move_correction(
        self, reference: str, to: CorrectionState, values: dict[str, Any], *, insert: dict[str, Any] | None = None
    ) -> None:
        move(self.engine, correction_records, {"reference": reference}, CORRECTION, to, values, insert=insert)
