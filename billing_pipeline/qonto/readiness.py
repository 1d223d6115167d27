"""When is a finalized invoice's Factur-X PDF ready to download?

Qonto renders the Factur-X PDF asynchronously (about 10 s after finalization). Until then the
attachment still serves the draft PDF, which has no embedded ``factur-x.xml``. The documented
signal is the attachment's ``updated_at`` moving strictly past the invoice's ``finalized_at``.
"""

from __future__ import annotations

from billing_pipeline.qonto.models import Attachment, ClientInvoice, CreditNote, InvoiceStatus


def facturx_is_ready(invoice: ClientInvoice, attachment: Attachment | None) -> bool | None:
    """Tri-state readiness of the Factur-X PDF of ``invoice``.

    - ``True``: the invoice is finalized (``unpaid`` or ``paid``) and its attachment was updated
      strictly after ``finalized_at`` (compared as instants, whatever the offsets).
    - ``False``: not ready (a draft or canceled invoice, no attachment yet, an attachment that is
      not the invoice's, or an attachment still older than the finalization).
    - ``None``: cannot tell from timestamps (``updated_at`` or ``finalized_at`` missing). Fallback:
      download the PDF and check that it embeds ``factur-x.xml``; without it, it is the draft.
    """
    if invoice.status not in InvoiceStatus.FINALIZED:
        return False
    if attachment is None or invoice.attachment_id is None:
        return False
    if attachment.id != invoice.attachment_id:
        return False
    if attachment.updated_at is None or invoice.finalized_at is None:
        return None
    return attachment.updated_at > invoice.finalized_at


def credit_note_facturx_is_ready(credit_note: CreditNote, attachment: Attachment | None) -> bool | None:
    """The same tri-state for a credit note, which is final from its creation (it has no status).

    Qonto renders its PDF asynchronously like an invoice's [unconfirmed]: ready once the attachment
    was updated strictly after ``finalized_at``; ``None`` when a timestamp is missing (download and
    look for ``factur-x.xml``).
    """
    if attachment is None or credit_note.attachment_id is None:
        return False
    if attachment.id != credit_note.attachment_id:
        return False
    if attachment.updated_at is None or credit_note.finalized_at is None:
        return None
    return attachment.updated_at > credit_note.finalized_at
