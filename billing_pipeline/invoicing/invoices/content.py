"""What an invoice bills — client, reference, lines, totals — compared between the plan, the ledger
(what we last wrote to Qonto) and Qonto itself.

Review mode rests on this comparison: right before finalizing, the draft Qonto holds must equal the
current plan. When it does not, comparing it with what we last wrote tells *why*: equal to what we
wrote means the usage changed since (sync the draft, then finalize); different from what we wrote
means a person edited it in Qonto (refuse, naming the difference).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from billing_pipeline.billing.mentions import LegalMentions
from billing_pipeline.billing.models import InvoicePlan
from billing_pipeline.invoicing.invoices.records import ExpectedLine, InvoiceRecord, PlannedContent
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.qonto.models import ClientInvoice, InvoiceItem


class InvoiceContent(BaseModel):
    model_config = ConfigDict(frozen=True)
    client_id: str | None
    reference: str | None
    lines: tuple[ExpectedLine, ...]
    vat_total: Decimal | None
    total: Decimal | None


def planned_content(plan: InvoicePlan, mentions: LegalMentions | None = None) -> PlannedContent:
    return PlannedContent(
        digest=plan.content_digest(),
        net_total=plan.net_total,
        vat_total=plan.vat_total,
        total=plan.total,
        lines=tuple(
            ExpectedLine(
                title=line.title,
                description=line.description or "",
                quantity=line.quantity,
                unit=line.unit or None,
                unit_price=line.unit_price,
                vat_rate=line.vat_rate,
                vat_exemption_reason=line.vat_exemption_reason,
                net_amount=line.net_amount,
                discount=line.discount,
            )
            for line in plan.lines
        ),
        buyer_siren=plan.customer.siren,
        mentions=mentions.settings_for(plan.customer) if mentions is not None else None,
    )


def from_plan(plan: InvoicePlan, client_id: str, reference: InvoiceReference) -> InvoiceContent:
    content = planned_content(plan)
    return InvoiceContent(
        client_id=client_id, reference=str(reference), lines=content.lines, vat_total=plan.vat_total, total=plan.total
    )


def from_record(record: InvoiceRecord) -> InvoiceContent | None:
    """What we last wrote to Qonto, or None when the ledger does not know the lines (older rows)."""
    lines = record.expected()
    if lines is None or record.total is None or record.vat_total is None:
        return None
    return InvoiceContent(
        client_id=record.client_id,
        reference=record.reference,
        lines=tuple(lines),
        vat_total=record.vat_total.amount,
        total=record.total.amount,
    )


def from_qonto(invoice: ClientInvoice) -> InvoiceContent:
    reference = InvoiceReference.from_header(invoice.header)
    return InvoiceContent(
        client_id=invoice.client_id,
        reference=str(reference) if reference else None,
        lines=tuple(
            ExpectedLine(
                title=(item.title or "").strip(),
                description=(item.description or "").strip(),
                quantity=item.quantity,
                unit=item.unit or None,
                unit_price=item.unit_price.value,
                vat_rate=item.vat_rate,
                vat_exemption_reason=item.vat_exemption_reason or None,
                net_amount=item.subtotal.value if item.subtotal is not None else Decimal("-1"),
                discount=_discount(item),
            )
            for item in invoice.items
        ),
        vat_total=invoice.vat_amount.value if invoice.vat_amount else None,
        total=invoice.total_amount.value if invoice.total_amount else None,
    )


def _discount(item: InvoiceItem) -> Decimal | None:
    """What the item's discount took off, as we plan it (cents, None for none); a discount whose
    amount Qonto does not give is shown as -1 so that it can never pass for ours."""
    if item.discount is None or not item.discount.value:
        return None
    taken_off = item.discount.taken_off
    return taken_off if taken_off is not None else Decimal("-1")


_LINE_FIELDS = (
    "title",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "vat_rate",
    "vat_exemption_reason",
    "discount",
)


def differences(want: InvoiceContent, have: InvoiceContent, *, want_label: str, have_label: str) -> list[str]:
    """Every difference, in words a finance person reads: ``line 2 quantity: plan 5, Qonto 7``."""
    found: list[str] = []

    def differ(label: str, a: object, b: object) -> None:
        if a != b:
            found.append(f"{label}: {want_label} {_shown(a)}, {have_label} {_shown(b)}")

    differ("client", want.client_id, have.client_id)
    differ("reference", want.reference, have.reference)
    differ("number of lines", len(want.lines), len(have.lines))
    for position, (a, b) in enumerate(zip(want.lines, have.lines, strict=False), start=1):
        for field in _LINE_FIELDS:
            differ(f"line {position} {field}", _clean(getattr(a, field)), _clean(getattr(b, field)))
    differ("VAT total", want.vat_total, have.vat_total)
    differ("total", want.total, have.total)
    return found


def _clean(value: object) -> object:
    if isinstance(value, str):
        return value.strip() or None
    return value


def _shown(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"
    return "none" if value is None else str(value)


def mentions_differ(planned: dict[str, str] | None, invoice: ClientInvoice) -> bool:
    """Whether a draft lacks the mandatory mentions we would send now (e.g. drafted before they existed)."""
    if planned is None:
        return False
    return any(
        planned.get(field) != getattr(invoice, field)
        for field in ("discount_conditions", "late_payment_penalties", "legal_fixed_compensation")
    )
