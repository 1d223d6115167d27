"""Map the billing domain (customers, invoice plans) onto Qonto request payloads."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

from billing_pipeline.billing.mentions import LegalMentions
from billing_pipeline.billing.models import Customer, InvoicePlan
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.qonto.models import (
    Address,
    ClientCreate,
    ClientInvoiceCreate,
    ClientInvoiceUpdate,
    ClientUpdate,
    InvoiceItemInput,
    ItemDiscountInput,
    Money,
)


def _client_fields(customer: Customer) -> dict[str, object]:
    fields: dict[str, object] = {
        "kind": customer.kind,
        "email": customer.email,
        "currency": customer.currency,
        "locale": customer.locale,
        "billing_address": Address(
            street_address=customer.street_address,
            city=customer.city,
            zip_code=customer.zip_code,
            country_code=customer.country_code,
        ),
    }
    if customer.kind == "company":
        fields["name"] = customer.name
    else:
        fields["first_name"] = customer.first_name
        fields["last_name"] = customer.last_name
    if customer.vat_number:
        fields["vat_number"] = customer.vat_number
    if customer.tax_identification_number:
        fields["tax_identification_number"] = customer.tax_identification_number
    if customer.invoice_emails:  # only when given: the digest of every other customer stays the same
        fields["extra_emails"] = list(customer.invoice_emails)
    return fields


def client_create(customer: Customer) -> ClientCreate:
    return ClientCreate.model_validate(_client_fields(customer))


def client_update(customer: Customer) -> ClientUpdate:
    fields = _client_fields(customer)
    fields.pop("kind")  # switching kind has side effects in Qonto (clears VAT numbers): never done implicitly
    fields.setdefault("extra_emails", [])  # addresses removed from customers.csv are removed in Qonto too
    return ClientUpdate.model_validate(fields)


def customer_digest(customer: Customer) -> str:
    """What Qonto knows of a customer; a change means the client must be updated."""
    payload = client_create(customer).model_dump(mode="json", exclude_none=True)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def due_date(issue_date: date, customer: Customer) -> date:
    return issue_date + timedelta(days=customer.payment_terms_days)


def _items(plan: InvoicePlan) -> list[InvoiceItemInput]:
    return [
        InvoiceItemInput(
            title=line.title,
            description=line.description or None,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=Money(value=line.unit_price, currency=plan.currency),
            vat_rate=line.vat_rate,
            vat_exemption_reason=line.vat_exemption_reason,
            # absolute, not percentage: Qonto's rounding of a percentage is unconfirmed, and a line's
            # discount may add up several coupons; the cents we planned are the cents Qonto takes off
            discount=ItemDiscountInput(type="absolute", value=line.discount) if line.discount is not None else None,
        )
        for line in plan.lines
    ]


def invoice_create(
    plan: InvoicePlan,
    *,
    client_id: str,
    iban: str,
    issue_date: date,
    reference: InvoiceReference,
    mentions: LegalMentions | None = None,
) -> ClientInvoiceCreate:
    period = reference.period
    return ClientInvoiceCreate(
        client_id=client_id,
        status="draft",
        issue_date=issue_date,
        due_date=due_date(issue_date, plan.customer),
        performance_start_date=period.first_day,
        performance_end_date=period.last_day,
        currency=plan.currency,
        payment_methods={"iban": iban},
        purchase_order=plan.customer.purchase_order or None,
        header=reference.header(),
        settings=mentions.settings_for(plan.customer) if mentions is not None else None,
        items=_items(plan),
    )


def invoice_update(
    plan: InvoicePlan,
    *,
    iban: str,
    issue_date: date,
    reference: InvoiceReference,
    mentions: LegalMentions | None = None,
) -> ClientInvoiceUpdate:
    return ClientInvoiceUpdate(
        issue_date=issue_date,
        due_date=due_date(issue_date, plan.customer),
        payment_methods={"iban": iban},
        purchase_order=plan.customer.purchase_order or None,
        header=reference.header(),
        items=_items(plan),
        **({"settings": mentions.settings_for(plan.customer)} if mentions is not None else {}),
    )
