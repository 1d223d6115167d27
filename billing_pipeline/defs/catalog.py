"""The billing assets in lineage order: the six steps, then the corrections of finalized periods."""

from billing_pipeline.defs.clients.assets import qonto_clients
from billing_pipeline.defs.corrections.assets import invoice_corrections
from billing_pipeline.defs.delivery.assets import delivered_invoices
from billing_pipeline.defs.documents.assets import facturx_files
from billing_pipeline.defs.drafts.assets import draft_invoices
from billing_pipeline.defs.finalization.assets import finalized_invoices
from billing_pipeline.defs.usage.assets import billable_usage

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
