"""OAuth scopes: which one each emulated endpoint needs, and the ``--scopes`` option's names.

The scope of every route is the one Qonto's endpoint page prints ("OAuth scope: …"), as gathered
in qonto-api.md §2.3 and §8:

- ``client_invoices.read`` (plural) reads client invoices and credit notes; ``client_invoice.write``
  (singular) writes both. Some pages spell them ``client_invoice.read`` (Factur-X guide) or
  ``client_invoices.write`` (credit-note create, send-by-e-invoice): neither is in Qonto's scope
  list, so ``--scopes`` accepts them as those two scopes under another spelling.
- ``GET /v2/attachments/{id}`` needs ``attachment.read`` (newer docs; older pages said
  ``organization.read`` — the emulator follows the newer ones).
- ``GET /v2/transactions`` needs ``organization.read`` (list-transactions page).
- ``GET /v2/einvoicing/settings`` needs ``einvoicing.read``.

A call whose scope the credentials lack is answered 403 by the gateway, after authentication and
before the route reads its parameters or body — an authorization check, as Qonto's gateway does.
The body of that 403 is not documented [unconfirmed]; the emulator answers Qonto's error envelope
with the code ``insufficient_scope`` (RFC 6750's name for it).
"""

from __future__ import annotations

from collections.abc import Iterable

ORGANIZATION_READ = "organization.read"
ATTACHMENT_READ = "attachment.read"
CLIENT_READ = "client.read"
CLIENT_WRITE = "client.write"
CLIENT_INVOICES_READ = "client_invoices.read"
CLIENT_INVOICE_WRITE = "client_invoice.write"
EINVOICING_READ = "einvoicing.read"

# every scope an emulated endpoint needs: the default of --scopes (credentials with all of them)
ALL_SCOPES = frozenset(
    {
        ORGANIZATION_READ,
        ATTACHMENT_READ,
        CLIENT_READ,
        CLIENT_WRITE,
        CLIENT_INVOICES_READ,
        CLIENT_INVOICE_WRITE,
        EINVOICING_READ,
    }
)
# scopes Qonto grants that open no emulated endpoint: accepted in --scopes, they change nothing
OTHER_KNOWN_SCOPES = frozenset({"offline_access", "openid", "webhook"})
# other spellings found on Qonto's pages (see above) -> the scope of Qonto's list
SCOPE_ALIASES = {
    "client_invoice.read": CLIENT_INVOICES_READ,
    "client_invoices.write": CLIENT_INVOICE_WRITE,
}

_INVOICE = "/v2/client_invoices/{id}"
# "METHOD route template" (as the gateway names a request) -> the scope it needs
ROUTE_SCOPES: dict[str, str] = {
    "GET /v2/organization": ORGANIZATION_READ,
    "GET /v2/clients": CLIENT_READ,
    "GET /v2/clients/{id}": CLIENT_READ,
    "POST /v2/clients": CLIENT_WRITE,
    "PATCH /v2/clients/{id}": CLIENT_WRITE,
    "GET /v2/client_invoices": CLIENT_INVOICES_READ,
    f"GET {_INVOICE}": CLIENT_INVOICES_READ,
    "POST /v2/client_invoices": CLIENT_INVOICE_WRITE,
    f"PATCH {_INVOICE}": CLIENT_INVOICE_WRITE,
    f"DELETE {_INVOICE}": CLIENT_INVOICE_WRITE,
    f"POST {_INVOICE}/finalize": CLIENT_INVOICE_WRITE,
    f"POST {_INVOICE}/mark_as_canceled": CLIENT_INVOICE_WRITE,
    f"POST {_INVOICE}/mark_as_paid": CLIENT_INVOICE_WRITE,
    f"POST {_INVOICE}/unmark_as_paid": CLIENT_INVOICE_WRITE,
    f"POST {_INVOICE}/send": CLIENT_INVOICE_WRITE,
    f"POST {_INVOICE}/send_by_einvoice": CLIENT_INVOICE_WRITE,
    "GET /v2/credit_notes": CLIENT_INVOICES_READ,
    "GET /v2/credit_notes/{id}": CLIENT_INVOICES_READ,
    "POST /v2/credit_notes": CLIENT_INVOICE_WRITE,
    "GET /v2/transactions": ORGANIZATION_READ,
    "GET /v2/attachments/{id}": ATTACHMENT_READ,
    "GET /v2/einvoicing/settings": EINVOICING_READ,
}


def required_scope(route: str) -> str | None:
    """The scope ``route`` ("METHOD template") needs; None for what is not an API endpoint (404, 405)."""
    method, _, template = route.partition(" ")
    if method == "HEAD":  # Starlette answers HEAD on every GET route: the same read, the same scope
        method = "GET"
    return ROUTE_SCOPES.get(f"{method} {template}")


def parse_scopes(value: str | Iterable[str]) -> frozenset[str]:
    """``"a,b"`` or an iterable of names -> the scopes, aliases resolved; unknown names are refused.

    An empty value is a valid answer: credentials that carry no scope at all.
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    scopes: set[str] = set()
    unknown: list[str] = []
    for raw in names:
        name = str(raw).strip()
        if not name:
            continue
        name = SCOPE_ALIASES.get(name, name)
        if name in ALL_SCOPES or name in OTHER_KNOWN_SCOPES:
            scopes.add(name)
        else:
            unknown.append(name)
    if unknown:
        known = ", ".join(sorted(ALL_SCOPES | OTHER_KNOWN_SCOPES | SCOPE_ALIASES.keys()))
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}; known: {known}")
    return frozenset(scopes)
