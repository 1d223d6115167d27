"""What ``draft_invoices`` did for each customer: the outcomes a finance person reads in the UI."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from billing_pipeline.billing.models import InvoicePlan
from billing_pipeline.invoicing.errors import UnresolvedCreate
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.qonto.models import ClientInvoice

DraftAction = Literal["created", "adopted", "updated", "unchanged", "locked", "deleted", "canceled", "abandoned"]


class DraftOutcome(BaseModel):
    customer_id: str
    reference: str
    invoice_id: str | None
    number: str | None = None
    status: str
    action: DraftAction
    plan_net: Decimal | None
    plan_vat: Decimal | None
    plan_total: Decimal | None
    qonto_vat: Decimal | None
    qonto_total: Decimal | None
    content_changed_after_finalize: bool = False
    note: str | None = None

    @property
    def totals_match(self) -> bool:
        if self.action in ("canceled", "deleted", "abandoned"):
            return True  # nothing billed under this reference: the billing check names it instead
        if self.action == "locked" and self.content_changed_after_finalize:
            return True  # finalized, then the usage changed: invoice_corrections corrects it (never edited)
        return self.plan_total == self.qonto_total and self.plan_vat == self.qonto_vat


class DraftReport(BaseModel):
    period: str
    outcomes: list[DraftOutcome]
    duplicates_in_qonto: dict[str, list[str]]
    foreign_invoices: dict[str, list[str]] = {}
    invoices_listed: int

    def not_billed(self) -> list[DraftOutcome]:
        """Planned customers whose invoice a person canceled in Qonto (and that were not re-issued)."""
        return [o for o in self.outcomes if o.action == "canceled"]


# the former names, kept for callers that catch them
UnresolvedInvoiceCreate = UnresolvedCreate


def outcome(
    reference: InvoiceReference,
    plan: InvoicePlan | None,
    invoice: ClientInvoice | None,
    action: DraftAction,
    *,
    late: bool = False,
    note: str | None = None,
) -> DraftOutcome:
    return DraftOutcome(
        customer_id=reference.customer_id,
        reference=str(reference),
        invoice_id=invoice.id if invoice else None,
        number=invoice.number if invoice else None,
        status=invoice.status if invoice else "none",
        action=action,
        plan_net=plan.net_total if plan else None,
        plan_vat=plan.vat_total if plan else None,
        plan_total=plan.total if plan else None,
        qonto_vat=invoice.vat_amount.value if invoice and invoice.vat_amount else None,
        qonto_total=invoice.total_amount.value if invoice and invoice.total_amount else None,
        content_changed_after_finalize=late,
        note=note,
    )
