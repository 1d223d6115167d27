"""Delivery calls of ``QontoClient``: email an invoice, submit it to the e-invoicing network.

``POST /v2/client_invoices/{id}/send`` (qonto-api.md §8.3) emails the finalized invoice; nothing in
Qonto records that an email left, so a send whose answer is lost (5xx, timeout after sending, reset)
raises ``QontoAmbiguousWriteError`` and must not be repeated blindly (the caller records an intent
first and reports "delivery unknown"). ``POST …/send_by_einvoice`` has no body and is accepted
asynchronously (204); Qonto documents a repeated call as a success that does not resubmit, so it is
safe to retry. Its progress is the invoice's ``einvoicing_status`` and ``einvoicing_lifecycle_events``.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from billing_pipeline.qonto.calls import segment
from billing_pipeline.qonto.session import ApiSession
from billing_pipeline.qonto.wire import RequestModel

MAX_RECIPIENTS = 100


class InvoiceEmail(RequestModel):
    """Body of ``POST /v2/client_invoices/{id}/send``."""

    send_to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    email_title: str = Field(min_length=1, max_length=255)
    email_body: str | None = None
    copy_to_self: bool = False  # Qonto's default is true: a copy to ourselves is noise at SaaS scale

    @field_validator("send_to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        for address in cleaned:
            if "@" not in address or any(c.isspace() for c in address):
                raise ValueError(f"not an email address: {address!r}")
        return list(dict.fromkeys(cleaned))  # each recipient once, order kept

    def to_payload(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)


class DeliveryCalls:
    """Mixed into ``QontoClient``, which provides the session."""

    _session: ApiSession

    async def send_client_invoice(self, invoice_id: str, email: InvoiceEmail) -> None:
        """Email a finalized invoice (Qonto attaches its PDF). Not idempotent: see the module doc."""
        await self._session.call("POST", f"/v2/client_invoices/{segment(invoice_id)}/send", body=email.to_payload())

    async def send_client_invoice_by_einvoice(self, invoice_id: str) -> None:
        """Submit a finalized invoice to the e-invoicing network (production only, client reachable)."""
        await self._session.call("POST", f"/v2/client_invoices/{segment(invoice_id)}/send_by_einvoice", idempotent=True)
