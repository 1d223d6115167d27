"""Find-or-create one Qonto client per customer, without ever creating two.

Qonto has no uniqueness rule on clients and no idempotency key, so: the ledger link wins; without a
link we search Qonto (by email, confirmed by SIREN/SIRET or name) before creating; an intent row is
committed before the create call; a create whose response was lost is resolved by searching again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import BaseModel

from billing_pipeline.billing.models import Customer
from billing_pipeline.invoicing.in_flight import IN_FLIGHT_GRACE_S, wait_out_creates_in_flight
from billing_pipeline.invoicing.ledger import ClientState, Ledger
from billing_pipeline.invoicing.payloads import client_create, client_update, customer_digest
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.errors import QontoAmbiguousWriteError
from billing_pipeline.qonto.models import Client

log = logging.getLogger(__name__)

ClientAction = Literal["unchanged", "updated", "found", "created"]


class ClientOutcome(BaseModel):
    customer_id: str
    client_id: str
    action: ClientAction


class UnresolvedClientCreate(RuntimeError):
    """A create whose outcome is unknown and that a search could not find yet: retry the step."""


def _same_customer(client: Client, customer: Customer) -> bool:
    if (client.email or "").casefold() != customer.email.casefold():
        return False
    if customer.tax_identification_number and client.tax_identification_number:
        return client.tax_identification_number == customer.tax_identification_number
    if customer.kind == "company":
        return (client.name or "").casefold() == (customer.name or "").casefold()
    full_name = f"{client.first_name or ''} {client.last_name or ''}".strip().casefold()
    return full_name == f"{customer.first_name or ''} {customer.last_name or ''}".strip().casefold()


async def find_client(qonto: QontoClient, customer: Customer) -> Client | None:
    candidates = [c async for c in qonto.iter_clients(email=customer.email) if _same_customer(c, customer)]
    if not candidates:
        return None
    if len(candidates) > 1:
        # Someone created duplicates outside the pipeline; stay deterministic and say so.
        log.warning("customer %s matches %d Qonto clients; using the oldest", customer.customer_id, len(candidates))
    return min(candidates, key=lambda c: (c.created_at is None, c.created_at, c.id))


async def _ensure_client(qonto: QontoClient, ledger: Ledger, customer: Customer) -> ClientOutcome:
    digest = customer_digest(customer)
    link = ledger.client_link(customer.customer_id)
    if link is not None and link.state == ClientState.LINKED and link.client_id:
        if link.customer_digest == digest:
            return ClientOutcome(customer_id=customer.customer_id, client_id=link.client_id, action="unchanged")
        await qonto.update_client(link.client_id, client_update(customer))
        ledger.link_client(customer.customer_id, link.client_id, customer.email, digest)
        return ClientOutcome(customer_id=customer.customer_id, client_id=link.client_id, action="updated")

    found = await find_client(qonto, customer)
    if found is not None:
        ledger.link_client(customer.customer_id, found.id, customer.email, digest)
        if link is None or link.customer_digest != digest:
            await qonto.update_client(found.id, client_update(customer))
        return ClientOutcome(customer_id=customer.customer_id, client_id=found.id, action="found")

    ledger.record_client_intent(customer.customer_id, customer.email, digest)
    try:
        created = await qonto.create_client(client_create(customer))
    except QontoAmbiguousWriteError:
        found = await find_client(qonto, customer)
        if found is None:
            raise UnresolvedClientCreate(
                f"creating the Qonto client of customer {customer.customer_id} had an unknown outcome and "
                "it is not visible in Qonto yet; the ledger keeps the intent, re-run the step"
            ) from None
        created = found
    ledger.link_client(customer.customer_id, created.id, customer.email, digest)
    return ClientOutcome(customer_id=customer.customer_id, client_id=created.id, action="created")


async def ensure_clients(
    qonto: QontoClient, ledger: Ledger, customers: list[Customer], *, in_flight_grace_s: float = IN_FLIGHT_GRACE_S
) -> list[ClientOutcome]:
    """One Qonto client per customer. Serialized across processes by the ledger's clients lock."""
    with ledger.clients_lock():
        wanted = {c.customer_id for c in customers}
        intents = [
            link.intent_at
            for link in ledger.client_links().values()
            if link.customer_id in wanted and link.state == ClientState.CREATING and link.intent_at is not None
        ]
        await wait_out_creates_in_flight(intents, in_flight_grace_s, "client")
        results = await asyncio.gather(
            *(_ensure_client(qonto, ledger, customer) for customer in customers), return_exceptions=True
        )
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise failures[0]
    return [r for r in results if isinstance(r, ClientOutcome)]
