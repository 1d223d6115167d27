"""An invoice line while pricing builds it: its values and what it bills, validated once at the end.

A line's net is known as soon as its component is priced, but not what it finally bills: the
minimum commitment's true-up needs the nets before it, and coupons take their share of a row's
lines in invoice order. Drafts carry the values through those steps; ``line`` then builds the
``InvoiceLine`` — whose own check (net = quantity × price − discount) is the only one that counts —
once per line, however many coupons touched it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing_pipeline.billing.models import InvoiceLine


@dataclass(slots=True)
class LineDraft:
    title: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: Decimal
    vat_exemption_reason: str | None
    net_amount: Decimal
    metric: str | None  # the metric whose usage it bills; None: a fee (monthly fee, commitment true-up)
    discount: Decimal | None = None
    discount_reason: str | None = None

    @property
    def is_fee(self) -> bool:
        return self.metric is None

    def line(self) -> InvoiceLine:
        """The invoice line (raises ``ValidationError`` if the values break an invoice line's rules)."""
        return InvoiceLine(
            title=self.title,
            description=self.description,
            quantity=self.quantity,
            unit=self.unit,
            unit_price=self.unit_price,
            vat_rate=self.vat_rate,
            vat_exemption_reason=self.vat_exemption_reason,
            net_amount=self.net_amount,
            discount=self.discount,
            discount_reason=self.discount_reason,
        )


__all__ = ["LineDraft"]
