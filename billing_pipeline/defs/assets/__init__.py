"""The billing assets: the six steps in lineage order, then the corrections of finalized periods."""

from billing_pipeline.defs.assets.clients import qonto_clients
from billing_pipeline.defs.assets.corrections import invoice_corrections
from billing_pipeline.defs.assets.delivery import delivered_invoices
from billing_pipeline.defs.assets.drafts import draft_invoices
from billing_pipeline.defs.assets.facturx import facturx_files
from billing_pipeline.defs.assets.finalize import finalized_invoices
from billing_pipeline.defs.assets.usage import billable_usage

BILLING_ASSETS = [
    billable_usage,
    qonto_clients,
    draft_invoices,
    finalized_invoices,
    facturx_files,
    delivered_invoices,
    invoice_corrections,
]

__all__ = [
    "BILLING_ASSETS",
    "billable_usage",
    "delivered_invoices",
    "draft_invoices",
    "facturx_files",
    "finalized_invoices",
    "invoice_corrections",
    "qonto_clients",
]
