"""The deterministic reference we put on every invoice, and how we find it again in Qonto.

Qonto cannot filter invoices by client or by any field we control, and has no idempotency key on
invoice creation. So each invoice carries ``BP-<period>-<customer_id>`` in its header, a field that
is printed on the invoice (harmless for the customer, useful for their accounting) and returned by
the list endpoint. Listing invoices created since the period began and parsing this reference tells
us, before any create, whether the invoice already exists.
"""

from __future__ import annotations

import re

_REFERENCE = re.compile(r"Billing reference: (BP-\d{4}-\d{2}-\S+)")


def invoice_reference(customer_id: str, period: str) -> str:
    return f"BP-{period}-{customer_id}"


def invoice_header(reference: str, period_label: str) -> str:
    return f"Billing reference: {reference} — usage for {period_label}"


def reference_from_header(header: str | None) -> str | None:
    if not header:
        return None
    match = _REFERENCE.search(header)
    return match.group(1) if match else None
