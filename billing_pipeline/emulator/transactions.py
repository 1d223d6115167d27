"""Bank transactions of the emulated organization's accounts (qonto-api.md §8.5b).

``GET /v2/transactions`` needs ``bank_account_id`` or ``iban`` and filters by ``status[]``, ``side``,
``operation_type[]``, ``settled_at_from/to``, ``emitted_at_from/to``, ``updated_at_from/to``; sorted by
``sort_by`` (``settled_at:desc`` by default) and paginated like every list. The fields are Qonto's
(``amount`` a JSON number in euros, as in Qonto's examples, next to the exact ``amount_cents``).

Nothing in Qonto links a transfer to a client invoice: a person (or the pipeline) marks the invoice
paid. A test simulates a bank movement with ``record_transaction`` (admin API, ``emulator transfer``).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .clock import format_utc, parse_instant
from .errors import api_error
from .listing import check_parameters, choice_parameter, instant_parameter, page_meta, page_request
from .money import round_cents, to_cents
from .seed import MAIN_IBAN, load_organization

STATUSES = ("pending", "declined", "completed")
SIDES = ("credit", "debit")
OPERATION_TYPES = (
    "income",
    "transfer",
    "card",
    "direct_debit",
    "direct_debit_collection",
    "qonto_fee",
    "cheque",
    "recall",
    "swift_income",
    "other",
)
SORTS = {
    "settled_at:desc": "settled_at DESC, seq DESC",
    "settled_at:asc": "settled_at ASC, seq ASC",
    "updated_at:desc": "updated_at DESC, seq DESC",
    "updated_at:asc": "updated_at ASC, seq ASC",
}
# Qonto spells array parameters with brackets (status[]=completed&status[]=pending)
LIST_PARAMETERS = (
    "bank_account_id",
    "iban",
    "status[]",
    "side",
    "operation_type[]",
    "settled_at_from",
    "settled_at_to",
    "emitted_at_from",
    "emitted_at_to",
    "updated_at_from",
    "updated_at_to",
    "with_attachments",
    "includes[]",
    "sort_by",
    "page",
    "per_page",
)
# a fictitious payer account (valid checksum) for transfers given no IBAN
DEFAULT_COUNTERPARTY_IBAN = "FR7630006000011234567890189"


class TransactionIn(BaseModel):
    """A bank movement to simulate (admin API, ``emulator transfer``); not a Qonto endpoint."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, allow_inf_nan=False)
    side: Literal["credit", "debit"] = "credit"
    label: str | None = None
    reference: str | None = None
    note: str | None = None
    counterparty: str | None = None
    iban: str | None = None  # the counterparty's account
    bic: str | None = None
    settled_at: str | None = None  # ISO 8601 with an offset; default: the business clock's now
    status: Literal["pending", "declined", "completed"] = "completed"
    operation_type: str | None = None  # default: income for a credit, transfer for a debit
    bank_account_iban: str = MAIN_IBAN  # which of the organization's accounts it lands on

    @field_validator("amount")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        if round_cents(value) != value:
            raise ValueError("an amount has at most two decimals")
        return value

    @field_validator("settled_at")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is not None:
            parse_instant(value)
        return value


def _account(connection: sqlite3.Connection, iban: str) -> dict[str, Any]:
    compact = iban.replace(" ", "").upper()
    for account in load_organization(connection)["bank_accounts"]:
        if account["iban"] == compact:
            return dict(account)
    raise api_error(422, "invalid_iban", f"{iban} is not one of the organization's accounts")


def record_transaction(connection: sqlite3.Connection, body: TransactionIn, now_ms: int) -> dict[str, Any]:
    """Add a transaction on one of the organization's accounts; its JSON as the list shows it."""
    account = _account(connection, body.bank_account_iban)
    settled_ms = parse_instant(body.settled_at) if body.settled_at else now_ms
    cents = to_cents(body.amount)
    signed = cents if body.side == "credit" else -cents
    previous = connection.execute(
        "SELECT COALESCE(MAX(seq), 0) AS seq FROM transactions WHERE bank_account_id = ?", (account["id"],)
    ).fetchone()["seq"]
    balance = connection.execute(
        "SELECT COALESCE(SUM(signed_cents), 0) FROM transactions WHERE bank_account_id = ? AND status = 'completed'",
        (account["id"],),
    ).fetchone()[0] + (signed if body.status == "completed" else 0)
    transaction_id = str(uuid.uuid4())
    data = {
        "transaction_id": f"{account['slug']}-transaction-{previous + 1}",
        "label": body.label or body.counterparty or "",
        "reference": body.reference,
        "note": body.note,
        "clean_counterparty_name": body.counterparty,
        "operation_type": body.operation_type or ("income" if body.side == "credit" else "transfer"),
        "counterparty_iban": (body.iban or DEFAULT_COUNTERPARTY_IBAN).replace(" ", "").upper(),
        "counterparty_bic": body.bic or "BNPAFRPPXXX",
        "settled_balance_cents": balance if body.status == "completed" else None,
    }
    connection.execute(
        "INSERT INTO transactions (id, bank_account_id, status, side, amount_cents, signed_cents,"
        " settled_at, emitted_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            transaction_id,
            account["id"],
            body.status,
            body.side,
            cents,
            signed,
            settled_ms if body.status == "completed" else None,
            min(settled_ms, now_ms),
            now_ms,
            json.dumps(data),
        ),
    )
    row = connection.execute("SELECT * FROM transactions WHERE id = ?", (transaction_id,)).fetchone()
    return transaction_json(row)


