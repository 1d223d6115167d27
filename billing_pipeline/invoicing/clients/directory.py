"""Every Qonto client of the organization from one listing, when that costs fewer requests than
looking clients up one by one.

Finding a customer's client takes one to four filtered searches (email, former email, SIREN/SIRET,
VAT number), and delivering an invoice one read of its client; at SaaS scale that is several
requests per invoice against Qonto's 10,000 per 10 minutes. A listing costs one request per 100
clients, so when more lookups are due than the listing has pages, the clients are listed once
(pages fetched a window at a time, oldest first so that a client created meanwhile lands on a later page
instead of shifting the others) and searched here with the rules of Qonto's filters: email and
identifiers compared without case and spaces. A stale answer is never trusted for an ambiguous
create: that is always resolved by searching Qonto again (``clients.py``).
"""

from __future__ import annotations

from collections import defaultdict

from billing_pipeline.qonto import MAX_PER_PAGE, QontoClient
from billing_pipeline.qonto.calls import iterate_pages
from billing_pipeline.qonto.models import Client, Page

# below this many lookups the searches are cheaper whatever the organization's size
MIN_LOOKUPS = 3
_FIELDS = ("email", "tax_identification_number", "vat_number")


def filter_key(value: str | None) -> str | None:
    """How Qonto's ``filter[email|tax_identification_number|vat_number]`` compare: no case, no spaces."""
    folded = "".join((value or "").split()).casefold()
    return folded or None


class ClientDirectory:
    def __init__(self, clients: list[Client]) -> None:
        self._by_id = {client.id: client for client in clients}
        self._by_key: dict[tuple[str, str], list[Client]] = defaultdict(list)
        for client in self._by_id.values():
            for name in _FIELDS:
                key = filter_key(getattr(client, name))
                if key is not None:
                    self._by_key[(name, key)].append(client)

    def __len__(self) -> int:
        return len(self._by_id)

    def search(self, **filters: str) -> list[Client]:
        """What ``GET /v2/clients?filter[<name>]=<value>`` (one filter) would return."""
        ((name, value),) = filters.items()
        key = filter_key(value)
        return list(self._by_key.get((name, key), [])) if key is not None else []

    def get(self, client_id: str) -> Client | None:
        return self._by_id.get(client_id)

    @classmethod
    async def load_if_cheaper(cls, qonto: QontoClient, lookups: int) -> ClientDirectory | None:
        """The directory, when listing costs fewer requests than ``lookups``; else None (one request
        spent to learn the organization's size)."""
        if lookups < MIN_LOOKUPS:
            return None

        async def fetch(page: int) -> Page[Client]:
            return await qonto.list_clients(sort_by="created_at:asc", page=page, per_page=MAX_PER_PAGE)

        first = await fetch(1)
        pages = first.meta.total_pages
        if pages is None:
            pages = 1 if not first.meta.next_page else None  # no count given: only a single page is known
        if pages is None or pages > lookups:
            return None
        return cls([client async for client in iterate_pages(fetch, first=first)])
