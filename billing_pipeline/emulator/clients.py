"""Qonto clients: create, update, retrieve, list. Like Qonto, no uniqueness rule of any kind."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any

from .clock import format_utc
from .errors import api_error, field_pointer, not_found
from .listing import check_parameters, choice_parameter, instant_parameter, page_meta, page_request
from .schemas import AddressIn, ClientIn
from .siren import e_invoicing_reachable

NOBODY: frozenset[str] = frozenset()

ADDRESS_FIELDS = ("street_address", "city", "zip_code", "province_code", "country_code")
# deprecated root-level fields and their billing_address twins
LEGACY_ADDRESS_FIELDS = {
    "address": "street_address",
    "city": "city",
    "zip_code": "zip_code",
    "province_code": "province_code",
    "country_code": "country_code",
}
_PLAIN_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "extra_emails",
    "e_invoicing_address",
    "vat_number",
    "tax_identification_number",
    "recipient_code",
    "currency",
    "locale",
)
CLIENT_SORTS = {
    "name:asc": "name_key ASC, seq ASC",
    "name:desc": "name_key DESC, seq DESC",
    "created_at:asc": "created_at ASC, seq ASC",
    "created_at:desc": "created_at DESC, seq DESC",
    "updated_at:asc": "updated_at ASC, seq ASC",
    "updated_at:desc": "updated_at DESC, seq DESC",
}
LIST_PARAMETERS = (
    "filter[email]",
    "filter[tax_identification_number]",
    "filter[vat_number]",
    "filter[name]",
    "filter[updated_at_from]",
    "filter[updated_at_to]",
    "sort_by",
    "page",
    "per_page",
)


def fold(text: str) -> str:
    """Case- and accent-insensitive form used by ``filter[name]``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold().strip()


def _identifier_key(value: str | None) -> str | None:
    return None if value is None else value.replace(" ", "").casefold()


def display_name(data: Mapping[str, Any]) -> str:
    if data.get("kind") == "company" or not (data.get("first_name") or data.get("last_name")):
        return str(data.get("name") or "")
    return " ".join(part for part in (data.get("first_name"), data.get("last_name")) if part)


def _empty_address() -> dict[str, str | None]:
    return dict.fromkeys(ADDRESS_FIELDS)


def _merge_address(current: dict[str, Any] | None, update: AddressIn | None) -> dict[str, Any] | None:
    if update is None:
        return current
    merged = dict(current or _empty_address())
    for name in update.model_fields_set:
        merged[name] = getattr(update, name)
    return merged


def _apply(data: dict[str, Any], body: ClientIn) -> dict[str, Any]:
    """``data`` updated with every field present in ``body`` (PATCH semantics; create starts empty)."""
    updated = dict(data)
    present = body.model_fields_set
    kind = body.kind if "kind" in present and body.kind else body.type if "type" in present else None
    if kind is not None:
        updated["kind"] = kind
    for name in _PLAIN_FIELDS:
        if name in present:
            updated[name] = getattr(body, name)
    if "phone" in present:
        updated["phone"] = body.phone.model_dump() if body.phone else None
    # legacy root fields first, billing_address second: the documented object wins on conflict
    legacy = {LEGACY_ADDRESS_FIELDS[name]: getattr(body, name) for name in LEGACY_ADDRESS_FIELDS if name in present}
    if legacy:
        updated["billing_address"] = {**(updated.get("billing_address") or _empty_address()), **legacy}
    if "billing_address" in present:
        updated["billing_address"] = _merge_address(updated.get("billing_address"), body.billing_address)
    if "delivery_address" in present:
        updated["delivery_address"] = _merge_address(updated.get("delivery_address"), body.delivery_address)
    if updated.get("kind") == "individual":
        # Qonto enforces this invariant when kind switches: individuals carry no VAT number
        updated["vat_number"] = None
    return updated


def _check_identity(data: Mapping[str, Any]) -> None:
    kind = data.get("kind")
    if kind is None:
        raise api_error(422, "required", "kind (or its legacy twin type) is required", pointer=field_pointer("kind"))
    if kind == "freelancer":
        raise api_error(
            422,
            "not_in_list",
            "kind freelancer is only available to Italian organizations",
            pointer=field_pointer("kind"),
        )
    if kind == "company" and not data.get("name"):
        raise api_error(422, "required", "name is required for a company client", pointer=field_pointer("name"))
    if kind == "individual":
        for name in ("first_name", "last_name"):
            if not data.get(name):
                raise api_error(
                    422, "required", f"{name} is required for an individual client", pointer=field_pointer(name)
                )


def _write_columns(data: Mapping[str, Any]) -> tuple[str, str | None, str | None, str | None, str]:
    return (
        fold(display_name(data)),
        _identifier_key(data.get("email")),
        _identifier_key(data.get("tax_identification_number")),
        _identifier_key(data.get("vat_number")),
        json.dumps(data),
    )


def create_client(
    connection: sqlite3.Connection, body: ClientIn, now_ms: int, unreachable: frozenset[str] = NOBODY
) -> dict[str, Any]:
    data = _apply({"billing_address": None, "delivery_address": None, "phone": None}, body)
    for name in _PLAIN_FIELDS:
        data.setdefault(name, None)
    _check_identity(data)
    client_id = str(uuid.uuid4())
    connection.execute(
        "INSERT INTO clients (id, created_at, updated_at, name_key, email_key, tin_key, vat_key, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (client_id, now_ms, now_ms, *_write_columns(data)),
    )
    return get_client(connection, client_id, unreachable)


