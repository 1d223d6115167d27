"""Deterministic synthetic data sets (customers, price list, usage) for demos and benchmarks."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from stdnum import luhn
from stdnum.eu import vat as eu_vat

from billing_pipeline.billing.customers import COLUMNS as CUSTOMER_COLUMNS
from billing_pipeline.billing.periods import BillingPeriod, time_zone

DEMO_PRICE_LIST = "demo_price_list.yaml"
# metric -> (share of events, largest quantity of one event)
DEMO_METRICS = {
    "api_calls": (0.6, 1000),
    "compute_minutes": (0.2, 60),
    "data_transfer_gb": (0.15, 50),
    "sms_sent": (0.05, 20),
}
DEMO_PLANS = {"starter": 0.5, "growth": 0.35, "enterprise": 0.15}
DUPLICATE_SHARE = 0.001  # events sent twice, as a retrying producer would
# a larger data set is written as several files, one stretch of the month each
DEMO_FILE_EVENTS = 50_000_000

_CITIES = {
    "FR": [("Paris", "75011"), ("Lyon", "69002"), ("Nantes", "44000"), ("Lille", "59000"), ("Bordeaux", "33000")],
    "DE": [("Berlin", "10115"), ("München", "80331"), ("Hamburg", "20095")],
    "BE": [("Bruxelles", "1000"), ("Gent", "9000")],
    "IT": [("Milano", "20121"), ("Torino", "10121")],
    "NL": [("Amsterdam", "1012"), ("Utrecht", "3511")],
}
_LOCALES = {"FR": "fr", "DE": "de", "BE": "fr", "IT": "it", "NL": "en"}
_FIRST = ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Jules", "Inès", "Nathan"]
_LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
_WORDS = ["Nova", "Atlas", "Pixel", "Lumen", "Orbit", "Kappa", "Sigma", "Vega", "Helix", "Quartz", "Zenith"]
_SUFFIX = {"FR": "SAS", "DE": "GmbH", "BE": "SRL", "IT": "S.r.l.", "NL": "B.V."}


def random_siren(rng: random.Random) -> str:
    base = f"{rng.randint(1, 9)}{rng.randrange(10**7):07d}"
    return base + luhn.calc_check_digit(base)


def french_vat_number(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def random_vat_number(country: str, rng: random.Random) -> str:
    """A VAT number with valid check digits for an EU country (DE, BE, IT, NL)."""
    if country == "DE":
        stem, checks = f"DE{rng.randint(1, 9)}{rng.randrange(10**7):07d}", 10
    elif country == "BE":
        stem, checks = f"BE0{rng.randint(2, 9)}{rng.randrange(10**6):06d}", 100
    elif country == "IT":
        stem, checks = f"IT{rng.randrange(10**7):07d}{rng.randint(1, 100):03d}", 10
    elif country == "NL":
        stem, checks = f"NL{rng.randint(1, 9)}{rng.randrange(10**7):07d}", 10
    else:
        raise ValueError(f"no demo VAT numbers for {country}")
    width = len(str(checks - 1))
    suffix = "B01" if country == "NL" else ""
    for check in range(checks):
        candidate = f"{stem}{check:0{width}d}{suffix}"
        if eu_vat.is_valid(candidate):
            return candidate
    return random_vat_number(country, rng)  # no check digit fits this stem: draw another one


def demo_customer(index: int, rng: random.Random, plan: str) -> dict[str, str]:
    roll = rng.random()
    country = "FR" if roll < 0.7 else rng.choice(["DE", "BE", "IT", "NL"])
    individual = rng.random() < 0.15
    city, zip_code = rng.choice(_CITIES[country])
    row = dict.fromkeys(CUSTOMER_COLUMNS, "")
    row.update(
        customer_id=f"cus_{index:06d}",
        kind="individual" if individual else "company",
        street_address=f"{rng.randint(1, 120)} rue {rng.choice(_LAST)}",
        city=city,
        zip_code=zip_code,
        country_code=country,
        currency="EUR",
        locale=_LOCALES[country],
        plan=plan,
        payment_terms_days=str(rng.choice([15, 30, 30, 45, 60])),
    )
    if individual:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        row.update(first_name=first, last_name=last, email=f"{_ascii(first)}.{_ascii(last)}{index}@example.org")
    else:
        name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {_SUFFIX[country]}"
        row.update(name=name, email=f"billing+{index}@{_ascii(name.split()[0])}.example.com")
        if country == "FR":
            siren = random_siren(rng)
            row.update(tax_identification_number=siren, vat_number=french_vat_number(siren))
        else:
            row.update(vat_number=random_vat_number(country, rng))
        if rng.random() < 0.2:
            row["purchase_order"] = f"PO-{rng.randrange(10**6):06d}"
    return row


def _ascii(text: str) -> str:
    return "".join(c for c in text.lower().replace("é", "e").replace("è", "e") if c.isalnum())


@dataclass(frozen=True)
class DemoData:
    customers_file: Path
    price_list_file: Path
    usage_files: list[Path]
    events: int
    duplicates: int


def demo_events(
    customers: int,
    events: int,
    period: BillingPeriod,
    *,
    seed: int,
    timezone: str = "Europe/Paris",
    part: tuple[int, int] = (0, 1),
    first_event: int = 0,
) -> tuple[pa.Table, int]:
    """``events`` usage rows of ``period`` (about 0.1 % of them repeats), sorted by time.

    ``part=(i, n)``: the rows of the i-th of n equal stretches of the period, numbered from
    ``first_event`` — how a data set too large for memory is written one file at a time."""
    rng = np.random.default_rng(seed)
    duplicates = int(events * DUPLICATE_SHARE)
    unique = events - duplicates
    zone = time_zone(timezone)
    period_start = int(period.start(zone).timestamp() * 1_000_000)
    period_end = int(period.end(zone).timestamp() * 1_000_000)
    index, parts = part
    start = period_start + (period_end - period_start) * index // parts
    end = period_start + (period_end - period_start) * (index + 1) // parts
    instants = np.sort(rng.integers(start, end, unique, dtype=np.int64))
    # A few customers make most of the traffic, as on a real platform.
    owners = np.minimum((rng.random(unique) ** 3 * customers).astype(np.int32), customers - 1)
    shares = np.array([share for share, _ in DEMO_METRICS.values()])
    metrics = rng.choice(len(DEMO_METRICS), size=unique, p=shares / shares.sum()).astype(np.int8)
    largest = np.array([top for _, top in DEMO_METRICS.values()])
    amounts = (rng.random(unique) * largest[metrics]).astype(np.int64) + 1
    event_ids = pa.chunked_array(
        [
            _event_ids(period, first_event + first, first_event + min(first + _ID_CHUNK, unique))
            for first in range(0, unique, _ID_CHUNK)
        ]
        or [pa.array([], pa.string())]
    )
    customer_ids = pa.array([f"cus_{index:06d}" for index in range(customers)])
    table = pa.table(
        {
            "event_id": event_ids,
            "customer_id": pa.DictionaryArray.from_arrays(pa.array(owners), customer_ids),
            "metric": pa.DictionaryArray.from_arrays(pa.array(metrics), pa.array(list(DEMO_METRICS))),
            "quantity": pa.array(amounts),
            "timestamp": pa.array(instants, pa.timestamp("us", tz="UTC")),
        }
    )
    if duplicates:
        picks = np.sort(rng.choice(unique, size=duplicates, replace=False))
        # taken chunk by chunk, for the same reason as the ids are built so
        repeated = [
            table.slice(first, _ID_CHUNK).take(pa.array(picks[(picks >= first) & (picks < first + _ID_CHUNK)] - first))
            for first in range(0, unique, _ID_CHUNK)
        ]
        table = pa.concat_tables([table, *repeated])
    return table, duplicates


# Event ids are built in chunks: 10^8 ids of 22 bytes would not fit one 32-bit-offset string array.
_ID_CHUNK = 10_000_000


def _event_ids(period: BillingPeriod, first: int, end: int) -> pa.Array:
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(first, end)), pa.string()), 10, "0")
    return pc.binary_join_element_wise(f"evt-{period.key}-", numbers, "")


def write_demo_data(
    out: Path,
    *,
    customers: int,
    events: int,
    period: str | BillingPeriod,
    seed: int = 42,
    file_format: Literal["parquet", "csv"] = "parquet",
    timezone: str = "Europe/Paris",
) -> DemoData:
    """Write ``customers.csv``, ``price_list.yaml`` and ``usage/events-<period>.<format>``."""
    if customers < 1 or events < 0:
        raise ValueError("need at least one customer and a non-negative number of events")
    billing_period = BillingPeriod.of(period)
    out = Path(out)
    (out / "usage").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    plans = rng.choices(list(DEMO_PLANS), weights=list(DEMO_PLANS.values()), k=customers)
    customers_file = out / "customers.csv"
    with customers_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CUSTOMER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for index, plan in enumerate(plans):
            writer.writerow(demo_customer(index, rng, plan))
    price_list_file = out / "price_list.yaml"
    price_list_file.write_bytes(resources.files(__package__).joinpath(DEMO_PRICE_LIST).read_bytes())
    if events <= DEMO_FILE_EVENTS:
        table, duplicates = demo_events(customers, events, billing_period, seed=seed, timezone=timezone)
        usage_file = out / "usage" / f"events-{billing_period.key}.{file_format}"
        _write_events(table, usage_file, file_format)
        return DemoData(customers_file, price_list_file, [usage_file], events, duplicates)
    # Larger sets are written a stretch of the month at a time (each part's rows, ids and repeats
    # its own), so that generating 10^9 events needs the memory of one part, not of the month.
    parts = -(-events // DEMO_FILE_EVENTS)
    usage_files, duplicates, first_event = [], 0, 0
    for index in range(parts):
        size = events * (index + 1) // parts - events * index // parts
        table, repeated = demo_events(
            customers,
            size,
            billing_period,
            seed=seed + index,
            timezone=timezone,
            part=(index, parts),
            first_event=first_event,
        )
        usage_file = out / "usage" / f"events-{billing_period.key}-part{index + 1:04d}.{file_format}"
        _write_events(table, usage_file, file_format)
        usage_files.append(usage_file)
        duplicates += repeated
        first_event += size - repeated
    return DemoData(customers_file, price_list_file, usage_files, events, duplicates)


def _write_events(table: pa.Table, usage_file: Path, file_format: Literal["parquet", "csv"]) -> None:
    if file_format == "parquet":
        pq.write_table(table, usage_file, row_group_size=1 << 20)
        return
    text = table.set_column(4, "timestamp", pc.strftime(table["timestamp"], format="%Y-%m-%dT%H:%M:%SZ")).cast(
        pa.schema([(name, pa.string()) for name in table.column_names])
    )
    pa_csv.write_csv(text, usage_file, pa_csv.WriteOptions(quoting_style="needed"))
