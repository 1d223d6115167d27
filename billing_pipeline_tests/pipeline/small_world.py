"""A few customers and usage events written into a test world, and a person acting in Qonto.

The money-safety tests change the data, act as a person in Qonto (edit, cancel, delete) and
re-run the pipeline; a handful of customers keeps each scenario readable and fast.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS
from billing_pipeline_tests.pipeline.conftest import PipelineWorld

PERIOD = "2026-10"
UP_TO_DRAFTS = BILLING_ASSETS[:3]
UP_TO_FINALIZED = BILLING_ASSETS[:4]
COLUMNS = (
    "customer_id,kind,name,first_name,last_name,email,tax_identification_number,vat_number,street_address,city,"
    "zip_code,country_code,currency,locale,plan,payment_terms_days,purchase_order"
).split(",")
# valid SIREN / VAT pairs (checksums hold)
_CITIES = {"FR": ("Paris", "75002"), "BE": ("Bruxelles", "1000"), "DE": ("Berlin", "10119")}
SIRENS = {"253600605": "FR78253600605", "493375109": "FR11493375109", "796061109": "FR77796061109"}


@dataclass(frozen=True)
class Company:
    customer_id: str
    name: str = "Atelier Test SAS"
    email: str = "compta@atelier-test.example.fr"
    siren: str | None = "253600605"
    country: str = "FR"
    vat: str | None = None  # defaults to the SIREN's FR VAT number

    def row(self) -> dict[str, str]:
        return {
            "customer_id": self.customer_id,
            "kind": "company",
            "name": self.name,
            "first_name": "",
            "last_name": "",
            "email": self.email,
            "tax_identification_number": self.siren or "",
            "vat_number": self.vat or SIRENS.get(self.siren or "", ""),
            "street_address": "1 rue de la Paix",
            "city": _CITIES[self.country][0],
            "zip_code": _CITIES[self.country][1],
            "country_code": self.country,
            "currency": "EUR",
            "locale": "fr",
            "plan": "starter",
            "payment_terms_days": "30",
            "purchase_order": "",
        }


def write_customers(world: PipelineWorld, companies: list[Company]) -> None:
    """Replace the customer list; the sample's subscriptions.csv goes too (its rows name customers
    that are no longer there, which the input check refuses)."""
    (world.data_dir / "subscriptions.csv").unlink(missing_ok=True)
    with (world.data_dir / "customers.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for company in companies:
            writer.writerow(company.row())


def write_usage(world: PipelineWorld, minutes: dict[str, int], *, day: int = 10) -> None:
    """Compute minutes per customer in October 2026 (one event each), replacing all usage files."""
    usage = world.data_dir / "usage"
    shutil.rmtree(usage, ignore_errors=True)
    usage.mkdir()
    with (usage / "events.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["event_id", "customer_id", "metric", "quantity", "timestamp"])
        for n, (customer, quantity) in enumerate(sorted(minutes.items())):
            writer.writerow(
                [f"e-{customer}-{n}", customer, "compute_minutes", quantity, f"2026-10-{day:02d}T10:00:00Z"]
            )


def materialize(
    world: PipelineWorld, instance: dg.DagsterInstance, assets: list[Any] = UP_TO_FINALIZED, *, period: str = PERIOD
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets, partition_key=period, resources=world.resources, instance=instance, raise_on_error=False
    )


def failed_checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(
        str(event.step_failure_data.error.message if event.step_failure_data.error else "")
        + str(
            event.step_failure_data.user_failure_data.description if event.step_failure_data.user_failure_data else ""
        )
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data
    )


class Person:
    """Someone using Qonto's own interface: same API, outside the pipeline."""

    def __init__(self, world: PipelineWorld) -> None:
        self.http = httpx.Client(
            base_url=world.emulator.base_url, headers={"Authorization": world.emulator.api_key}, timeout=30
        )
        self.world = world

    def invoices(self) -> list[dict[str, Any]]:
        return list(self.world.emulator.state()["client_invoices"])

    def invoice_of(self, customer_id: str, period: str = PERIOD) -> dict[str, Any]:
        [invoice] = [
            i
            for i in self.invoices()
            if f"BP-{period}-{customer_id} " in (i.get("header") or "") and i["status"] != "canceled"
        ]
        return invoice

    def get(self, invoice_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v2/client_invoices/{invoice_id}")
        response.raise_for_status()
        return response.json()["client_invoice"]

    def edit_first_line_quantity(self, invoice_id: str, quantity: str) -> None:
        invoice = self.get(invoice_id)
        items = [
            {
                "title": item["title"],
                "description": item.get("description"),
                "quantity": item["quantity"],
                "unit": item.get("unit"),
                "unit_price": item["unit_price"],
                "vat_rate": item["vat_rate"],
                **({"vat_exemption_reason": item["vat_exemption_reason"]} if item.get("vat_exemption_reason") else {}),
            }
            for item in invoice["items"]
        ]
        items[0]["quantity"] = quantity
        response = self.http.patch(f"/v2/client_invoices/{invoice_id}", json={"items": items})
        response.raise_for_status()

    def cancel(self, invoice_id: str) -> None:
        self.http.post(f"/v2/client_invoices/{invoice_id}/mark_as_canceled").raise_for_status()

    def create_client(self, **fields: Any) -> dict[str, Any]:
        response = self.http.post("/v2/clients", json=fields)
        response.raise_for_status()
        return response.json()["client"]

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/v2/client_invoices", json=body)
        response.raise_for_status()
        return response.json()["client_invoice"]

    def close(self) -> None:
        self.http.close()


def reset_data(world: PipelineWorld, source: Path) -> None:
    shutil.copy(source / "price_list.yaml", world.data_dir / "price_list.yaml")
