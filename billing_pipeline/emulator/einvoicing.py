"""``send_by_einvoice``, the French e-invoicing lifecycle (qonto-api.md §8.3, §9) and the settings (§11).

Qonto documents: a 204 means "accepted for processing"; the invoice ``status`` does not change; a
second call after a request "completes successfully and does not resubmit"; the progress shows in
``einvoicing_lifecycle_events`` (200 submitted, 201 issued by the platform, 202 received by the
recipient's platform) and ``einvoicing_status``; sandbox does not support e-invoicing.

Like the Factur-X swap, nothing runs in the background: a submission stores its time, its step
delay and the buyer's answer (refuse or not, decided once from the server options), and every read
derives the events from the business clock — so every process on the state file agrees.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from .clock import format_paris, format_utc
from .config import EmulatorConfig
from .errors import api_error
from .siren import client_siren, e_invoicing_reachable

SUBMITTED = 200  # déposée
ISSUED = 201  # émise par la plateforme
RECEIVED = 202  # reçue par la plateforme du destinataire
REFUSED = 210  # refusée par le destinataire
REFUSAL_REASON = "REFUSED"
REFUSAL_MESSAGE = "Facture refusée par le destinataire (refus émulé : SIREN listé dans --einvoicing-refuse)"

# the emulator's reading of Qonto's enum (pending|submitted|declined|approved|not_delivered|
# submission_failed) [unconfirmed]: null before any submission, then by the latest event
_STATUS_BY_CODE = {SUBMITTED: "submitted", ISSUED: "submitted", RECEIVED: "approved", REFUSED: "declined"}
FINALIZED_SENDABLE = ("unpaid", "paid")


def settings(config: EmulatorConfig) -> dict[str, str]:
    """``GET /v2/einvoicing/settings`` (qonto-api.md §11): exactly the two documented fields, as the docs
    show them, at the top level of the body. ``sending_status`` is whether e-invoicing is activated;
    the emulated organization receives e-invoices whenever it sends them (``pending_creation`` and
    ``pending_deletion`` of ``receiving_status`` are never produced)."""
    status = "disabled" if config.einvoicing_disabled else "enabled"
    return {"sending_status": status, "receiving_status": status}


def submit(
    connection: sqlite3.Connection,
    invoice: sqlite3.Row,
    client: Mapping[str, Any] | None,
    config: EmulatorConfig,
    now_ms: int,
) -> None:
    """Record the submission once; a repeated call is a success that changes nothing."""
    existing = connection.execute(
        "SELECT 1 FROM einvoice_submissions WHERE invoice_id = ?", (invoice["id"],)
    ).fetchone()
    if existing is not None:
        return
    if invoice["status"] not in FINALIZED_SENDABLE:
        raise api_error(
            422,
            "invalid_invoice_status",
            f"only a finalized (unpaid or paid) invoice can be sent by e-invoice; this invoice is {invoice['status']}",
        )
    if client is None or not e_invoicing_reachable(client, config.einvoicing_unreachable):
        raise api_error(
            422,
            "client_not_reachable",
            "the client is not reachable on the e-invoicing network (e_invoicing_reachable is false); "
            "send the invoice by email instead",
        )
    siren = client_siren(client) or ""
    connection.execute(
        "INSERT INTO einvoice_submissions (invoice_id, number, submitted_at, step_ms, buyer_siren, refused)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            invoice["id"],
            invoice["number"],
            now_ms,
            round(config.einvoicing_delay_s * 1000),
            siren,
            int(siren in config.einvoicing_refuse),
        ),
    )


def _event(code: int, at_ms: int) -> dict[str, Any]:
    refused = code == REFUSED
    return {
        "status_code": code,
        "reason": REFUSAL_REASON if refused else None,
        "reason_message": REFUSAL_MESSAGE if refused else None,
        "timestamp": format_paris(at_ms),
    }


def lifecycle(connection: sqlite3.Connection, invoice_id: str, now_ms: int) -> tuple[str | None, list[dict[str, Any]]]:
    """(``einvoicing_status``, ``einvoicing_lifecycle_events`` oldest first) as of ``now_ms``."""
    row = connection.execute(
        "SELECT submitted_at, step_ms, refused FROM einvoice_submissions WHERE invoice_id = ?", (invoice_id,)
    ).fetchone()
    if row is None:
        return None, []
    start, step = int(row["submitted_at"]), int(row["step_ms"])
    steps = ((SUBMITTED, start), (ISSUED, start + step), (REFUSED if row["refused"] else RECEIVED, start + 2 * step))
    events = [_event(code, at_ms) for code, at_ms in steps if at_ms <= now_ms]
    return _STATUS_BY_CODE[events[-1]["status_code"]], events


def submissions_state(connection: sqlite3.Connection) -> list[dict[str, Any]]:
    """The ``einvoice_submissions`` key of ``GET /_emulator/state``."""
    rows = connection.execute("SELECT * FROM einvoice_submissions ORDER BY submitted_at, invoice_id").fetchall()
    return [
        {
            "invoice_id": row["invoice_id"],
            "number": row["number"],
            "submitted_at": format_utc(row["submitted_at"]),
            "buyer_siren": row["buyer_siren"],
            "refused": bool(row["refused"]),
        }
        for row in rows
    ]
