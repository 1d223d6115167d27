"""Which job should run next for a period: the one rule the sensors and ``bill --wait`` share.

Inputs: the period's progress (the ledger) and the answers of the cheap Qonto probes — are the
pending Factur-X files rendered (``documents/readiness.py`` ``probe_period``), did a submitted
e-invoice move on the network (``delivery/lifecycle.py`` ``lifecycle_moved``). ``None`` means "not
probed": a rule needing that answer does not fire. Precedence, first match wins:

1. files pending and ready            → ``facturx_collection`` (it collects, then delivers)
2. delivery on and an e-invoice moved → ``invoice_delivery`` (record the network's answer)
3. delivery on and a person asked to resend → ``invoice_delivery``
4. delivery on, the period's delivery begun, a verified invoice not delivered → ``invoice_delivery``
   (a period nobody delivered yet, e.g. billed before delivery existed, is left to a run someone asks for)
5. otherwise nothing, and the reason says what the period waits for.

A delivery left ``sending`` is not a reason: while a run is delivering, its intents are ``sending``
and a second run would only queue behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from billing_pipeline.invoicing.delivery import lifecycle
from billing_pipeline.invoicing.delivery.records import DeliveryState
from billing_pipeline.invoicing.documents.readiness import probe_period
from billing_pipeline.invoicing.invoices.listed import finalized_at, listed_invoices
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.progress.model import PeriodProgress
from billing_pipeline.invoicing.progress.pending import pending_documents
from billing_pipeline.qonto.client import QontoClient


class Job(StrEnum):
    """The jobs a period's progress can call for (their names in the Dagster definitions)."""

    FACTURX_COLLECTION = "facturx_collection"
    INVOICE_DELIVERY = "invoice_delivery"


class Cause(StrEnum):
    """Why a job is asked for (the sensors' run keys are built per cause)."""

    FILES_READY = "files-ready"
    LIFECYCLE = "lifecycle"
    RESEND = "resend"
    UNDELIVERED = "undelivered"


@dataclass(frozen=True)
class NextJob:
    period: str
    job: Job | None
    cause: Cause | None
    reason: str  # for people: skip reasons, logs


def next_job(
    progress: PeriodProgress, *, files_ready: bool | None = None, lifecycle_moved: bool | None = None
) -> NextJob:
    """The job the period needs now (see the module's precedence), or none and why."""

    def run(job: Job, cause: Cause, reason: str) -> NextJob:
        return NextJob(progress.period, job, cause, reason)

    if progress.files_pending and files_ready:
        return run(Job.FACTURX_COLLECTION, Cause.FILES_READY, f"{progress.files_pending} document(s) ready to collect")
    if progress.delivering:
        if lifecycle_moved:
            return run(Job.INVOICE_DELIVERY, Cause.LIFECYCLE, "an e-invoice moved on the network")
        resend = progress.deliveries.get(DeliveryState.RESEND, 0)
        if resend:
            return run(Job.INVOICE_DELIVERY, Cause.RESEND, f"{resend} delivery(ies) to send again")
        if progress.verified_not_delivered and progress.delivery_begun:
            return run(
                Job.INVOICE_DELIVERY,
                Cause.UNDELIVERED,
                f"{progress.verified_not_delivered} verified invoice(s) not delivered yet",
            )
    return NextJob(progress.period, None, None, _waiting_for(progress, files_ready, lifecycle_moved))


def _waiting_for(progress: PeriodProgress, files_ready: bool | None, moved: bool | None) -> str:
    if progress.done:
        return "done"
    reasons = []
    if progress.files_pending:
        how = "still rendering" if files_ready is False else "not probed"
        reasons.append(f"{progress.files_pending} file(s) pending ({how})")
    if progress.delivering:
        submitted = progress.deliveries.get(DeliveryState.SUBMITTED, 0)
        if submitted:
            how = "none moved" if moved is False else "not probed"
            reasons.append(f"{submitted} e-invoice(s) on the network ({how})")
        if progress.verified_not_delivered and not progress.delivery_begun:
            reasons.append(f"{progress.verified_not_delivered} verified invoice(s) of a period never delivered")
        if progress.deliveries_needing_a_person:
            reasons.append(f"{progress.deliveries_needing_a_person} delivery(ies) need a person")
    if progress.not_billed:
        reasons.append(f"not billed: {', '.join(progress.not_billed)}")
    return "; ".join(reasons) or "nothing to do"


Connect = Callable[[], AbstractAsyncContextManager[QontoClient]]


async def decide_period(
    ledger: Ledger, progress: PeriodProgress, connect: Connect, now: datetime | None = None
) -> NextJob:
    """``next_job`` for one period with the probes it needs, done here: the files first (a collection
    also delivers), the period's submitted e-invoices only when nothing else calls for a run. Qonto
    is opened only when a probe is needed."""
    async with AsyncExitStack() as stack:
        client: QontoClient | None = None

        async def qonto() -> QontoClient:
            nonlocal client
            if client is None:
                client = await stack.enter_async_context(connect())
            return client

        files_ready = None
        if progress.files_pending:
            pending = pending_documents(ledger, progress.period, now).get(progress.period)
            if pending is not None:
                readiness = await probe_period(await qonto(), ledger, progress.period, pending, now)
                files_ready = readiness.ready
        decision = next_job(progress, files_ready=files_ready)
        if decision.job is None and progress.delivering and progress.deliveries.get(DeliveryState.SUBMITTED):
            submitted = ledger.deliveries(progress.period, {DeliveryState.SUBMITTED})
            moved = False
            if submitted:
                # one listing of the period instead of one read per e-invoice, when it is cheaper
                ids = {d.invoice_id for d in submitted}
                listed = await listed_invoices(await qonto(), finalized_at(ledger.invoices(progress.period), ids))
                moved = bool(await lifecycle.lifecycle_moved(await qonto(), submitted, listed))
            decision = next_job(progress, files_ready=files_ready, lifecycle_moved=moved)
        return decision
