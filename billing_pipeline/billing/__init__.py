"""The billing domain: usage, customers and prices in; exact invoice plans out.

No Dagster, no HTTP. Entry point: ``planning.plan_period``; see docs/billing.md.
"""
