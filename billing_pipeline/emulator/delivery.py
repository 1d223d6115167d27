"""``POST /v2/client_invoices/{id}/send``: the invoice emailed, as one RFC 5322 file in the outbox.

Qonto emails the finalized invoice with its PDF attached; nothing in its API records that an
email left. The emulator sends nothing: each accepted call writes ``<invoice number>-<n>.eml``
(n = 1, 2, … per invoice, never overwriting a file) into the outbox and records it in the state
file, so tests can count deliveries (``GET /_emulator/state`` → ``sent_emails``).

The attachment is the invoice's final PDF (Factur-X; plain without e-invoicing), the very bytes
``GET /v2/attachments/{id}`` serves once rendered: when the asynchronous render is not due yet,
the PDF is rendered right away (an email cannot wait) and stored, so the later download is
byte-identical. The attachment's ``updated_at`` still follows the render delay.

Atomicity: the message is written to a temporary file in the outbox, then hard-linked to its
final name, which fails instead of overwriting if another writer took that name; n is allocated
inside the state file's write transaction (``BEGIN IMMEDIATE``), which serializes every process.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

from . import attachments
from .clock import format_utc, to_datetime
from .errors import api_error
from .invoice_view import CONTACT_EMAIL, InvoiceView
from .runtime import EmulatorRuntime
from .schemas import SendIn
from .seed import load_organization
from .store import business_now_ms

SENDABLE = ("unpaid", "paid")
NOTICE = "Email produced by the local Qonto emulator: never sent, not a real invoice."
_UNSAFE = re.compile(r"[^A-Za-z0-9+_.-]")


def _check_sendable(status: str) -> None:
    if status not in SENDABLE:
        raise api_error(
            422,
            "invalid_invoice_status",
            f"only a finalized (unpaid or paid) invoice can be sent; this invoice is {status}",
        )


def send_email(runtime: EmulatorRuntime, invoice_id: str, body: SendIn) -> None:
    with runtime.store.read() as connection:
        now_ms = business_now_ms(connection)
        organization = load_organization(connection)
        view = InvoiceView(connection, runtime.config, organization, now_ms)
        row = view._row(invoice_id)  # 404 for an unknown id
        _check_sendable(row["status"])
        invoice = view.to_json(row)
        due = attachments.final_due(connection, row["attachment_id"])
        version = None if due is None else attachments.version_at(connection, row["attachment_id"], due)
    if version is None:  # every finalized invoice has one; a state file from elsewhere might not
        raise api_error(500, "document_rendering_failed", "the invoice has no final document to attach")
    pdf = attachments.pdf_bytes(runtime, version)  # outside any transaction: rendering is slow
    message = _message(invoice, organization, body, pdf, version.file_name, now_ms)
    outbox = runtime.config.effective_outbox_dir
    with runtime.store.write() as connection:
        current = connection.execute("SELECT status FROM invoices WHERE id = ?", (invoice_id,)).fetchone()
        if current is None:
            raise api_error(404, "not_found", f"client invoice {invoice_id} not found")
        _check_sendable(current["status"])  # canceled meanwhile by another process
        number = str(invoice["number"])
        n, path = _write_new(outbox, _UNSAFE.sub("_", number), message, _next_n(connection, invoice_id))
        connection.execute(
            "INSERT INTO sent_emails (invoice_id, number, n, recipients, subject, file_name, path, copy_to_self,"
            " sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                invoice_id,
                number,
                n,
                json.dumps(body.send_to),
                body.email_title,
                path.name,
                str(path),
                int(body.copy_to_self),
                now_ms,
            ),
        )


def _next_n(connection: sqlite3.Connection, invoice_id: str) -> int:
    last = connection.execute("SELECT MAX(n) FROM sent_emails WHERE invoice_id = ?", (invoice_id,)).fetchone()[0]
    return int(last or 0) + 1


def _write_new(outbox: Path, stem: str, message: bytes, first_n: int) -> tuple[int, Path]:
    """Write ``<stem>-<n>.eml`` for the first n ≥ first_n whose file does not exist yet."""
    outbox.mkdir(parents=True, exist_ok=True)
    existing = [
        int(match.group(1))
        for p in outbox.iterdir()
        if (match := re.fullmatch(rf"{re.escape(stem)}-(\d+)\.eml", p.name))
    ]
    n = max([first_n - 1, *existing]) + 1
    temporary = outbox / f".{stem}.{uuid.uuid4().hex}.tmp"
    with temporary.open("wb") as handle:
        handle.write(message)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        while True:
            final = outbox / f"{stem}-{n}.eml"
            try:
                os.link(temporary, final)  # atomic and never overwrites
                return n, final
            except FileExistsError:
                n += 1
            except OSError:
                # a file system without hard links: rename instead, still under the write lock
                if final.exists():
                    n += 1
                    continue
                os.replace(temporary, final)
                return n, final
    finally:
        temporary.unlink(missing_ok=True)


def _message(
    invoice: dict[str, Any], organization: dict[str, Any], body: SendIn, pdf: bytes, file_name: str, now_ms: int
) -> bytes:
    message = EmailMessage()
    message["From"] = formataddr((str(organization["legal_name"]), CONTACT_EMAIL))
    message["To"] = ", ".join(body.send_to)
    if body.copy_to_self:  # Qonto's copy to the sender; a Bcc keeps it out of the recipients' view
        message["Bcc"] = CONTACT_EMAIL
    message["Subject"] = body.email_title
    message["Date"] = format_datetime(to_datetime(now_ms))
    message["Message-ID"] = make_msgid(domain="qonto-emulator.invalid")
    message["X-Qonto-Emulator"] = NOTICE
    message["X-Qonto-Client-Invoice-Id"] = str(invoice["id"])
    message.set_content(body.email_body or _default_body(invoice, organization))
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=file_name)
    return message.as_bytes(policy=SMTP)


def _default_body(invoice: dict[str, Any], organization: dict[str, Any]) -> str:
    due = date.fromisoformat(invoice["due_date"])
    total = invoice["total_amount"]
    return (
        "Bonjour,\n\n"
        f"Veuillez trouver ci-joint la facture {invoice['number']} d'un montant de {total['value']} "
        f"{total['currency']}, à régler au plus tard le {due:%d/%m/%Y}.\n\n"
        f"Cordialement,\n{organization['legal_name']}\n\n-- \n{NOTICE}\n"
    )


def sent_emails_state(connection: sqlite3.Connection) -> list[dict[str, Any]]:
    """The ``sent_emails`` key of ``GET /_emulator/state``, oldest first."""
    rows = connection.execute("SELECT * FROM sent_emails ORDER BY seq").fetchall()
    return [
        {
            "invoice_id": row["invoice_id"],
            "number": row["number"],
            "n": row["n"],
            "to": json.loads(row["recipients"]),
            "subject": row["subject"],
            "file_name": row["file_name"],
            "copy_to_self": bool(row["copy_to_self"]),
            "sent_at": format_utc(row["sent_at"]),
        }
        for row in rows
    ]
