"""Find-or-create one Qonto client per customer, without ever creating two.

Qonto has no uniqueness rule on clients and no idempotency key, so: the ledger link wins; without a
link we search Qonto before creating; an intent row is committed before the create call; a create
whose response was lost is resolved by searching again.

Identity: official identifiers decide first — the SIREN/SIRET (``tax_identification_number``) and
the VAT number: when both sides carry one and they differ, it is another company, whatever the
email and name say (subsidiaries often share one accounting mailbox and one trading name). Only
without identifiers do email + name decide. A client already linked to another customer is never
adopted. Searches use every identifier the recorded intent holds (the email a lost create was sent
with may differ from today's).
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel

from billing_pipeline.billing.models import Customer
from billing_pipeline.invoicing.clients.directory import ClientDirectory
from billing_pipeline.invoicing.errors import InvoicingError, UnresolvedCreate, successes_or_raise
from billing_pipeline.invoicing.fan_out import gather_customers
from billing_pipeline.invoicing.in_flight import IN_FLIGHT_GRACE_S, wait_out_creates_in_flight
from billing_pipeline.invoicing.ledger import ClientLink, ClientState, Ledger
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


# the former name, kept for callers that catch it
UnresolvedClientCreate = UnresolvedCreate


def _norm(value: str | None) -> str | None:
    cleaned = "".join((value or "").split()).upper()
    return cleaned or None


def _name(client: Client) -> str:
    if client.name:
        return client.name.casefold().strip()
    return f"{client.first_name or ''} {client.last_name or ''}".strip().casefold()


def _customer_name(customer: Customer) -> str:
    if customer.kind == "company":
        return (customer.name or "").casefold().strip()
    return f"{customer.first_name or ''} {customer.last_name or ''}".strip().casefold()


def identifiers_decide(client: Client, customer: Customer) -> bool | None:
    """True/False when an official identifier is on both sides; None when none can decide."""
    verdicts = []
    for theirs, ours in (
        (client.tax_identification_number, customer.tax_identification_number),
        (client.vat_number, customer.vat_number),
    ):
        if _norm(theirs) and _norm(ours):
            verdicts.append(_norm(theirs) == _norm(ours))
    if not verdicts:
        return None
    return all(verdicts)


def same_customer(client: Client, customer: Customer, emails: set[str]) -> bool:
    decided = identifiers_decide(client, customer)
    if decided is not None:
        return decided
    return (client.email or "").casefold() in emails and _name(client) == _customer_name(customer)


async def find_client(
    qonto: QontoClient,
    customer: Customer,
    *,
    intent: ClientLink | None = None,
    taken: dict[str, str] | None = None,
    directory: ClientDirectory | None = None,
) -> Client | None:
    """The customer's client in Qonto, searched by every identifier we know, or None.

    ``taken``: client id -> the customer it is linked to; those of other customers are never adopted.
    ``directory``: the organization's clients listed at the start of this step, searched instead of
    Qonto (never for a create whose answer was lost: the listing predates it).
    """
    taken = taken or {}
    emails = {customer.email.casefold()}
    searches: list[dict[str, str]] = [{"email": customer.email}]
    tins = {customer.tax_identification_number}
    vats = {customer.vat_number}
    if intent is not None:
        emails.add(intent.email.casefold())
        searches.append({"email": intent.email})
        tins.add(intent.tax_identification_number)
        vats.add(intent.vat_number)
    searches += [{"tax_identification_number": t} for t in tins if t]
    searches += [{"vat_number": v} for v in vats if v]
    seen: dict[str, Client] = {}
    for search in {tuple(s.items()) for s in searches}:
        if directory is not None:
            seen |= {client.id: client for client in directory.search(**dict(search))}
            continue
        async for client in qonto.iter_clients(**dict(search)):
            seen[client.id] = client
    candidates = [
        c
        for c in seen.values()
        if same_customer(c, customer, emails) and taken.get(c.id, customer.customer_id) == customer.customer_id
    ]
    if not candidates:
        return None
    if len(candidates) > 1:
        # Someone created duplicates outside the pipeline; stay deterministic and say so.
        log.warning("customer %s matches %d Qonto clients; using the oldest", customer.customer_id, len(candidates))
    return min(candidates, key=lambda c: (c.created_at is None, c.created_at, c.id))


def _link(ledger: Ledger, customer: Customer, client_id: str, digest: str) -> None:
    ledger.link_client(
        customer.customer_id,
        client_id,
        customer.email,
        digest,
        tax_identification_number=customer.tax_identification_number,
        vat_number=customer.vat_number,
    )


async def _ensure_client(
    qonto: QontoClient, ledger: Ledger, customer: Customer, taken: dict[str, str], directory: ClientDirectory | None
) -> ClientOutcome:
    digest = customer_digest(customer)
    link = ledger.client_link(customer.customer_id)
    if link is not None and link.state == ClientState.LINKED and link.client_id:
        if link.customer_digest == digest:
            return ClientOutcome(customer_id=customer.customer_id, client_id=link.client_id, action="unchanged")
        await qonto.update_client(link.client_id, client_update(customer))
        _link(ledger, customer, link.client_id, digest)
        return ClientOutcome(customer_id=customer.customer_id, client_id=link.client_id, action="updated")

    intent = link if link is not None and link.state == ClientState.CREATING else None
    # an unanswered create of an earlier run may have landed after the listing: search Qonto itself
    found = await find_client(qonto, customer, intent=intent, taken=taken, directory=None if intent else directory)
    if found is not None:
        _link(ledger, customer, found.id, digest)
        if (
            link is None
            or link.customer_digest != digest
            or (found.email or "").casefold() != customer.email.casefold()
        ):
            await qonto.update_client(found.id, client_update(customer))
        return ClientOutcome(customer_id=customer.customer_id, client_id=found.id, action="found")

    ledger.record_client_intent(
        customer.customer_id,
        customer.email,
        digest,
        tax_identification_number=customer.tax_identification_number,
        vat_number=customer.vat_number,
    )
    try:
        created = await qonto.create_client(client_create(customer))
    except QontoAmbiguousWriteError as error:
        found = await find_client(qonto, customer, intent=ledger.client_link(customer.customer_id), taken=taken)
        if found is None:
            raise UnresolvedCreate(
                f"creating the Qonto client of customer {customer.customer_id} had an unknown outcome ({error}) and "
                "it is not visible in Qonto yet",
                customer_id=customer.customer_id,
                action="the ledger keeps the intent: re-run the step",
            ) from None
        created = found
    _link(ledger, customer, created.id, digest)
    return ClientOutcome(customer_id=customer.customer_id, client_id=created.id, action="created")


async def _ensure_named(
    qonto: QontoClient, ledger: Ledger, customer: Customer, taken: dict[str, str], directory: ClientDirectory | None
) -> ClientOutcome:
    try:
        return await _ensure_client(qonto, ledger, customer, taken, directory)
    except InvoicingError:
        raise
    except Exception as error:
        raise InvoicingError(f"{type(error).__name__}: {error}", customer_id=customer.customer_id) from error


async def ensure_clients(
    qonto: QontoClient, ledger: Ledger, customers: list[Customer], *, in_flight_grace_s: float = IN_FLIGHT_GRACE_S
) -> list[ClientOutcome]:
    """One Qonto client per customer. Serialized across processes by the ledger's clients lock."""
    with ledger.clients_lock():
        wanted = {c.customer_id for c in customers}
        links = ledger.client_links()
        intents = [
            link.intent_at
            for link in links.values()
            if link.customer_id in wanted and link.state == ClientState.CREATING and link.intent_at is not None
        ]
        await wait_out_creates_in_flight(intents, in_flight_grace_s, "client", now=ledger.now())
        taken = {link.client_id: link.customer_id for link in links.values() if link.client_id}
        unlinked = [c for c in customers if not _linked(links.get(c.customer_id))]
        directory = await ClientDirectory.load_if_cheaper(qonto, lookups=len(unlinked))
        # customers that share an email or an identifier are resolved one after the other, so that
        # the first one's new link is seen by the next (never two customers on one client)
        results = await gather_customers(
            qonto,
            (_ensure_group(qonto, ledger, group, taken, directory) for group in _related_groups(customers)),
        )
    outcomes: list[ClientOutcome] = []
    for group_outcomes in successes_or_raise("Qonto clients", results):
        outcomes += group_outcomes
    return outcomes


