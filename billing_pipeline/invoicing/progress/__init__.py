"""One read model of a period's progress, and the one decision of which job runs next.

``PeriodProgress`` (``model.py``) answers "is this period done, what is it waiting for?" from the
ledger; ``queries.py`` builds it (and the cross-period views the sensors need) with grouped SQL;
``decision.py`` turns it and the cheap Qonto probes into the next job. The attachment sensor, the
delivery lifecycle sensor, ``bill --wait`` and ``delivery status`` all read from here. Dagster-free.
"""

from billing_pipeline.invoicing.progress.decision import Cause, Job, NextJob, decide_period, next_job
from billing_pipeline.invoicing.progress.model import DeliveryWork, PendingDocuments, PeriodProgress, PeriodReport
from billing_pipeline.invoicing.progress.pending import pending_documents
from billing_pipeline.invoicing.progress.queries import (
    delivery_facts,
    delivery_work,
    period_progress,
    period_report,
    progress_by_period,
)

__all__ = [
    "Cause",
    "DeliveryWork",
    "Job",
    "NextJob",
    "PendingDocuments",
    "PeriodProgress",
    "PeriodReport",
    "decide_period",
    "delivery_facts",
    "delivery_work",
    "next_job",
    "pending_documents",
    "period_progress",
    "period_report",
    "progress_by_period",
]
