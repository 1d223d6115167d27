"""Client invoices and their state machine (qonto-api.md §10).

draft --finalize--> unpaid --mark_as_paid--> paid --unmark_as_paid--> unpaid
                    unpaid --mark_as_canceled--> canceled (terminal)
Only drafts can be edited (PATCH) or deleted (DELETE): anything else is 412
``invoice_not_in_draft_status``; every other illegal transition is 422.

Drafts show the client as it is now; finalize freezes a snapshot of it and assigns the number.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from . import attachments
from .clients import find_client, missing_invoicing_data
from .clock import format_paris, paris_date
from .config import EmulatorConfig
from .errors import ApiError, api_error, field_pointer, not_found
from .listing import check_parameters, choice_parameter, instant_parameter, page_meta, page_request
from .money import format_amount, format_number, invoice_amounts, money, money_fields
from .schemas import INVOICE_CURRENCY, InvoiceCreate, InvoicePatch, MarkAsPaidIn, item_to_storage
from .seed import ORGANIZATION_ID, organization_ibans

STATUSES = ("draft", "unpaid", "paid", "canceled")
FINALIZED = frozenset({"unpaid", "paid", "canceled"})
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
_TEXT_FIELDS = ("purchase_order", "terms_and_conditions", "header", "footer")
_DATE_FIELDS = ("performance_date", "performance_start_date", "performance_end_date")


class InvoiceBook:
    """Invoice operations inside one write transaction; ``now_ms`` is the business clock."""

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

    # ---- reads ---------------------------------------------------------------------------------

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

    # ---- writes --------------------------------------------------------------------------------

    def create(self, body: InvoiceCreate) -> dict[str, Any]:
        data: dict[str, Any] = {
            "issue_date": body.issue_date.isoformat(),
            "due_date": body.due_date.isoformat(),
            "currency": INVOICE_CURRENCY,
            "iban": self._checked_iban(body.payment_methods.iban),
            "items": [item_to_storage(item) for item in body.items],
            "settings": body.settings.model_dump(mode="json") if body.settings else None,
            "paid_at": None,
            "created_finalized": body.status == "unpaid",
        }
        for name in (*_TEXT_FIELDS, *_DATE_FIELDS):
            value = getattr(body, name)
            data[name] = value.isoformat() if isinstance(value, date) else value
        self._check_data(data, requested_number=body.number)
        client = self._invoiceable_client(body.client_id)
        invoice_id = str(uuid.uuid4())
        attachment_id = str(uuid.uuid4())
        self.connection.execute(
            "INSERT INTO invoices (id, client_id, status, number, requested_number, created_at, updated_at,"
            " finalized_at, due_date, attachment_id, data, client_snapshot)"
            " VALUES (?, ?, 'draft', NULL, ?, ?, ?, NULL, ?, ?, ?, NULL)",
            (
                invoice_id,
                client["id"],
                body.number,
                self.now_ms,
                self.now_ms,
                data["due_date"],
                attachment_id,
                json.dumps(data),
            ),
        )
        if body.status == "unpaid":
            # created finalized: there never is a draft PDF, the attachment appears once rendered
            return self._finalize(self._row(invoice_id))
        self._add_draft_version(self._row(invoice_id))
        return self.get(invoice_id)

    def update(self, invoice_id: str, body: InvoicePatch) -> dict[str, Any]:
        row = self._row(invoice_id)
        self._require_draft(row, "updated")
        data = json.loads(row["data"])
        present = body.model_fields_set
        for name in ("client_id", "issue_date", "due_date", "currency", "payment_methods", "items"):
            if name in present and getattr(body, name) is None:
                raise api_error(422, "blank", f"{name} cannot be null", pointer=field_pointer(name))
        if body.issue_date is not None:
            data["issue_date"] = body.issue_date.isoformat()
        if body.due_date is not None:
            data["due_date"] = body.due_date.isoformat()
        if body.payment_methods is not None:
            data["iban"] = self._checked_iban(body.payment_methods.iban)
        if body.items is not None:
            data["items"] = [item_to_storage(item) for item in body.items]
        if "settings" in present:
            data["settings"] = body.settings.model_dump(mode="json") if body.settings else None
        for name in (*_TEXT_FIELDS, *_DATE_FIELDS):
            if name in present:
                value = getattr(body, name)
                data[name] = value.isoformat() if isinstance(value, date) else value
        requested_number = body.number if "number" in present else row["requested_number"]
        self._check_data(data, requested_number=requested_number, exclude_id=invoice_id)
        client_id = row["client_id"]
        if body.client_id is not None:
            client_id = self._invoiceable_client(body.client_id)["id"]
        self.connection.execute(
            "UPDATE invoices SET client_id = ?, requested_number = ?, updated_at = ?, due_date = ?, data = ?"
            " WHERE id = ?",
            (
                client_id,
                requested_number,
                self._next_updated_at(row),
                data["due_date"],
                json.dumps(data),
                invoice_id,
            ),
        )
        self._add_draft_version(self._row(invoice_id))
        return self.get(invoice_id)

    def delete(self, invoice_id: str) -> None:
        row = self._row(invoice_id)
        self._require_draft(row, "deleted")
        self.connection.execute("DELETE FROM invoices WHERE id = ?", (invoice_id,))
        attachments.delete_versions(self.connection, row["attachment_id"])

    def finalize(self, invoice_id: str) -> dict[str, Any]:
        row = self._row(invoice_id)
        if row["status"] != "draft":
            raise api_error(
                422,
                "invoice_not_in_draft_status",
                f"only a draft can be finalized; this invoice is {row['status']}",
            )
        return self._finalize(row)

    def mark_as_paid(self, invoice_id: str, body: MarkAsPaidIn) -> dict[str, Any]:
        row = self._row(invoice_id)
        if row["status"] not in ("unpaid", "paid"):
            raise _illegal(row, "marked as paid", "unpaid or paid")
        data = json.loads(row["data"])
        today = paris_date(self.now_ms)
        paid_at = body.paid_at or today
        if paid_at > today:
            raise api_error(422, "invalid_date", "paid_at cannot be in the future", pointer=field_pointer("paid_at"))
        if paid_at < date.fromisoformat(data["issue_date"]):
            raise api_error(
                422, "invalid_date", "paid_at cannot be before the issue date", pointer=field_pointer("paid_at")
            )
        data["paid_at"] = paid_at.isoformat()
        return self._set_status(row, "paid", data)

    def unmark_as_paid(self, invoice_id: str) -> dict[str, Any]:
        row = self._row(invoice_id)
        if row["status"] != "paid":
            raise _illegal(row, "unmarked as paid", "paid")
        data = json.loads(row["data"])
        data["paid_at"] = None
        return self._set_status(row, "unpaid", data)

    def mark_as_canceled(self, invoice_id: str) -> dict[str, Any]:
        row = self._row(invoice_id)
        if row["status"] != "unpaid":
            raise _illegal(row, "canceled", "unpaid")
        return self._set_status(row, "canceled", json.loads(row["data"]))

    # ---- helpers -------------------------------------------------------------------------------

    def _set_status(self, row: sqlite3.Row, status: str, data: dict[str, Any]) -> dict[str, Any]:
        self.connection.execute(
            "UPDATE invoices SET status = ?, updated_at = ?, data = ? WHERE id = ?",
            (status, self._next_updated_at(row), json.dumps(data), row["id"]),
        )
        return self.get(row["id"])

    def _finalize(self, row: sqlite3.Row) -> dict[str, Any]:
        data = json.loads(row["data"])
        client = self._invoiceable_client(row["client_id"])
        self._checked_iban(data["iban"])
        number = row["requested_number"] or self._next_number(date.fromisoformat(data["issue_date"]).year)
        finalized_at = self._next_updated_at(row)
        self.connection.execute(
            "UPDATE invoices SET status = 'unpaid', number = ?, finalized_at = ?, updated_at = ?,"
            " client_snapshot = ? WHERE id = ?",
            (number, finalized_at, finalized_at, json.dumps(client), row["id"]),
        )
        finalized = self._row(row["id"])
        render_delay_ms = max(1, round(self.config.render_delay_s * 1000))
        attachments.add_version(
            self.connection,
            attachment_id=finalized["attachment_id"],
            invoice_id=finalized["id"],
            kind=attachments.FACTURX,
            version_ms=finalized_at + render_delay_ms,
            now_ms=self.now_ms,
            source=self.to_json(finalized),
        )
        return self.to_json(finalized)

    def _next_number(self, year: int) -> str:
        while True:
            self.connection.execute(
                "INSERT INTO number_sequences (year, last) VALUES (?, 1)"
                " ON CONFLICT (year) DO UPDATE SET last = last + 1",
                (year,),
            )
            last = self.connection.execute("SELECT last FROM number_sequences WHERE year = ?", (year,)).fetchone()[0]
            number = f"F-{year}-{last:05d}"
            # skip numbers a client chose by hand: numbers are unique within the organization
            if not self._number_taken(number):
                return number

    def _number_taken(self, number: str, exclude_id: str | None = None) -> bool:
        row = self.connection.execute(
            "SELECT 1 FROM invoices WHERE (number = ? OR requested_number = ?) AND id != ? LIMIT 1",
            (number, number, exclude_id or ""),
        ).fetchone()
        return row is not None

    def _add_draft_version(self, row: sqlite3.Row) -> None:
        attachments.add_version(
            self.connection,
            attachment_id=row["attachment_id"],
            invoice_id=row["id"],
            kind=attachments.DRAFT,
            version_ms=row["updated_at"],
            now_ms=self.now_ms,
            source=self.to_json(row),
        )

    def _next_updated_at(self, row: sqlite3.Row) -> int:
        # strictly increasing even for two writes within one millisecond
        return max(self.now_ms, int(row["updated_at"]) + 1)

    def _require_draft(self, row: sqlite3.Row, action: str) -> None:
        if row["status"] != "draft":
            raise api_error(
                412,
                "invoice_not_in_draft_status",
                f"only a draft can be {action}; this invoice is {row['status']}",
            )

    def _checked_iban(self, iban: str | None) -> str:
        pointer = field_pointer("payment_methods", "iban")
        compact = (iban or "").replace(" ", "").upper()
        if not compact:
            raise api_error(422, "invalid_iban", "IBAN is empty", pointer=pointer)
        if compact not in organization_ibans(self.organization):
            raise api_error(
                422, "invalid_iban", "IBAN is not one of the organization's active bank accounts", pointer=pointer
            )
        return compact

    def _check_data(
        self, data: Mapping[str, Any], *, requested_number: str | None, exclude_id: str | None = None
    ) -> None:
        if data["due_date"] < data["issue_date"]:
            raise api_error(
                422, "invalid_date", "due_date must be on or after issue_date", pointer=field_pointer("due_date")
            )
        start, end = data.get("performance_start_date"), data.get("performance_end_date")
        if start and end and end < start:
            raise api_error(
                422,
                "invalid_date",
                "performance_end_date must be on or after performance_start_date",
                pointer=field_pointer("performance_end_date"),
            )
        if requested_number and self._number_taken(requested_number, exclude_id=exclude_id):
            raise api_error(
                422,
                "taken",
                f"number {requested_number} is already used in this organization",
                pointer=field_pointer("number"),
            )

    def _invoiceable_client(self, client_id: str) -> dict[str, Any]:
        client = find_client(self.connection, client_id)
        if client is None:
            raise api_error(422, "not_found", f"client {client_id} not found", pointer=field_pointer("client_id"))
        missing = missing_invoicing_data(client)
        if missing is not None:
            field, reason = missing
            pointer = field_pointer("currency") if field == "currency" else field_pointer("client_id")
            raise api_error(422, f"client_missing_{field}", reason, pointer=pointer)
        if client["currency"] != INVOICE_CURRENCY:
            raise api_error(
                422,
                "invalid_currency",
                f"the client's currency is {client['currency']}; invoices can only be in EUR",
                pointer=field_pointer("currency"),
            )
        return client

    def attachment_visible(self, row: sqlite3.Row, data: Mapping[str, Any]) -> bool:
        if row["status"] == "draft":
            return True
        due = attachments.factur_x_due(self.connection, row["attachment_id"])
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
            else find_client(self.connection, row["client_id"])
        )
        currency = data["currency"]
        items = data["items"]
        amounts = invoice_amounts(
            (Decimal(item["quantity"]), Decimal(item["unit_price"]), Decimal(item["vat_rate"])) for item in items
        )
        settings = data.get("settings") or {}
        status = row["status"]
        paid = amounts.total if status == "paid" else Decimal("0")
        invoice: dict[str, Any] = {
            "id": row["id"],
            "organization_id": ORGANIZATION_ID,
            "attachment_id": row["attachment_id"] if self.attachment_visible(row, data) else None,
            "number": row["number"],
            "purchase_order": data.get("purchase_order"),
            "status": status,
            "invoice_url": f"https://pay.qonto-emulator.invalid/invoices/{row['id']}",
            "contact_email": "facturation@qonto-emulator.invalid",
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
            "credit_notes_ids": [],
            "organization": self._issuer(settings),
            "invoice_type": "standard",
            "discount": None,
            "einvoicing_status": None,
        }
        if detailed:
            invoice["einvoicing_lifecycle_events"] = []
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
        "discount": None,
        **money_fields("total_vat", line.total_vat, currency),
        **money_fields("total_amount", line.total_amount, currency),
        **money_fields("subtotal", line.subtotal, currency),
    }


def _illegal(row: sqlite3.Row, action: str, allowed: str) -> ApiError:
    return api_error(
        422,
        "invalid_status_transition",
        f"a {row['status']} invoice cannot be {action}; only {allowed} invoices can",
    )


def _gap_fraction(invoice_id: str) -> float:
    """A stable pseudo-random fraction per invoice, identical in every process."""
    digest = hashlib.sha256(invoice_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _date_parameter(query: Mapping[str, str], name: str) -> date:
    try:
        return date.fromisoformat(query[name])
    except ValueError as exc:
        raise api_error(422, "invalid_date", f"{name} must be a date as YYYY-MM-DD", parameter=name) from exc
