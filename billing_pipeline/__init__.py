"""billing_pipeline: monthly SaaS billing through Qonto with verified Factur-X e-invoices.

Packages and the direction of their imports (never upwards):

- ``billing_pipeline.defs`` / ``definitions``: the thin Dagster layer.
- ``billing_pipeline.invoicing``: exactly-once invoicing, one package per stage, no Dagster.
- ``billing_pipeline.ledger``: the ledger kernel (state machines, one ``move``, versioned schema), no Dagster.
- ``billing_pipeline.billing``: usage loading, validation and pricing, no Dagster or HTTP.
- ``billing_pipeline.qonto``: the Qonto Business API client, no Dagster.
- ``billing_pipeline.facturx``: Factur-X reading and verification, no Dagster.
- ``billing_pipeline.emulator``: a local Qonto emulator; the pipeline only starts it.
"""

__version__ = "0.1.0"
