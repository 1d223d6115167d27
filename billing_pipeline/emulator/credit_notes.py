"""Credit notes (qonto-api.md §8.5): ``POST``/``GET /v2/credit_notes`` and ``GET /v2/credit_notes/{id}``.

Qonto's documented rules: a credit note corrects one invoice, in that invoice's currency; the items
are sent with positive quantities and Qonto presents them negated; the credit notes of an invoice
cannot exceed its total; a credit note bringing them to the total cancels the invoice. What the
emulator adds where Qonto is silent (each documented in docs/emulator.md): only a finalized
(``unpaid``/``paid``) invoice can be credited, the credit note cannot be dated before the invoice,
numbers follow their own sequence ``AV-<year>-<5 digits>``.

A credit note is born final (there is no draft credit note in the API): ``finalized_at`` is its
creation instant, and its Factur-X PDF (type 381) is rendered ``render_delay`` later, exactly like
an invoice created directly as ``unpaid`` — ``attachment_id`` reads null until then.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from . import attachments
from .clock import format_paris
from .errors import api_error, field_pointer, not_found
from .invoices import InvoiceBook
from .listing import check_parameters, instant_parameter, page_meta, page_request
from .money import (
    LineAmounts,
    discount_json,
    format_amount,
    format_number,
    money,
    money_fields,
    stored_invoice_amounts,
    to_cents,
)
from .schemas import CreditNoteCreate, item_to_storage

NUMBER_PREFIX = "AV"  # "avoir", the French name of a credit note
CREDITABLE_STATUSES = ("unpaid", "paid")
LIST_PARAMETERS = ("filter[updated_at_from]", "filter[updated_at_to]", "page", "per_page")
DEFAULT_CONTACT_EMAIL = "facturation@qonto-emulator.invalid"
# what the Factur-X renderer needs from the corrected invoice, beyond the credit note itself
CORRECTED_INVOICE_KEY = "corrected_invoice"
_INVOICE_FIELDS_FOR_DOCUMENT = (
    "number",
    "issue_date",
    "performance_start_date",
    "performance_end_date",
    "discount_conditions",
    "late_payment_penalties",
    "legal_fixed_compensation",
)


def number_taken(connection: sqlite3.Connection, number: str) -> bool:
    """Numbers are unique within the organization, invoices and credit notes together."""
    row = connection.execute(
        "SELECT 1 FROM credit_notes WHERE number = ?"
        " UNION ALL SELECT 1 FROM invoices WHERE number = ? OR requested_number = ? LIMIT 1",
        (number, number, number),
    ).fetchone()
    return row is not None


class CreditNoteBook:
    """Credit-note operations inside one transaction, next to the invoices they correct."""

    def __init__(self, invoices: InvoiceBook) -> None:
        self.invoices = invoices
        self.connection = invoices.connection
        self.now_ms = invoices.now_ms

    # ---- writes --------------------------------------------------------------------------------

    def create(self, body: CreditNoteCreate) -> dict[str, Any]:
        invoice = self._creditable_invoice(body)
        items = [item_to_storage(item) for item in body.items]
        amounts = stored_invoice_amounts(items)
        total_cents = to_cents(amounts.total)
        self._check_remaining(invoice, total_cents)
        if body.number is not None and number_taken(self.connection, body.number):
            raise api_error(
                422,
                "taken",
                f"number {body.number} is already used in this organization",
                pointer=field_pointer("number"),
            )
        issue_date = body.issue_date
        number = body.number or self._next_number(issue_date.year)
        credit_note_id = str(uuid.uuid4())
        data = {
            "issue_date": issue_date.isoformat(),
            "currency": body.currency,
            "reason": body.reason,
            "terms_and_conditions": body.terms_and_conditions,
            "contact_email": body.contact_email or DEFAULT_CONTACT_EMAIL,
            "items": items,
            "invoice": {name: invoice.get(name) for name in _INVOICE_FIELDS_FOR_DOCUMENT},
        }
        self.connection.execute(
            "INSERT INTO credit_notes (id, invoice_id, number, created_at, updated_at, attachment_id, total_cents,"
            " data, client_snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                credit_note_id,
                invoice["id"],
                number,
                self.now_ms,
                self.now_ms,
                str(uuid.uuid4()),
                total_cents,
                json.dumps(data),
                json.dumps(invoice["client"]),
            ),
        )
        row = self._row(credit_note_id)
        render_delay_ms = max(1, round(self.invoices.config.render_delay_s * 1000))
        attachments.add_version(
            self.connection,
            attachment_id=row["attachment_id"],
            invoice_id=credit_note_id,
            kind=attachments.final_credit_note_kind(self.invoices.config.einvoicing_disabled),
            version_ms=self.now_ms + render_delay_ms,
            now_ms=self.now_ms,
            source=self.document_source(row),
        )
        if self._credited_cents(invoice["id"]) == invoice["total_amount_cents"]:
            self.invoices.cancel_fully_credited(invoice["id"])
        return self.to_json(row)

    # ---- reads ---------------------------------------------------------------------------------

    def get(self, credit_note_id: str) -> dict[str, Any]:
        return self.to_json(self._row(credit_note_id))

    def list(self, query: Mapping[str, str]) -> dict[str, Any]:
        check_parameters(query, LIST_PARAMETERS)
        request = page_request(query)
        conditions: list[str] = []
        values: list[Any] = []
        for parameter, operator in (("filter[updated_at_from]", ">="), ("filter[updated_at_to]", "<=")):
            instant = instant_parameter(query, parameter)
            if instant is not None:
                conditions.append(f"updated_at {operator} ?")
                values.append(instant)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        total = self.connection.execute(f"SELECT COUNT(*) FROM credit_notes{where}", values).fetchone()[0]  # noqa: S608
        rows = self.connection.execute(
            f"SELECT * FROM credit_notes{where} ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?",  # noqa: S608
            (*values, request.per_page, request.offset),
        ).fetchall()
        return {"credit_notes": [self.to_json(row) for row in rows], "meta": page_meta(request, total)}

    def all_credit_notes(self) -> list[dict[str, Any]]:
        rows = self.connection.execute("SELECT * FROM credit_notes ORDER BY created_at, seq").fetchall()
        return [self.to_json(row) for row in rows]

    # ---- the JSON object -----------------------------------------------------------------------

    def to_json(self, row: sqlite3.Row, *, for_document: bool = False) -> dict[str, Any]:
        data = json.loads(row["data"])
        currency = data["currency"]
        items = data["items"]
        amounts = stored_invoice_amounts(items)
        due = attachments.final_due(self.connection, row["attachment_id"])
        visible = for_document or (due is not None and self.now_ms >= due)
        # Qonto presents a credit note negatively: quantities, line and document amounts
        return {
            "id": row["id"],
            "invoice_id": row["invoice_id"],
            "attachment_id": row["attachment_id"] if visible else None,
            "number": row["number"],
            "issue_date": data["issue_date"],
            "invoice_issue_date": data["invoice"]["issue_date"],
            "reason": data.get("reason"),
            "terms_and_conditions": data.get("terms_and_conditions"),
            "header": None,
            "footer": None,
            "currency": currency,
            **money_fields("vat_amount", -amounts.vat, currency),
            **money_fields("total_amount", -amounts.total, currency),
            "contact_email": data.get("contact_email"),
            "invoice_url": f"https://pay.qonto-emulator.invalid/credit_notes/{row['id']}",
            "einvoicing_status": None,
            "welfare_fund": None,
            "withholding_tax": None,
            "stamp_duty_amount": None,
            "created_at": format_paris(row["created_at"]),
            "updated_at": format_paris(row["updated_at"]),
            "finalized_at": format_paris(row["created_at"]),
            "items": [_item_json(item, line, currency) for item, line in zip(items, amounts.lines, strict=True)],
            "client": json.loads(row["client_snapshot"]),
        }

    def document_source(self, row: sqlite3.Row) -> dict[str, Any]:
        """What the renderer receives: the credit note as the API shows it, plus the corrected invoice."""
        data = json.loads(row["data"])
        return {**self.to_json(row, for_document=True), CORRECTED_INVOICE_KEY: data["invoice"]}

    # ---- helpers -------------------------------------------------------------------------------

    def _row(self, credit_note_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.connection.execute(
            "SELECT * FROM credit_notes WHERE id = ?", (credit_note_id,)
        ).fetchone()
        if row is None:
            raise not_found("credit note", credit_note_id)
        return row

    def _creditable_invoice(self, body: CreditNoteCreate) -> dict[str, Any]:
        pointer = field_pointer("invoice_id")
        found = self.connection.execute("SELECT id FROM invoices WHERE id = ?", (body.invoice_id,)).fetchone()
        if found is None:
            raise api_error(422, "not_found", f"client invoice {body.invoice_id} not found", pointer=pointer)
        invoice = self.invoices.get(body.invoice_id)
        if invoice["status"] not in CREDITABLE_STATUSES:
            raise api_error(
                422,
                "invalid_invoice_status",
                f"only a finalized (unpaid or paid) invoice can be credited; this invoice is {invoice['status']}",
                pointer=pointer,
            )
        if body.currency != invoice["currency"]:
            raise api_error(
                422,
                "invalid_currency",
                f"currency {body.currency} does not match the invoice's currency {invoice['currency']}",
                pointer=field_pointer("currency"),
            )
        if body.issue_date < date.fromisoformat(invoice["issue_date"]):
            raise api_error(
                422,
                "invalid_date",
                f"issue_date cannot be before the invoice's issue date {invoice['issue_date']}",
                pointer=field_pointer("issue_date"),
            )
        return invoice

    def _credited_cents(self, invoice_id: str) -> int:
        row = self.connection.execute(
            "SELECT COALESCE(SUM(total_cents), 0) FROM credit_notes WHERE invoice_id = ?", (invoice_id,)
        ).fetchone()
        return int(row[0])

    def _check_remaining(self, invoice: Mapping[str, Any], total_cents: int) -> None:
        remaining = int(invoice["total_amount_cents"]) - self._credited_cents(invoice["id"])
        if total_cents > remaining:
            currency = invoice["currency"]
            raise api_error(
                422,
                "credit_notes_exceed_invoice_total",
                f"this credit note totals {format_amount(Decimal(total_cents) / 100)} {currency} (VAT included) but"
                f" only {format_amount(Decimal(remaining) / 100)} {currency} of invoice {invoice['number']} remain"
                " uncredited: the credit notes of an invoice cannot exceed its total",
                pointer=field_pointer("items"),
            )

    def _next_number(self, year: int) -> str:
        while True:
            self.connection.execute(
                "INSERT INTO credit_note_sequences (year, last) VALUES (?, 1)"
                " ON CONFLICT (year) DO UPDATE SET last = last + 1",
                (year,),
            )
            last = self.connection.execute("SELECT last FROM credit_note_sequences WHERE year = ?", (year,)).fetchone()[
                0
            ]
            number = f"{NUMBER_PREFIX}-{year}-{last:05d}"
            # skip numbers a client chose by hand
            if not number_taken(self.connection, number):
                return number


def _item_json(item: Mapping[str, Any], line: LineAmounts, currency: str) -> dict[str, Any]:
    unit_price = Decimal(item["unit_price"])
    return {
        "title": item["title"],
        "description": item.get("description"),
        "quantity": format_number(-Decimal(item["quantity"])),
        "unit": item.get("unit"),
        "unit_price": money(unit_price, currency),
        "unit_price_cents": money_fields("unit_price", unit_price, currency)["unit_price_cents"],
        "vat_rate": format_number(Decimal(item["vat_rate"])),
        "vat_exemption_reason": item.get("vat_exemption_reason"),
        # value as sent, amount negated with the line (subtotal = quantity × unit_price − amount still holds)
        "discount": discount_json(item.get("discount"), line, currency, sign=-1),
        **money_fields("total_vat", -line.total_vat, currency),
        **money_fields("total_amount", -line.total_amount, currency),
        **money_fields("subtotal", -line.subtotal, currency),
    }
