"""Client invoices and their state machine (qonto-api.md §10).

draft --finalize--> unpaid --mark_as_paid--> paid --unmark_as_paid--> unpaid
                    unpaid --mark_as_canceled--> canceled (terminal)
Only drafts can be edited (PATCH) or deleted (DELETE): anything else is 412
``invoice_not_in_draft_status``; every other illegal transition is 422.

Drafts show the client as it is now; finalize freezes a snapshot of it and assigns the number.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from . import attachments
from .clients import find_client, missing_invoicing_data
from .clock import paris_date
from .errors import ApiError, api_error, field_pointer
from .invoice_view import InvoiceView
from .schemas import INVOICE_CURRENCY, InvoiceCreate, InvoicePatch, MarkAsPaidIn, item_to_storage
from .seed import organization_ibans

FINALIZED = frozenset({"unpaid", "paid", "canceled"})
_TEXT_FIELDS = ("purchase_order", "terms_and_conditions", "header", "footer")
_DATE_FIELDS = ("performance_date", "performance_start_date", "performance_end_date")


class InvoiceBook(InvoiceView):
    """Invoice operations inside one write transaction; ``now_ms`` is the business clock."""

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

    def cancel_fully_credited(self, invoice_id: str) -> None:
        """Qonto cancels an invoice whose credit notes reach its total (qonto-api.md §8.5, §10)."""
        row = self._row(invoice_id)
        self._set_status(row, "canceled", json.loads(row["data"]))

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
            kind=attachments.final_invoice_kind(self.config.einvoicing_disabled),
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
        # unique within the organization: credit notes' numbers included
        row = self.connection.execute(
            "SELECT 1 FROM invoices WHERE (number = ? OR requested_number = ?) AND id != ?"
            " UNION ALL SELECT 1 FROM credit_notes WHERE number = ? LIMIT 1",
            (number, number, exclude_id or "", number),
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
        client = find_client(self.connection, client_id, self.config.einvoicing_unreachable)
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


def _illegal(row: sqlite3.Row, action: str, allowed: str) -> ApiError:
    return api_error(
        422,
        "invalid_status_transition",
        f"a {row['status']} invoice cannot be {action}; only {allowed} invoices can",
    )
