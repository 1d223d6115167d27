"""Client invoices as Qonto shows them: one invoice, the list endpoint and the JSON object.

The read side of ``invoices.InvoiceBook``; what a stored row looks like on the wire (amounts
recomputed from the lines, the attachment visible once rendered, the issuer's details).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from . import attachments, einvoicing
from .clients import find_client
from .clock import format_paris
from .config import EmulatorConfig
from .errors import api_error, not_found
from .listing import check_parameters, choice_parameter, instant_parameter, page_meta, page_request
from .money import discount_json, format_amount, format_number, money, money_fields, stored_invoice_amounts
from .seed import ORGANIZATION_ID, organization_ibans

STATUSES = ("draft", "unpaid", "paid", "canceled")
# the issuer's contact address (invoice contact_email, the From: of emailed invoices)
CONTACT_EMAIL = "facturation@qonto-emulator.invalid"
INVOICE_SORTS = {"created_at:desc": "created_at DESC, seq DESC", "created_at:asc": "created_at ASC, seq ASC"}
LIST_PARAMETERS = (
    "filter[status]",
    "filter[created_at_from]",
    "filter[created_at_to]",
    "filter[updated_at_from]",
    "filter[updated_at_to]",
    "filter[due_date]",
    "filter[due_date_from]",
    "filter[due_date_to]",
    "exclude_imported",
    "sort_by",
    "page",
    "per_page",
)


class InvoiceView:
    """Invoice reads inside one transaction; ``now_ms`` is the business clock."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        config: EmulatorConfig,
        organization: dict[str, Any],
        now_ms: int,
    ) -> None:
        self.connection = connection
        self.config = config
        self.organization = organization
        self.now_ms = now_ms

    def _row(self, invoice_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.connection.execute(
            "SELECT * FROM invoices WHERE id = ?", (invoice_id,)
        ).fetchone()
        if row is None:
            raise not_found("client invoice", invoice_id)
        return row

    def get(self, invoice_id: str) -> dict[str, Any]:
        return self.to_json(self._row(invoice_id))

    def list(self, query: Mapping[str, str]) -> dict[str, Any]:
        check_parameters(query, LIST_PARAMETERS)
        request = page_request(query)
        order = INVOICE_SORTS[choice_parameter(query, "sort_by", INVOICE_SORTS, default="created_at:desc")]
        conditions: list[str] = []
        values: list[Any] = []
        if "filter[status]" in query:
            statuses = [status.strip() for status in query["filter[status]"].split(",")]
            for status in statuses:
                if status not in STATUSES:
                    raise api_error(
                        422,
                        "not_in_list",
                        f"filter[status] must be one of: {', '.join(STATUSES)} (got {status!r})",
                        parameter="filter[status]",
                    )
            conditions.append(f"status IN ({', '.join('?' for _ in statuses)})")
            values.extend(statuses)
        for parameter, column, operator in (
            ("filter[created_at_from]", "created_at", ">="),
            ("filter[created_at_to]", "created_at", "<="),
            ("filter[updated_at_from]", "updated_at", ">="),
            ("filter[updated_at_to]", "updated_at", "<="),
        ):
            instant = instant_parameter(query, parameter)
            if instant is not None:
                conditions.append(f"{column} {operator} ?")
                values.append(instant)
        for parameter, operator in (
            ("filter[due_date]", "="),
            ("filter[due_date_from]", ">="),
            ("filter[due_date_to]", "<="),
        ):
            if parameter in query:
                conditions.append(f"due_date {operator} ?")
                values.append(_date_parameter(query, parameter).isoformat())
        # nothing is ever imported into the emulator, so the flag is validated and then moot
        choice_parameter(query, "exclude_imported", ("true", "false"), default="false")
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        total = self.connection.execute(f"SELECT COUNT(*) FROM invoices{where}", values).fetchone()[0]  # noqa: S608
        rows = self.connection.execute(
            f"SELECT * FROM invoices{where} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608 - fixed fragments
            (*values, request.per_page, request.offset),
        ).fetchall()
        return {
            "client_invoices": [self.to_json(row, detailed=False) for row in rows],
            "meta": page_meta(request, total),
        }

    def all_invoices(self) -> list[dict[str, Any]]:
        rows = self.connection.execute("SELECT * FROM invoices ORDER BY created_at, seq").fetchall()
        return [self.to_json(row) for row in rows]

    def attachment_visible(self, row: sqlite3.Row, data: Mapping[str, Any]) -> bool:
        if row["status"] == "draft":
            return True
        due = attachments.final_due(self.connection, row["attachment_id"])
        if data.get("created_finalized"):
            return due is not None and self.now_ms >= due
        gap_ms = round(_gap_fraction(row["id"]) * self.config.attachment_gap_s * 1000)
        return self.now_ms >= int(row["finalized_at"]) + gap_ms

    # ---- the JSON object -------------------------------------------------------------------------

    def to_json(self, row: sqlite3.Row, *, detailed: bool = True) -> dict[str, Any]:
        data = json.loads(row["data"])
        client = (
            json.loads(row["client_snapshot"])
            if row["client_snapshot"]
            else find_client(self.connection, row["client_id"], self.config.einvoicing_unreachable)
        )
        currency = data["currency"]
        items = data["items"]
        amounts = stored_invoice_amounts(items)
        settings = data.get("settings") or {}
        status = row["status"]
        paid = amounts.total if status == "paid" else Decimal("0")
        einvoicing_status, events = einvoicing.lifecycle(self.connection, row["id"], self.now_ms)
        invoice: dict[str, Any] = {
            "id": row["id"],
            "organization_id": ORGANIZATION_ID,
            "attachment_id": row["attachment_id"] if self.attachment_visible(row, data) else None,
            "number": row["number"],
            "purchase_order": data.get("purchase_order"),
            "status": status,
            "invoice_url": f"https://pay.qonto-emulator.invalid/invoices/{row['id']}",
            "contact_email": CONTACT_EMAIL,
            "terms_and_conditions": data.get("terms_and_conditions"),
            "header": data.get("header"),
            "footer": data.get("footer"),
            "discount_conditions": settings.get("discount_conditions"),
            "late_payment_penalties": settings.get("late_payment_penalties"),
            "legal_fixed_compensation": settings.get("legal_fixed_compensation"),
            "currency": currency,
            **money_fields("total_amount", amounts.total, currency),
            **money_fields("vat_amount", amounts.vat, currency),
            **money_fields("amount_paid", paid, currency),
            "issue_date": data["issue_date"],
            "due_date": data["due_date"],
            "performance_date": data.get("performance_date"),
            "performance_start_date": data.get("performance_start_date"),
            "performance_end_date": data.get("performance_end_date"),
            "created_at": format_paris(row["created_at"]),
            "updated_at": format_paris(row["updated_at"]),
            "finalized_at": format_paris(row["finalized_at"]) if row["finalized_at"] is not None else None,
            "paid_at": data.get("paid_at"),
            "stamp_duty_amount": None,
            "items": [_item_json(item, line, currency) for item, line in zip(items, amounts.lines, strict=True)],
            "client": client,
            "payment_methods": [self._payment_method(data["iban"])],
            "credit_notes_ids": credit_note_ids(self.connection, row["id"]),
            "organization": self._issuer(settings),
            "invoice_type": "standard",
            "discount": None,
            "einvoicing_status": einvoicing_status,
            # Italian/Spanish blocks and deposits: documented fields the emulator never fills
            "welfare_fund": None,
            "withholding_tax": None,
            "payment_reporting": None,
            "deposit_amount": None,
        }
        if detailed:
            # the list omits the lifecycle ("regulatory blocks, e-invoicing lifecycle events":
            # Qonto's MCP docs), retrieve and every write response carry it
            invoice["einvoicing_lifecycle_events"] = events
        return invoice

    def _payment_method(self, iban: str) -> dict[str, Any]:
        account = organization_ibans(self.organization).get(iban, {})
        return {
            "beneficiary_name": self.organization["legal_name"],
            "bic": account.get("bic"),
            "iban": iban,
            "type": "transfer",
        }

    def _issuer(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        org = self.organization
        capital = settings.get("legal_capital_share")
        return {
            "id": org["id"],
            "legal_name": org["legal_name"],
            "legal_number": org["legal_number"],
            "legal_country": org["legal_country"],
            "address_line_1": org["address_line_1"],
            "address_line_2": org["address_line_2"],
            "address_zipcode": org["address_zipcode"],
            "address_city": org["address_city"],
            "address_country": org["address_country"],
            "company_leadership": settings.get("company_leadership"),
            "district_court": settings.get("district_court"),
            "commercial_register_number": settings.get("commercial_register_number"),
            "vat_number": settings.get("vat_number") or org["vat_number"],
            "tax_number": settings.get("tax_number"),
            "legal_capital_share": capital
            or {"value": format_amount(Decimal(org["legal_share_capital"])), "currency": "EUR"},
            "transaction_type": settings.get("transaction_type"),
            "vat_payment_condition": settings.get("vat_payment_condition"),
        }


def credit_note_ids(connection: sqlite3.Connection, invoice_id: str) -> list[str]:
    """The invoice's ``credit_notes_ids``, oldest first."""
    rows = connection.execute(
        "SELECT id FROM credit_notes WHERE invoice_id = ? ORDER BY created_at, seq", (invoice_id,)
    ).fetchall()
    return [str(row["id"]) for row in rows]


def _item_json(item: Mapping[str, Any], line: Any, currency: str) -> dict[str, Any]:
    unit_price = Decimal(item["unit_price"])
    return {
        "title": item["title"],
        "description": item.get("description"),
        "quantity": format_number(Decimal(item["quantity"])),
        "unit": item.get("unit"),
        "unit_price": money(unit_price, currency),
        "unit_price_cents": money_fields("unit_price", unit_price, currency)["unit_price_cents"],
        "vat_rate": format_number(Decimal(item["vat_rate"])),
        "vat_exemption_reason": item.get("vat_exemption_reason"),
        "discount": discount_json(item.get("discount"), line, currency),
        **money_fields("total_vat", line.total_vat, currency),
        **money_fields("total_amount", line.total_amount, currency),
        **money_fields("subtotal", line.subtotal, currency),
    }


def _gap_fraction(invoice_id: str) -> float:
    """A stable pseudo-random fraction per invoice, identical in every process."""
    digest = hashlib.sha256(invoice_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _date_parameter(query: Mapping[str, str], name: str) -> date:
    try:
        return date.fromisoformat(query[name])
    except ValueError as exc:
        raise api_error(422, "invalid_date", f"{name} must be a date as YYYY-MM-DD", parameter=name) from exc
