"""Jobs and schedules, built from the settings and selected by lineage.

A job names the asset its work ends with and takes everything upstream of it: a stage added upstream
(a preflight feeding ``qonto_clients``, say) joins the billing jobs without an edit here. The only
names besides those end points are the ones a setting is about (``invoice_corrections`` for
BILLING_CORRECTIONS). Job names, schedules and sensors' targets (``job_name=``) are stable.
"""

from __future__ import annotations

import dagster as dg

from billing_pipeline.defs.stage import StageContext

DRAFTS = dg.AssetSelection.assets("draft_invoices")
FINALIZED = dg.AssetSelection.assets("finalized_invoices")
CORRECTIONS = dg.AssetSelection.assets("invoice_corrections")
FILES = dg.AssetSelection.assets("facturx_files")
DELIVERED = dg.AssetSelection.assets("delivered_invoices")
PAYMENTS = dg.AssetSelection.assets("payments")


def invoicing_selection(ctx: StageContext) -> dg.AssetSelection:
    """What the monthly job bills: up to the drafts, or up to finalization and the corrections."""
    if not ctx.settings.auto_finalize:
        return DRAFTS.upstream()  # finalization (and so corrections) left to a person
    if ctx.settings.corrections == "auto":
        # a run of a finalized period whose usage changed issues its corrections
        return FINALIZED.upstream() | CORRECTIONS.upstream()
    return FINALIZED.upstream()


def bill_selection(ctx: StageContext) -> dg.AssetSelection:
    """Every step of a period up to delivery; the corrections only when BILLING_CORRECTIONS=auto (the
    files' collection depends on them for lineage, so in review mode they are taken out)."""
    everything = DELIVERED.upstream()
    return everything if ctx.settings.corrections == "auto" else everything - CORRECTIONS


def build_jobs(ctx: StageContext) -> dg.Definitions:
    settings = ctx.settings
    monthly_invoicing = dg.define_asset_job(
        "monthly_invoicing",
        selection=invoicing_selection(ctx),
        description=(
            "Bill one period: price usage, find-or-create clients, sync drafts"
            + (
                ", finalize them."
                if settings.auto_finalize
                else " (finalization left to a person: BILLING_AUTO_FINALIZE=false)."
            )
            + " Factur-X files follow through the attachment sensor."
        ),
        tags={"billing/step": "invoicing"},
    )
    bill_period = dg.define_asset_job(
        "bill_period",
        selection=bill_selection(ctx),
        description="Every step for one period, corrections included (used by `billing-pipeline bill`).",
        tags={"billing/step": "end-to-end"},
    )
    facturx_collection = dg.define_asset_job(
        "facturx_collection",
        # the files and every step between them and delivery, delivery included
        selection=FILES.downstream() & DELIVERED.upstream(),
        description=(
            "Download, verify and store the period's ready Factur-X files, then deliver the verified invoices "
            "(launched by the attachment sensor)."
        ),
        tags={"billing/step": "facturx"},
    )
    invoice_delivery = dg.define_asset_job(
        "invoice_delivery",
        selection=DELIVERED,
        description=(
            "Deliver the period's verified invoices not delivered yet and follow the e-invoices on the network "
            "(launched by the delivery lifecycle sensor)."
        ),
        tags={"billing/step": "delivery"},
    )
    monthly_invoicing_schedule = dg.build_schedule_from_partitioned_job(
        monthly_invoicing,
        name="monthly_invoicing_schedule",
        description=(
            f"On day {settings.schedule_day_of_month} of each month at {settings.schedule_hour:02d}:00 "
            f"({settings.timezone}), bill the month that just closed (the days in between are a grace period "
            "for late usage)."
        ),
        day_of_month=settings.schedule_day_of_month,
        hour_of_day=settings.schedule_hour,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    payment_matching = dg.define_asset_job(
        "payment_matching",
        # payments and what follows from them (receivables), never the monthly assets they depend on
        selection=PAYMENTS.downstream(),
        description="Match new credit transfers to invoices, mark paid ones, age receivables and send due "
        "reminders (launched by payments_sensor, the daily schedule and `billing-pipeline payments`).",
        tags={"billing/step": "payments"},
    )
    payment_matching_schedule = dg.ScheduleDefinition(
        name="payment_matching_schedule",
        job=payment_matching,
        cron_schedule="0 7 * * *",
        execution_timezone=settings.timezone,
        description="Every day at 07:00: invoices become overdue (and reminders due) without any new transfer.",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(
        jobs=[monthly_invoicing, bill_period, facturx_collection, invoice_delivery, payment_matching],
        schedules=[monthly_invoicing_schedule, payment_matching_schedule],
    )
