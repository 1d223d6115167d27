"""Service factories several stages share, so that no stage imports another stage's assets module.

``current_plan``: the period priced from the billing input as it is *now* (usage, finalization and
corrections each price it again rather than trust an older stored plan). ``draft_synchronizer``: the
draft synchronizer on an open Qonto client (drafts, finalization and corrections write through it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from billing_pipeline.billing.models import InvalidBillingInput, PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.defs.metadata import table
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.invoicing.drafts.service import DraftSynchronizer


def current_plan(billing: BillingResource, period: BillingPeriod) -> PeriodPlan:
    """The period priced from the billing input as it is *now* (a Failure listing every problem)."""
    try:
        return plan_period(
            period,
            Path(billing.data_dir),
            timezone=billing.timezone,
            bill_customers_without_usage=billing.bill_customers_without_usage,
            usage_source=billing.usage_source(),
        )
    except InvalidBillingInput as error:
        raise dg.Failure(
            description=(
                f"{len(error.problems)} problem(s) in the billing input for {period.key}; "
                f"nothing was sent to Qonto.\n{error}"
            ),
            metadata={
                "problems": table((p.model_dump() for p in error.problems), ["file", "row", "field", "value", "reason"])
            },
        ) from None


@asynccontextmanager
async def draft_synchronizer(
    qonto: QontoResource, billing: BillingResource, *, run_key: str
) -> AsyncIterator[DraftSynchronizer]:
    """The synchronizer of drafts, on an open Qonto client; the steps of run ``run_key`` share the
    period's Qonto listing (``invoicing/invoices/shared_listing.py``)."""
    async with qonto.connection().open() as client:
        organization = await client.get_organization()
        try:
            account = organization.main_account()
        except LookupError:
            raise dg.Failure("the Qonto organization has no open bank account to receive payments") from None
        yield DraftSynchronizer(
            client,
            billing.ledger(),
            iban=account.iban,
            issue_date=datetime.now(ZoneInfo(billing.timezone)).date(),
            timezone=billing.timezone,
            in_flight_grace_s=billing.in_flight_grace_s,
            reissue_canceled=billing.reissue_canceled,
            mentions=billing.legal_mentions(),
            run_key=run_key,
        )