def transaction_json(row: sqlite3.Row) -> dict[str, Any]:
    data = json.loads(row["data"])
    cents = int(row["amount_cents"])
    balance = data["settled_balance_cents"]
    return {
        "id": row["id"],
        "transaction_id": data["transaction_id"],
        "amount": float(Decimal(cents) / 100),
        "amount_cents": cents,
        "settled_balance": None if balance is None else float(Decimal(balance) / 100),
        "settled_balance_cents": balance,
        "attachment_ids": [],
        "local_amount": float(Decimal(cents) / 100),
        "local_amount_cents": cents,
        "side": row["side"],
        "operation_type": data["operation_type"],
        "currency": "EUR",
        "local_currency": "EUR",
        "label": data["label"],
        "clean_counterparty_name": data["clean_counterparty_name"],
        "settled_at": format_utc(row["settled_at"]) if row["settled_at"] is not None else None,
        "emitted_at": format_utc(row["emitted_at"]),
        "updated_at": format_utc(row["updated_at"]),
        "status": row["status"],
        "note": data["note"],
        "reference": data["reference"],
        "vat_amount": None,
        "vat_amount_cents": None,
        "vat_rate": None,
        "initiator_id": None,
        "label_ids": [],
        "attachment_lost": False,
        "attachment_required": False,
        "card_last_digits": None,
        "category": "other_income" if row["side"] == "credit" else "other_expense",
        "bank_account_id": row["bank_account_id"],
        "is_external_transaction": False,
        "transfer": {
            "counterparty_account_number": data["counterparty_iban"],
            "counterparty_account_number_format": "IBAN",
            "counterparty_bank_identifier": data["counterparty_bic"],
            "counterparty_bank_identifier_format": "BIC",
        },
    }


def _array(raw: list[str], name: str, choices: tuple[str, ...]) -> list[str]:
    for value in raw:
        if value not in choices:
            raise api_error(422, "not_in_list", f"{name} must be one of: {', '.join(choices)}", parameter=name)
    return raw


def list_transactions(connection: sqlite3.Connection, query: Any) -> dict[str, Any]:
    """``query``: the request's multi-dict (``getlist`` for the ``[]`` parameters)."""
    single: Mapping[str, str] = {key: query[key] for key in query}
    check_parameters(single, LIST_PARAMETERS)
    request = page_request(single)
    order = SORTS[choice_parameter(single, "sort_by", SORTS, default="settled_at:desc")]
    accounts = {a["id"]: a for a in load_organization(connection)["bank_accounts"]}
    account_id = single.get("bank_account_id")
    iban = single.get("iban")
    if not account_id and not iban:
        raise api_error(422, "missing_parameter", "bank_account_id or iban is required", parameter="bank_account_id")
    by_iban = {a["iban"]: a_id for a_id, a in accounts.items()}
    if iban and iban.replace(" ", "").upper() not in by_iban:
        raise api_error(404, "not_found", f"bank account with iban {iban} not found")
    if account_id and account_id not in accounts:
        raise api_error(404, "not_found", f"bank account {account_id} not found")
    selected = account_id or by_iban[iban.replace(" ", "").upper()]  # type: ignore[union-attr]
    conditions = ["bank_account_id = ?"]
    values: list[Any] = [selected]
    statuses = _array(query.getlist("status[]"), "status[]", STATUSES)
    if statuses:
        conditions.append(f"status IN ({', '.join('?' for _ in statuses)})")
        values.extend(statuses)
    operation_types = _array(query.getlist("operation_type[]"), "operation_type[]", OPERATION_TYPES)
    if operation_types:
        conditions.append(f"json_extract(data, '$.operation_type') IN ({', '.join('?' for _ in operation_types)})")
        values.extend(operation_types)
    if "side" in single:
        conditions.append("side = ?")
        values.append(choice_parameter(single, "side", SIDES, default="credit"))
    for parameter, column, operator in (
        ("settled_at_from", "settled_at", ">="),
        ("settled_at_to", "settled_at", "<="),
        ("emitted_at_from", "emitted_at", ">="),
        ("emitted_at_to", "emitted_at", "<="),
        ("updated_at_from", "updated_at", ">="),
        ("updated_at_to", "updated_at", "<="),
    ):
        instant = instant_parameter(single, parameter)
        if instant is not None:
            conditions.append(f"{column} {operator} ?")
            values.append(instant)
    # no attachments in the emulator: with_attachments=true selects nothing
    if choice_parameter(single, "with_attachments", ("true", "false"), default="false") == "true":
        conditions.append("0")
    where = " WHERE " + " AND ".join(conditions)
    total = connection.execute(f"SELECT COUNT(*) FROM transactions{where}", values).fetchone()[0]  # noqa: S608
    rows = connection.execute(
        f"SELECT * FROM transactions{where} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608 - fixed fragments
        (*values, request.per_page, request.offset),
    ).fetchall()
    return {"transactions": [transaction_json(row) for row in rows], "meta": page_meta(request, total)}


def all_transactions(connection: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = connection.execute("SELECT * FROM transactions ORDER BY seq").fetchall()
    return [transaction_json(row) for row in rows]
