"""One billing period = one calendar month = one partition, keyed ``YYYY-MM`` in the billing time zone.

The partitions are built from the settings handed to ``build_definitions`` (``StageContext``), never
from the environment at import.
"""

from __future__ import annotations

import dagster as dg

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.settings import BillingSettings


def billing_period_partitions(settings: BillingSettings) -> dg.MonthlyPartitionsDefinition:
    return dg.MonthlyPartitionsDefinition(
        start_date=settings.first_period,
        fmt="%Y-%m",
        timezone=settings.timezone,
        end_offset=0,  # only closed months can be billed
    )


def partition_period(context: dg.AssetExecutionContext) -> BillingPeriod:
    """The run's billing period, built once from its partition key and carried typed from here on."""
    return BillingPeriod.parse(context.partition_key)
