"""Usage events: read every file, keep the billing period, check rows, drop duplicates, add up.

Events live in ``usage/`` as CSV or Parquet files, any number of them, with the columns
``event_id, customer_id, metric, quantity, timestamp``. An event belongs to the period that
contains its timestamp in the billing time zone. Only rows of the period are checked (a bad row
of another month is that month's problem), except a row whose timestamp cannot be read: it could
belong to any period, so it is always reported.

Work is done on Arrow batches with vectorized kernels; Python loops only run over the small
per-batch dictionaries of customer ids and metrics, and over rows that are being reported.

The checks do not care where the batches come from: ``UsageReader.read_batches`` is also what the
SQL source (``sql_usage.py``) feeds, so files and tables share every rule and every message. A
``UsageSource`` is what ``plan_period`` reads usage from: ``FileUsageSource`` (``usage/``, the
default) or ``sql_usage.SqlUsageSource``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from billing_pipeline.billing.coverage import UsageSpans
from billing_pipeline.billing.models import InvalidBillingInput
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.price_plans import Aggregation
from billing_pipeline.billing.usage_files import USAGE_SUFFIXES, FileUsageSource, read_usage, usage_files
from billing_pipeline.billing.usage_reader import COLUMNS, UsageOrigin, UsageReader, UsageTotals

# the reader and the file source live in their own modules; callers keep importing them from here
__all__ = [
    "COLUMNS",
    "USAGE_SUFFIXES",
    "FileUsageSource",
    "UsageOrigin",
    "UsageReader",
    "UsageSource",
    "UsageTotals",
    "load_usage",
    "read_usage",
    "usage_files",
]


class UsageSource(Protocol):
    """Where ``plan_period`` reads a period's usage events from; every source applies the same checks."""

    @property
    def label(self) -> str:
        """The source as problems and logs name it (never with a password)."""
        ...

    def read(
        self,
        period: BillingPeriod,
        zone: ZoneInfo,
        *,
        customers: Collection[str] | None,
        metrics: Collection[str] | None,
        aggregations: Mapping[str, Aggregation] | None = None,
        spans: UsageSpans | None = None,
    ) -> UsageTotals:
        """Quantities of ``period`` in the billing time zone ``zone``, and every problem found.

        ``aggregations``: metric -> how its events are aggregated (absent = ``sum``); ``spans``:
        the customers billed by subscription rows, with each row's days in the period — their
        quantities come per span in ``UsageTotals.span_quantities``.
        """
        ...


def load_usage(
    usage_dir: Path,
    period: str | BillingPeriod,
    tz: str | ZoneInfo = "Europe/Paris",
    *,
    customers: Collection[str] | None = None,
    metrics: Collection[str] | None = None,
) -> UsageTotals:
    """Like ``read_usage`` but raises ``InvalidBillingInput`` with every problem found."""
    usage = read_usage(usage_dir, period, tz, customers=customers, metrics=metrics)
    if usage.problems:
        raise InvalidBillingInput(usage.problems)
    return usage
