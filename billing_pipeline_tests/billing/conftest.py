"""Shared builders for billing-domain tests: small, explicit input files in a temporary folder."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from billing_pipeline.billing.customers import COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "data"
USAGE_HEADER = "event_id,customer_id,metric,quantity,timestamp\n"

PRICE_LIST = """\
currency: EUR
metrics:
  api_calls:
    description: API requests
  storage_gb:
    description: Stored gigabytes
plans:
  basic:
    monthly_fee:
      title: Basic plan
      amount: "10.00"
      vat_rate: "0.20"
    charges:
      api_calls:
        model: per_unit
        title: API calls
        unit: call
        vat_rate: "0.20"
        unit_price: "0.01"
  metered:
    charges:
      api_calls:
        model: per_unit
        title: API calls
        unit: call
        vat_rate: "0.20"
        unit_price: "0.01"
      storage_gb:
        model: package
        title: Storage
        unit: GB
        vat_rate: "0.20"
        package_size: "10"
        package_price: "1.50"
"""

# Valid identifiers (checksums verified by python-stdnum).
SIREN = "732829320"
FR_VAT = "FR44732829320"
DE_VAT = "DE136695976"


def customer_row(**overrides: str) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        customer_id="cus_1",
        kind="company",
        name="Acme SAS",
        email="billing@acme.example.fr",
        tax_identification_number=SIREN,
        vat_number=FR_VAT,
        street_address="1 rue de la Paix",
        city="Paris",
        zip_code="75002",
        country_code="FR",
        currency="EUR",
        locale="fr",
        plan="basic",
        payment_terms_days="30",
    )
    row.update(overrides)
    return row


def write_customers(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A valid data folder: price list, two customers, an empty usage folder."""
    root = tmp_path / "data"
    (root / "usage").mkdir(parents=True)
    (root / "price_list.yaml").write_text(PRICE_LIST, encoding="utf-8")
    write_customers(
        root / "customers.csv",
        [
            customer_row(),
            customer_row(
                customer_id="cus_2",
                name="Beta GmbH",
                tax_identification_number="",
                vat_number=DE_VAT,
                country_code="DE",
                zip_code="10115",
                city="Berlin",
                locale="de",
                plan="metered",
            ),
        ],
    )
    return root


@pytest.fixture
def write_usage(data_dir: Path) -> Callable[[str, str], Path]:
    def write(name: str, rows: str) -> Path:
        path = data_dir / "usage" / name
        path.write_text(USAGE_HEADER + rows, encoding="utf-8")
        return path

    return write


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, target)
    return target
