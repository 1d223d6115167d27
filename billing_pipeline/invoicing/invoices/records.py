"""The invoice row: its table, its stored states and transitions, and the record read back from it.

Every stored state is a member of a StrEnum and every change of state goes through one of the
typed transitions of ``Ledger`` (``ledger.py``), checked against ``INVOICE_TRANSITIONS``: a row
cannot be moved to a state its history does not allow.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.tables import from_row, metadata
from billing_pipeline.ledger import DecimalString, Money, StateMachine

QONTO_CURRENCY = "EUR"  # Qonto invoices in euros only

invoice_records = sa.Table(
    "invoice_records",
    metadata,
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("reference", sa.String(260), nullable=False, unique=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("invoice_id", sa.String(64), nullable=True, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("content_digest", sa.String(64), nullable=True),
    sa.Column("net_total", DecimalString(), nullable=True),
    sa.Column("vat_total", DecimalString(), nullable=True),
    sa.Column("total", DecimalString(), nullable=True),
    sa.Column("number", sa.String(64), nullable=True),
    sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attachment_id", sa.String(64), nullable=True),
    sa.Column("file_path", sa.String(1024), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    # added after the first release (added in place by the ledger's schema upgrade)
    sa.Column("expected_lines", sa.Text, nullable=True),  # JSON: the lines we finalized, for the Factur-X check
    sa.Column("buyer_siren", sa.String(9), nullable=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),  # last re-read from Qonto while pending
    sa.Column("canceled_invoice_ids", sa.Text, nullable=True),  # JSON list: invoices a person canceled
    sa.Column("expected_mentions", sa.Text, nullable=True),  # JSON: the mandatory mentions asked of Qonto
    # the currency of the amounts above (ledger migration 2 fills it in on older rows: Qonto bills in EUR)
    sa.Column("currency", sa.String(3), nullable=True),
    # the database, not our code, guarantees one invoice per customer and period
    sa.PrimaryKeyConstraint("customer_id", "period", name="pk_invoice_per_customer_period"),
    # the read model's counts per period and state, and the attachment sensor's page of the oldest and
    # newest waiting invoices, read from this index instead of every row (ledger migration 3)
    sa.Index("ix_invoice_records_period_state_finalized", "period", "state", "finalized_at"),
)


class InvoiceState(StrEnum):
    CREATING = "creating"  # intent written, create call may or may not have reached Qonto
    DRAFT = "draft"
    FINALIZED = "finalized"  # numbered by Qonto, waiting for its Factur-X file
    STORED = "stored"  # Factur-X downloaded, verified and stored
    REJECTED = "rejected"  # the downloaded file failed verification (see last_error)
    CANCELED = "canceled"  # a person canceled the invoice in Qonto: the customer is NOT billed
    ABANDONED = "abandoned"  # nothing to bill any more (customer no longer planned, or draft deleted)


S = InvoiceState
# to-state -> the states it may be reached from (None: no row yet, e.g. adopting after a lost ledger)
INVOICE_TRANSITIONS: dict[InvoiceState, frozenset[InvoiceState | None]] = {
    S.CREATING: frozenset({None, S.CREATING, S.ABANDONED}),  # + CANCELED, only for an explicit re-issue
    S.DRAFT: frozenset({None, S.CREATING, S.DRAFT, S.ABANDONED}),
    S.FINALIZED: frozenset({None, S.CREATING, S.DRAFT, S.FINALIZED, S.ABANDONED}),
    S.STORED: frozenset({S.FINALIZED, S.REJECTED, S.STORED}),
    S.REJECTED: frozenset({S.FINALIZED, S.REJECTED}),
    S.CANCELED: frozenset({None, S.CREATING, S.DRAFT, S.FINALIZED, S.STORED, S.REJECTED, S.CANCELED}),
    S.ABANDONED: frozenset({S.CREATING, S.DRAFT, S.ABANDONED}),
}
FINAL_STATES = frozenset({S.FINALIZED, S.STORED, S.REJECTED})  # numbered by Qonto, immutable
INVOICE = StateMachine("invoice", InvoiceState, INVOICE_TRANSITIONS, final=FINAL_STATES)


class ExpectedLine(BaseModel):
    """One line as finalized, kept to compare the Factur-X XML with (Decimal strings on disk)."""

    model_config = ConfigDict(frozen=True)
    title: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    net_amount: Decimal
    description: str = ""
    unit: str | None = None
    vat_exemption_reason: str | None = None
    # the item discount (coupons) in cents: net_amount = round(quantity × unit_price) − discount;
    # None (rows written before discounts existed, and undiscounted lines) is no discount
    discount: Decimal | None = None

    def stored(self) -> dict[str, Any]:
        # the discount key only when there is one: undiscounted lines keep the JSON they always had
        return self.model_dump(mode="json", exclude={"discount"} if self.discount is None else None)


class PlannedContent(BaseModel):
    """What we asked Qonto to bill on one invoice: digest, totals, lines, buyer."""

    model_config = ConfigDict(frozen=True)
    digest: str
    net_total: Decimal
    vat_total: Decimal
    total: Decimal
    lines: tuple[ExpectedLine, ...] = ()
    buyer_siren: str | None = None
    mentions: dict[str, str] | None = None  # the invoice `settings` we sent (billing/mentions.py)
    currency: str = QONTO_CURRENCY

    def columns(self) -> dict[str, Any]:
        return {
            "content_digest": self.digest,
            "net_total": self.net_total,
            "vat_total": self.vat_total,
            "total": self.total,
            "currency": self.currency,
            "expected_lines": json.dumps([line.stored() for line in self.lines]),
            "buyer_siren": self.buyer_siren,
            "expected_mentions": json.dumps(self.mentions) if self.mentions is not None else None,
        }


class InvoiceRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer_id: str
    period: str
    reference: str
    client_id: str | None
    invoice_id: str | None
    state: InvoiceState
    content_digest: str | None
    # amounts cross the record boundary typed: exact Decimal and the currency it is in
    net_total: Money | None
    vat_total: Money | None
    total: Money | None
    number: str | None
    finalized_at: datetime | None
    attachment_id: str | None
    file_path: str | None
    sha256: str | None
    intent_at: datetime | None
    updated_at: datetime
    last_error: str | None
    expected_lines: str | None = None
    buyer_siren: str | None = None
    checked_at: datetime | None = None
    canceled_invoice_ids: str | None = None
    expected_mentions: str | None = None
    currency: str = QONTO_CURRENCY

    @property
    def billing_period(self) -> BillingPeriod:
        return BillingPeriod.parse(self.period)

    @property
    def invoice_reference(self) -> InvoiceReference:
        return InvoiceReference.parse(self.reference)

    def expected(self) -> list[ExpectedLine] | None:
        if not self.expected_lines:
            return None
        return [ExpectedLine.model_validate(line) for line in json.loads(self.expected_lines)]

    def canceled_ids(self) -> list[str]:
        return json.loads(self.canceled_invoice_ids) if self.canceled_invoice_ids else []

    def mentions(self) -> dict[str, str] | None:
        return json.loads(self.expected_mentions) if self.expected_mentions else None


def invoice_from_row(row: Any) -> InvoiceRecord:
    data = dict(row)
    currency = data["currency"] = data.get("currency") or QONTO_CURRENCY
    for amount in ("net_total", "vat_total", "total"):
        data[amount] = None if data[amount] is None else Money(amount=data[amount], currency=currency)
    return from_row(InvoiceRecord, data, ("finalized_at", "intent_at", "updated_at", "checked_at"))