def _linked(link: ClientLink | None) -> bool:
    return link is not None and link.state == ClientState.LINKED and bool(link.client_id)


async def _ensure_group(
    qonto: QontoClient, ledger: Ledger, group: list[Customer], taken: dict[str, str], directory: ClientDirectory | None
) -> list[ClientOutcome]:
    outcomes = []
    failures: list[BaseException] = []
    for customer in group:
        try:
            outcome = await _ensure_named(qonto, ledger, customer, taken, directory)
        except Exception as error:
            failures.append(error)
            continue
        taken[outcome.client_id] = customer.customer_id
        outcomes.append(outcome)
    successes_or_raise("Qonto clients", [*outcomes, *failures])
    return outcomes


def _related_groups(customers: list[Customer]) -> list[list[Customer]]:
    """Customers linked by a shared email, SIREN/SIRET or VAT number, each group in input order."""
    parent = list(range(len(customers)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[tuple[str, str], int] = {}
    for i, customer in enumerate(customers):
        for key in (
            ("email", customer.email.casefold()),
            ("tin", _norm(customer.tax_identification_number) or ""),
            ("vat", _norm(customer.vat_number) or ""),
        ):
            if not key[1]:
                continue
            if key in first_with:
                parent[root(i)] = root(first_with[key])
            else:
                first_with[key] = i
    groups: dict[int, list[Customer]] = {}
    for i, customer in enumerate(customers):
        groups.setdefault(root(i), []).append(customer)
    return list(groups.values())
