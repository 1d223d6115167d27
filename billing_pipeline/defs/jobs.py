"""Jobs and the monthly schedule."""

from __future__ import annotations

import dagster as dg

from billing_pipeline.defs.partitions import SETTINGS

_UP_TO_DRAFTS = dg.AssetSelection.assets("billable_usage", "qonto_clients", "draft_invoices")
_UP_TO_FINALIZED = _UP_TO_DRAFTS | dg.AssetSelection.assets("finalized_invoices")
# BILLING_CORRECTIONS=auto: a run of a finalized period whose usage changed issues its corrections;
# review: invoice_corrections runs only when a person materializes it
_CORRECTIONS = dg.AssetSelection.assets("invoice_corrections") if SETTINGS.corrections == "auto" else None
_BILL = _UP_TO_FINALIZED | _CORRECTIONS if _CORRECTIONS is not None else _UP_TO_FINALIZED

monthly_invoicing = dg.define_asset_job(
    "monthly_invoicing",
    selection=_BILL if SETTINGS.auto_finalize else _UP_TO_DRAFTS,
    description=(
        "Bill one period: price usage, find-or-create clients, sync drafts"
        + (
            ", finalize them."
            if SETTINGS.auto_finalize
            else " (finalization left to a person: BILLING_AUTO_FINALIZE=false)."
        )
        + " Factur-X files follow through the attachment sensor."
    ),
    tags={"billing/step": "invoicing"},
)

_DELIVERY = dg.AssetSelection.assets("delivered_invoices")

bill_period = dg.define_asset_job(
    "bill_period",
    selection=_BILL | dg.AssetSelection.assets("facturx_files") | _DELIVERY,
    description="Every step for one period, corrections included (used by `billing-pipeline bill`).",
    tags={"billing/step": "end-to-end"},
)

facturx_collection = dg.define_asset_job(
    "facturx_collection",
    selection=dg.AssetSelection.assets("facturx_files") | _DELIVERY,
    description=(
        "Download, verify and store the period's ready Factur-X files, then deliver the verified invoices "
        "(launched by the attachment sensor)."
    ),
    tags={"billing/step": "facturx"},
)

invoice_delivery = dg.define_asset_job(
    "invoice_delivery",
    selection=_DELIVERY,
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
        f"On day {SETTINGS.schedule_day_of_month} of each month at {SETTINGS.schedule_hour:02d}:00 "
        f"({SETTINGS.timezone}), bill the month that just closed (the days in between are a grace period "
        "for late usage)."
    ),
    day_of_month=SETTINGS.schedule_day_of_month,
    hour_of_day=SETTINGS.schedule_hour,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

payment_matching = dg.define_asset_job(
    "payment_matching",
    selection=dg.AssetSelection.assets("payments", "receivables"),
    description="Match new credit transfers to invoices, mark paid ones, age receivables and send due reminders "
    "(launched by payments_sensor, the daily schedule and `billing-pipeline payments`).",
    tags={"billing/step": "payments"},
)

payment_matching_schedule = dg.ScheduleDefinition(
    name="payment_matching_schedule",
    job=payment_matching,
    cron_schedule="0 7 * * *",
    execution_timezone=SETTINGS.timezone,
    description="Every day at 07:00: invoices become overdue (and reminders due) without any new transfer.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
