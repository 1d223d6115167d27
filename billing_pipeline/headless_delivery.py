"""What ``bill`` reports and waits for about delivery (see invoicing/delivery/service.py)."""

from __future__ import annotations

from typing import Any

import click

from billing_pipeline.invoicing.delivery.records import DONE, IN_PROGRESS, NEEDS_A_PERSON, DeliveryRecord
from billing_pipeline.invoicing.ledger import InvoiceState


def delivery_json(record: DeliveryRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "channel": record.channel.value,
        "status": record.state.value,
        "events": record.events,
        "recipients": record.recipients,
        "sent_at": record.sent_at.isoformat() if record.sent_at else None,
        "reason": record.last_error if record.state in NEEDS_A_PERSON else None,
    }


def _verified_not_delivered(ledger: Any, period: str, deliveries: dict[str, DeliveryRecord]) -> bool:
    return any(r.state == InvoiceState.STORED and r.invoice_id not in deliveries for r in ledger.invoices(period))


def delivery_pending(ledger: Any, period: str) -> bool:
    """A verified invoice not delivered yet, or a delivery still moving (sending, on the network, resend)."""
    deliveries = {d.invoice_id: d for d in ledger.deliveries(period)}
    if any(d.state in IN_PROGRESS for d in deliveries.values()):
        return True
    return _verified_not_delivered(ledger, period, deliveries)


def delivery_moved(qonto: Any, ledger: Any, period: str) -> bool:
    """Whether a delivery run has something to do now (the bill --wait loop asks before each run)."""
    from billing_pipeline.defs.delivery.sensor import lifecycle_moved
    from billing_pipeline.defs.resources import run_async
    from billing_pipeline.invoicing.delivery.records import DeliveryState

    deliveries = {d.invoice_id: d for d in ledger.deliveries(period)}
    if any(d.state in (DeliveryState.RESEND, DeliveryState.SENDING) for d in deliveries.values()):
        return True
    if _verified_not_delivered(ledger, period, deliveries):
        return True
    submitted = [d for d in deliveries.values() if d.state == DeliveryState.SUBMITTED]
    return bool(submitted) and bool(run_async(lifecycle_moved(qonto, submitted)))


def deliveries_done(records: list[Any], deliveries: dict[str, DeliveryRecord]) -> bool:
    """Every stored invoice delivered: an email accepted by Qonto, an e-invoice received."""
    stored = [r for r in records if r.state == InvoiceState.STORED]
    return all(r.invoice_id in deliveries and deliveries[r.invoice_id].state in DONE for r in stored)


def name_deliveries_not_done(records: list[Any], deliveries: dict[str, DeliveryRecord]) -> None:
    for record in records:
        if record.state != InvoiceState.STORED:
            continue
        delivery = deliveries.get(record.invoice_id or "")
        if delivery is None:
            click.echo(f"NOT DELIVERED: customer {record.customer_id} — invoice {record.number} not sent yet", err=True)
        elif delivery.state in NEEDS_A_PERSON:
            click.echo(
                f"DELIVERY {delivery.state.value.upper()}: customer {record.customer_id} — invoice {record.number} "
                f"({delivery.channel.value}): {delivery.last_error or ''} — see `billing-pipeline delivery resolve "
                "--help`",
                err=True,
            )
        elif delivery.state not in DONE:
            click.echo(
                f"DELIVERY PENDING: customer {record.customer_id} — invoice {record.number} is "
                f"{delivery.state.value} ({delivery.channel.value})",
                err=True,
            )
