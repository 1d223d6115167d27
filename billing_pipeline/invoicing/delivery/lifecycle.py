"""Where an e-invoice is on the French network, from Qonto's ``einvoicing_lifecycle_events``.

The lifecycle statuses of the reform (norme XP Z12-012 / the DGFiP's specifications), as Qonto reports
them in ``status_code``: 200 déposée (submitted), 201 émise par la plateforme (issued), 202 reçue par
la plateforme du destinataire (received), 203 mise à disposition, 204 prise en charge, 205 approuvée,
206 approuvée partiellement, 207 en litige, 208 suspendue, 209 complétée, 210 refusée, 211 paiement
transmis, 212 encaissée, 213 rejetée (by the platform), 214 visée. The latest event decides; when
there is none, Qonto's ``einvoicing_status`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from billing_pipeline.invoicing.delivery.records import DeliveryRecord, DeliveryState
from billing_pipeline.qonto.invoice_models import EInvoicingLifecycleEvent

if TYPE_CHECKING:
    from billing_pipeline.qonto.client import QontoClient
    from billing_pipeline.qonto.models import ClientInvoice

# a submitted e-invoice followed from listings is read in full at least this often
FULL_READ_AFTER_S = 900

LABELS = {
    200: "submitted",
    201: "issued by the platform",
    202: "received by the buyer's platform",
    203: "made available to the buyer",
    204: "taken in charge by the buyer",
    205: "approved",
    206: "partially approved",
    207: "disputed",
    208: "suspended",
    209: "completed",
    210: "refused by the buyer",
    211: "payment sent",
    212: "paid",
    213: "rejected by the platform",
    214: "approved (visa)",
}
_STATE_OF_CODE = {
    200: DeliveryState.SUBMITTED,
    201: DeliveryState.SUBMITTED,
    207: DeliveryState.DISPUTED,
    208: DeliveryState.DISPUTED,
    210: DeliveryState.REFUSED,
    213: DeliveryState.FAILED,
}
_STATE_OF_STATUS = {
    "approved": DeliveryState.RECEIVED,
    "declined": DeliveryState.REFUSED,
    "not_delivered": DeliveryState.FAILED,
    "submission_failed": DeliveryState.FAILED,
}


def lifecycle_state(
    events: Sequence[EInvoicingLifecycleEvent], einvoicing_status: str | None
) -> tuple[DeliveryState, str | None]:
    """The delivery state the lifecycle shows, and for a bad outcome the code and reason as text."""
    if events:
        latest = max(enumerate(events), key=lambda pair: (pair[1].timestamp is not None, pair[1].timestamp, pair[0]))[1]
        state = _STATE_OF_CODE.get(latest.status_code, DeliveryState.RECEIVED if latest.status_code >= 202 else None)
        if state is None:
            state = DeliveryState.SUBMITTED
        if state in (DeliveryState.SUBMITTED, DeliveryState.RECEIVED):
            return state, None
        return state, describe(latest)
    state = _STATE_OF_STATUS.get(einvoicing_status or "", DeliveryState.SUBMITTED)
    if state in (DeliveryState.SUBMITTED, DeliveryState.RECEIVED):
        return state, None
    return state, f"einvoicing_status {einvoicing_status}"


def describe(event: EInvoicingLifecycleEvent) -> str:
    label = LABELS.get(event.status_code, "status")
    text = f"{event.status_code} {label}"
    details = " — ".join(p for p in (event.reason, event.reason_message) if p)
    return f"{text}: {details}" if details else text


def event_dicts(events: Sequence[EInvoicingLifecycleEvent]) -> list[dict[str, Any]]:
    return [
        {
            "status_code": e.status_code,
            "label": LABELS.get(e.status_code),
            "reason": e.reason,
            "reason_message": e.reason_message,
            "timestamp": e.timestamp.isoformat() if e.timestamp else None,
        }
        for e in events
    ]


def listed_is_fresh(record: DeliveryRecord, now: datetime | None = None) -> bool:
    """May the list view (``einvoicing_status``, no events) stand for this e-invoice's full read? Only
    while the ledger's last full look is recent: a move the status does not show (e.g. a dispute
    while ``submitted``) is then seen within ``FULL_READ_AFTER_S``."""
    looked = record.checked_at or record.sent_at or record.updated_at
    return ((now or datetime.now(UTC)) - looked).total_seconds() < FULL_READ_AFTER_S


async def lifecycle_moved(
    qonto: QontoClient, submitted: Sequence[DeliveryRecord], listed: Mapping[str, ClientInvoice] | None = None
) -> list[DeliveryRecord]:
    """The submitted e-invoices whose lifecycle in Qonto is not what the ledger last recorded: from
    ``listed`` (the list view, by id) when it shows the invoice and ``listed_is_fresh``, else one GET
    each (callers bound how many they pass). Only reads: the delivery run records what moved."""
    moved = []
    for record in submitted:
        shown = (listed or {}).get(record.invoice_id)
        if shown is not None and listed_is_fresh(record):
            if shown.einvoicing_status != record.einvoicing_status:
                moved.append(record)
            continue
        invoice = await qonto.get_client_invoice(record.invoice_id)
        events = event_dicts(invoice.einvoicing_lifecycle_events)
        if events != record.events or invoice.einvoicing_status != record.einvoicing_status:
            moved.append(record)
    return moved
