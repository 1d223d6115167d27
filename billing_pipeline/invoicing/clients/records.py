"""The ledger's client links: one Qonto client per customer, never shared (a mixin of ``Ledger``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from billing_pipeline.invoicing.tables import LedgerConflict, from_row, metadata
from billing_pipeline.ledger import DB_NOW, StateMachine, move, write_transaction

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


CLIENT = StateMachine(
    "client link",
    ClientState,
    {
        ClientState.CREATING: frozenset({None, ClientState.CREATING}),
        # adopting a client found in Qonto (no intent of ours) links it directly
        ClientState.LINKED: frozenset({None, ClientState.CREATING, ClientState.LINKED}),
    },
    final=frozenset({ClientState.LINKED}),
)


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
        move(
            self.engine,
            client_links,
            {"customer_id": customer_id},
            CLIENT,
            ClientState.CREATING,
            {"intent_at": DB_NOW},
            insert={
                "client_id": None,
                "email": email,
                "customer_digest": customer_digest,
                "tax_identification_number": tax_identification_number,
                "vat_number": vat_number,
            },
            conflict=True,
        )

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
        with write_transaction(self.engine) as connection:
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
                "tax_identification_number": tax_identification_number,
                "vat_number": vat_number,
            }
            move(connection, client_links, {"customer_id": customer_id}, CLIENT, ClientState.LINKED, values)
