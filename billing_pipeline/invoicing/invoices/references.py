"""The deterministic reference we put on every invoice, and how we find it again in Qonto.

Qonto cannot filter invoices by client or by any field we control, and has no idempotency key on
invoice creation. So each invoice carries ``BP-<period>-<customer_id>`` in its header, a field that
is printed on the invoice (harmless for the customer, useful for their accounting) and returned by
the list endpoint. Listing invoices created since the period began and parsing this reference tells
us, before any create, whether the invoice already exists.

The reference is formatted and parsed here only. It is unambiguous because customer ids follow the
customer-id rule (``billing/customer_ids.py``): the id ends at the first character outside its
charset, so ``BP-2026-10-acme`` and ``BP-2026-10-acme-x`` are two references, never one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from billing_pipeline.billing.customer_ids import CUSTOMER_ID_PATTERN, customer_id
from billing_pipeline.billing.periods import BillingPeriod

_PREFIX = "BP"
_HEADER_LABEL = "Billing reference: "
_REFERENCE = re.compile(rf"{_PREFIX}-(\d{{4}}-\d{{2}})-({CUSTOMER_ID_PATTERN})")
# in a header the id must end where its charset ends (no silent truncation of a longer token)
_IN_HEADER = re.compile(rf"{re.escape(_HEADER_LABEL)}{_REFERENCE.pattern}(?![A-Za-z0-9._-])")


@dataclass(frozen=True, order=True)
class InvoiceReference:
    """``BP-<period>-<customer_id>``: which customer and billing period a Qonto invoice bills."""

    period: BillingPeriod
    customer_id: str

    def __post_init__(self) -> None:
        customer_id(self.customer_id)  # raises ValueError naming the rule

    @classmethod
    def of(cls, customer: str, period: BillingPeriod | str) -> InvoiceReference:
        return cls(BillingPeriod.of(period), customer)

    @classmethod
    def parse(cls, text: str) -> InvoiceReference:
        match = _REFERENCE.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not an invoice reference BP-<YYYY-MM>-<customer id>")
        return cls(BillingPeriod.parse(match.group(1)), match.group(2))

    @classmethod
    def from_header(cls, header: str | None) -> InvoiceReference | None:
        """The reference printed in an invoice header, or None when the header carries none of ours."""
        if not header:
            return None
        match = _IN_HEADER.search(header)
        if match is None:
            return None
        try:
            return cls(BillingPeriod.parse(match.group(1)), match.group(2))
        except ValueError:
            return None  # e.g. "BP-2026-13-…": not a month, so not one of ours

    def header(self) -> str:
        return f"{_HEADER_LABEL}{self} — usage for {self.period.label}"

    def __str__(self) -> str:
        return f"{_PREFIX}-{self.period.key}-{self.customer_id}"
