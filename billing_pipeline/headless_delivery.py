"""How ``bill`` reports delivery: the JSON of each invoice's delivery, and the deliveries not done named on
stderr (what it waits for and its exit status come from the read model, ``invoicing/progress``)."""

from __future__ import annotations

from typing import Any

import click

from billing_pipeline.invoicing.delivery.records import DONE, NEEDS_A_PERSON, DeliveryRecord
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
