"""Pydantic models of the Qonto payloads the pipeline uses, importable from one place.

They live in three modules: ``wire`` (what every payload shares: lenient responses, strict
requests, money as plain decimal strings, aware timestamps), ``parties`` (organization, bank
accounts, clients), ``invoice_models`` (client invoices and their attachments) and
``credit_note_models`` (credit notes).
"""

from __future__ import annotations

from billing_pipeline.qonto.credit_note_models import CreditNote, CreditNoteCreate
from billing_pipeline.qonto.invoice_models import (
    Attachment,
    ClientInvoice,
    ClientInvoiceCreate,
    ClientInvoiceUpdate,
    InvoiceClientRef,
    InvoiceItem,
    InvoiceItemInput,
    ItemDiscount,
    ItemDiscountInput,
    PaymentMethod,
    PaymentMethodsInput,
)
from billing_pipeline.qonto.parties import BankAccount, Client, ClientCreate, ClientUpdate, Organization
from billing_pipeline.qonto.wire import (
    Address,
    BankAccountStatus,
    ClientKind,
    InvoiceStatus,
    Money,
    Page,
    PageMeta,
    Phone,
    RequestModel,
    ResponseModel,
    Timestamp,
    WireDecimal,
)

__all__ = [
    "Address",
    "Attachment",
    "BankAccount",
    "BankAccountStatus",
    "Client",
    "ClientCreate",
    "ClientInvoice",
    "ClientInvoiceCreate",
    "ClientInvoiceUpdate",
    "ClientKind",
    "ClientUpdate",
    "CreditNote",
    "CreditNoteCreate",
    "InvoiceClientRef",
    "InvoiceItem",
    "InvoiceItemInput",
    "InvoiceStatus",
    "ItemDiscount",
    "ItemDiscountInput",
    "Money",
    "Organization",
    "Page",
    "PageMeta",
    "PaymentMethod",
    "PaymentMethodsInput",
    "Phone",
    "RequestModel",
    "ResponseModel",
    "Timestamp",
    "WireDecimal",
]
