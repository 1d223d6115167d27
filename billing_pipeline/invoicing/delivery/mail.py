"""The email that carries an invoice (Qonto attaches the invoice's PDF itself)."""

from __future__ import annotations

from billing_pipeline.qonto.delivery_calls import InvoiceEmail
from billing_pipeline.qonto.models import ClientInvoice


def _amount(invoice: ClientInvoice) -> str:
    total = invoice.total_amount
    return f"{total.value} {total.currency}" if total is not None else "-"


def invoice_email(invoice: ClientInvoice, locale: str | None, recipients: list[str]) -> InvoiceEmail:
    number = invoice.number or invoice.id
    start, end, due = invoice.performance_start_date, invoice.performance_end_date, invoice.due_date
    if (locale or "fr").lower().startswith("fr"):
        title = f"Facture {number}"
        body = (
            f"Bonjour,\n\nVeuillez trouver ci-jointe la facture {number} pour la période du {start} au {end}, "
            f"d'un montant de {_amount(invoice)} TTC, payable au plus tard le {due}.\n\nCordialement."
        )
    else:
        title = f"Invoice {number}"
        body = (
            f"Hello,\n\nPlease find attached invoice {number} for the period {start} to {end}, "
            f"amounting to {_amount(invoice)} including VAT, due on {due}.\n\nBest regards."
        )
    return InvoiceEmail(send_to=recipients, email_title=title, email_body=body)
