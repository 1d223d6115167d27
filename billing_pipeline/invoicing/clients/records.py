"""The ledger's client links: one Qonto client per customer, never shared (a mixin of ``Ledger``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from billing_pipeline.invoicing.ledger_clock import db_now as _db_now
from billing_pipeline.invoicing.tables import LedgerConflict, from_row, metadata

client_links = sa.Table(
    "client_links",
    metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=True, unique=True),
    # the email the client was (or is being) created with: searched again after a lost create
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("customer_digest", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # identifiers of the intent, searched before any create (added after the first release)
    sa.Column("tax_identification_number", sa.String(30), nullable=True),
    sa.Column("vat_number", sa.String(32), nullable=True),
)


class ClientState(StrEnum):
    CREATING = "creating"  # intent written, create call may or may not have reached Qonto
    LINKED = "linked"


class ClientLink(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer_id: str
    client_id: str | None
    email: str
    customer_digest: str
    state: ClientState
    intent_at: datetime | None
    updated_at: datetime
    tax_identification_number: str | None = None
    vat_number: str | None = None


def client_from_row(row: Any) -> ClientLink:
    return from_row(ClientLink, row, ("intent_at", "updated_at"))


class ClientLinks:
    engine: sa.Engine

    def client_link(self, customer_id: str) -> ClientLink | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(sa.select(client_links).where(client_links.c.customer_id == customer_id))
                .mappings()
                .first()
            )
        return client_from_row(row) if row else None

    def client_links(self) -> dict[str, ClientLink]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(client_links)).mappings().all()
        return {row["customer_id"]: client_from_row(row) for row in rows}

    def record_client_intent(
        self,
        customer_id: str,
        email: str,
        customer_digest: str,
        *,
        tax_identification_number: str | None = None,
        vat_number: str | None = None,
    ) -> None:
        """Committed before a client create. A retried intent keeps the identifiers of every attempt's
        email in mind: the first attempt's email is kept (a lost create may have used it)."""
        with self.engine.begin() as connection:
            now = _db_now(connection)
            existing = connection.execute(
                sa.select(client_links.c.state).where(client_links.c.customer_id == customer_id)
            ).first()
            identifiers = {"tax_identification_number": tax_identification_number, "vat_number": vat_number}
            if existing is None:
                connection.execute(
                    sa.insert(client_links).values(
                        customer_id=customer_id,
                        client_id=None,
                        email=email,
                        customer_digest=customer_digest,
                        state=ClientState.CREATING.value,
                        intent_at=now,
                        updated_at=now,
                        **identifiers,
                    )
                )
            elif existing.state == ClientState.CREATING.value:
                connection.execute(
                    sa.update(client_links)
                    .where(client_links.c.customer_id == customer_id)
                    .values(intent_at=now, updated_at=now)
                )
            else:
                raise LedgerConflict(f"customer {customer_id} is already linked to a Qonto client")

    def link_client(
        self,
        customer_id: str,
        client_id: str,
        email: str,
        customer_digest: str,
        *,
        tax_identification_number: str | None = None,
        vat_number: str | None = None,
    ) -> None:
        with self.engine.begin() as connection:
            owner = connection.execute(
                sa.select(client_links.c.customer_id).where(client_links.c.client_id == client_id)
            ).scalar()
            if owner is not None and owner != customer_id:
                raise LedgerConflict(
                    f"Qonto client {client_id} is already linked to customer {owner}; "
                    f"it cannot also be customer {customer_id}'s"
                )
            values = {
                "client_id": client_id,
                "email": email,
                "customer_digest": customer_digest,
                "state": ClientState.LINKED.value,
                "updated_at": _db_now(connection),
                "tax_identification_number": tax_identification_number,
                "vat_number": vat_number,
            }
            updated = connection.execute(
                sa.update(client_links).where(client_links.c.customer_id == customer_id).values(**values)
            ).rowcount
            if not updated:
                connection.execute(sa.insert(client_links).values(customer_id=customer_id, intent_at=None, **values))
