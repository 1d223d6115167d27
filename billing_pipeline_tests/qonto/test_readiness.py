"""facturx_is_ready: strictly later instants, whatever the offsets; None when it cannot tell."""

from __future__ import annotations

from billing_pipeline.qonto import Attachment, ClientInvoice, facturx_is_ready
from billing_pipeline_tests.qonto.conftest import attachment_payload, invoice_payload


def invoice(
    status: str = "unpaid", finalized_at: str | None = "2026-02-01T11:00:00+02:00", **extra: object
) -> ClientInvoice:
    return ClientInvoice.model_validate(invoice_payload(status=status, finalized_at=finalized_at, **extra))


def attachment(updated_at: str | None, attachment_id: str = "att-1") -> Attachment:
    return Attachment.model_validate(attachment_payload(attachment_id=attachment_id, updated_at=updated_at))


def test_ready_only_when_strictly_later_as_instants() -> None:
    # finalized 09:00:00Z; offsets differ between the two timestamps
    assert facturx_is_ready(invoice(), attachment("2026-02-01T09:00:10.000Z")) is True
    assert facturx_is_ready(invoice(), attachment("2026-02-01T09:00:00.000Z")) is False  # equal: not later
    assert facturx_is_ready(invoice(), attachment("2026-02-01T10:59:59+02:00")) is False
    # a string comparison would say "10:00" > "11:00" is false; as instants 10:00+00 is later
    assert facturx_is_ready(invoice(), attachment("2026-02-01T10:00:00+00:00")) is True


def test_not_ready_for_drafts_canceled_and_missing_attachments() -> None:
    later = attachment("2026-02-01T12:00:00Z")
    assert facturx_is_ready(invoice(status="draft", finalized_at=None), later) is False
    assert facturx_is_ready(invoice(status="canceled"), later) is False
    assert facturx_is_ready(invoice(), None) is False
    assert facturx_is_ready(invoice(attachment_id=None), later) is False
    assert facturx_is_ready(invoice(), attachment("2026-02-01T12:00:00Z", attachment_id="other")) is False
    assert facturx_is_ready(invoice(status="paid"), later) is True


def test_unknown_when_timestamps_are_missing() -> None:
    assert facturx_is_ready(invoice(), attachment(None)) is None
    assert facturx_is_ready(invoice(finalized_at=None), attachment("2026-02-01T12:00:00Z")) is None