def update_client(
    connection: sqlite3.Connection,
    client_id: str,
    body: ClientIn,
    now_ms: int,
    unreachable: frozenset[str] = NOBODY,
) -> dict[str, Any]:
    row = _row(connection, client_id)
    data = _apply(json.loads(row["data"]), body)
    _check_identity(data)
    connection.execute(
        "UPDATE clients SET updated_at = ?, name_key = ?, email_key = ?, tin_key = ?, vat_key = ?, data = ?"
        " WHERE id = ?",
        (max(now_ms, row["updated_at"] + 1), *_write_columns(data), client_id),
    )
    return get_client(connection, client_id, unreachable)


def _row(connection: sqlite3.Connection, client_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = connection.execute("SELECT * FROM clients WHERE id = ?", (client_id,)).fetchone()
    if row is None:
        raise not_found("client", client_id)
    return row


def find_client(
    connection: sqlite3.Connection, client_id: str, unreachable: frozenset[str] = NOBODY
) -> dict[str, Any] | None:
    row = connection.execute("SELECT * FROM clients WHERE id = ?", (client_id,)).fetchone()
    return None if row is None else client_json(row, unreachable)


def get_client(connection: sqlite3.Connection, client_id: str, unreachable: frozenset[str] = NOBODY) -> dict[str, Any]:
    return client_json(_row(connection, client_id), unreachable)


def client_json(row: sqlite3.Row, unreachable: frozenset[str] = NOBODY) -> dict[str, Any]:
    """The client as Qonto shows it; ``unreachable`` is the server's ``--einvoicing-unreachable``
    (reachability is the directory's answer now, so it is computed at read time)."""
    data = json.loads(row["data"])
    billing = data.get("billing_address")
    legacy = {legacy: (billing or {}).get(field) for legacy, field in LEGACY_ADDRESS_FIELDS.items()}
    phone = data.get("phone")
    return {
        "id": row["id"],
        "name": data.get("name"),
        "first_name": data.get("first_name"),
        "last_name": data.get("last_name"),
        "phone_number": f"{phone['country_code']}{phone['number']}" if phone else None,
        "phone": phone,
        "kind": data.get("kind"),
        "type": data.get("kind"),
        "email": data.get("email"),
        "extra_emails": data.get("extra_emails") or [],
        "currency": data.get("currency"),
        "e_invoicing_address": data.get("e_invoicing_address"),
        "e_invoicing_reachable": e_invoicing_reachable(data, unreachable),
        "vat_number": data.get("vat_number"),
        "tax_identification_number": data.get("tax_identification_number"),
        **legacy,
        "billing_address": billing,
        "delivery_address": data.get("delivery_address"),
        "recipient_code": data.get("recipient_code"),
        "locale": data.get("locale"),
        "created_at": format_utc(row["created_at"]),
        "updated_at": format_utc(row["updated_at"]),
    }


def missing_invoicing_data(client: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, reason) when the client cannot be invoiced yet: currency, locale and an address."""
    if not client.get("currency"):
        return "currency", "the client has no currency; update the client first"
    if not client.get("locale"):
        return "locale", "the client has no locale; update the client first"
    billing = client.get("billing_address") or {}
    missing = [name for name in ("street_address", "city", "zip_code", "country_code") if not billing.get(name)]
    if missing:
        return "address", "the client's billing address lacks " + ", ".join(missing) + "; update the client first"
    return None


def list_clients(
    connection: sqlite3.Connection, query: Mapping[str, str], unreachable: frozenset[str] = NOBODY
) -> dict[str, Any]:
    check_parameters(query, LIST_PARAMETERS)
    request = page_request(query)
    order = CLIENT_SORTS[choice_parameter(query, "sort_by", CLIENT_SORTS, default="name:asc")]
    conditions: list[str] = []
    values: list[Any] = []
    for parameter, column in (
        ("filter[email]", "email_key"),
        ("filter[tax_identification_number]", "tin_key"),
        ("filter[vat_number]", "vat_key"),
    ):
        if parameter in query:
            conditions.append(f"{column} = ?")
            values.append(_identifier_key(query[parameter]))
    if "filter[name]" in query:
        needle = fold(query["filter[name]"])
        if len(needle) < 2:
            raise api_error(422, "too_short", "filter[name] needs at least 2 characters", parameter="filter[name]")
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append("name_key LIKE ? ESCAPE '\\'")
        values.append(f"%{escaped}%")
    for parameter, operator in (("filter[updated_at_from]", ">="), ("filter[updated_at_to]", "<=")):
        instant = instant_parameter(query, parameter)
        if instant is not None:
            conditions.append(f"updated_at {operator} ?")
            values.append(instant)
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    total = connection.execute(f"SELECT COUNT(*) FROM clients{where}", values).fetchone()[0]  # noqa: S608
    rows = connection.execute(
        f"SELECT * FROM clients{where} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608 - fixed fragments
        (*values, request.per_page, request.offset),
    ).fetchall()
    return {"clients": [client_json(row, unreachable) for row in rows], "meta": page_meta(request, total)}
