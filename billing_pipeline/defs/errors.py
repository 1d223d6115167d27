"""Invoicing failures as Dagster ``Failure``s: one description listing every customer, and metadata."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from billing_pipeline.invoicing.errors import CustomerFailures, InvoicingError


@contextmanager
def reported_as_failure(step: str) -> Iterator[None]:
    """Turn an ``InvoicingError`` (one customer, or several at once) into one readable ``dg.Failure``."""
    try:
        yield
    except InvoicingError as error:
        failures = error.failures if isinstance(error, CustomerFailures) else [error]
        customers = sorted({c for c in (getattr(f, "customer_id", None) for f in failures) if c})
        who = f"customer {error.customer_id}: " if error.customer_id else ""
        raise dg.Failure(
            description=f"{step}: {who}{error}",
            metadata={
                "customers": dg.MetadataValue.json(customers),
                "failures": len(failures),
                "kinds": dg.MetadataValue.json(sorted({type(f).__name__ for f in failures})),
            },
        ) from error
