"""Factur-X verification speed: ``python benchmarks/verify.py --files N``.

Renders N varied Factur-X invoices with the emulator's document code, compiles the Schematrons
once, then times ``verify_pdf`` on every file. Ends with exactly one line:
``verify: <X> ms/file over <N> files`` (X = mean wall time per file after the one-off compile).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

import click

from billing_pipeline.emulator.documents import render_facturx_pdf
from billing_pipeline.facturx import verify_pdf, warm_up

_ORGANIZATION: dict[str, Any] = {
    "legal_name": "Emulated SaaS SAS (local Qonto emulator)",
    "legal_number": "912345675",
    "legal_country": "FR",
    "vat_number": "FR65912345675",
    "address_line_1": "1 rue de Rivoli",
    "address_zipcode": "75001",
    "address_city": "Paris",
    "address_country": "FR",
    "bank_accounts": [{"iban": "FR7616958000010001234567834", "bic": "QNTOFRP1XXX", "main": True}],
}
_CLIENTS = (
    {
        "name": "Acme Industries SAS",
        "kind": "company",
        "email": "billing@acme.example",
        "vat_number": "FR29843123456",
        "tax_identification_number": "84312345600017",
    },
    {
        "name": "Globex SARL",
        "kind": "company",
        "email": "compta@globex.example",
        "vat_number": "FR31523456788",
        "tax_identification_number": "523456788",
    },
    {"first_name": "Élodie", "last_name": "Martin", "kind": "individual", "email": "elodie@example.org"},
)
_RATES = (("0.2", None), ("0.2", None), ("0.1", None), ("0.055", None), ("0", "S283"))


def _invoice(index: int, rng: random.Random) -> dict[str, Any]:
    client = dict(rng.choice(_CLIENTS))
    client["billing_address"] = {
        "street_address": "12 avenue de l'Europe",
        "city": "Lyon",
        "zip_code": "69002",
        "country_code": "FR",
    }
    items = []
    for line in range(rng.randint(1, 12)):
        rate, reason = rng.choice(_RATES)
        if reason == "S283" and client["kind"] != "company":
            rate, reason = "0.2", None  # reverse charge only exists between businesses (BR-AE-02)
        items.append(
            {
                "title": f"Metered feature {line + 1}",
                "description": "Usage during the billing period",
                "quantity": str(rng.randint(1, 2_000_000)),
                "unit": rng.choice(("unit", "hour", "gigabyte", "month")),
                "unit_price": {
                    "value": f"{rng.randint(1, 999_999) / 10 ** rng.randint(2, 6):f}".rstrip("0").rstrip("."),
                    "currency": "EUR",
                },
                "vat_rate": rate,
                "vat_exemption_reason": reason,
            }
        )
    return {
        "number": f"F-2026-{index:05d}",
        "status": "unpaid",
        "issue_date": "2026-02-01",
        "due_date": "2026-03-03",
        "performance_start_date": "2026-01-01",
        "performance_end_date": "2026-01-31",
        "currency": "EUR",
        "purchase_order": f"BP-2026-01-{index:05d}",
        "client": client,
        "items": items,
        "payment_methods": [{"iban": "FR7616958000010001234567834", "bic": "QNTOFRP1XXX", "type": "transfer"}],
    }


@click.command()
@click.option("--files", "count", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def main(count: int, seed: int) -> None:
    rng = random.Random(seed)
    started = time.perf_counter()
    pdfs = [render_facturx_pdf(_invoice(index, rng), _ORGANIZATION) for index in range(1, count + 1)]
    render_s = time.perf_counter() - started
    print(f"rendered {count} Factur-X PDFs in {render_s:.1f} s ({render_s * 1000 / count:.1f} ms/file)")

    started = time.perf_counter()
    warm_up()
    verify_pdf(pdfs[0])  # first call also loads the XSD and the PDF stack
    print(f"one-off compile and first verification: {time.perf_counter() - started:.2f} s")

    timings = []
    invalid = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    for pdf in pdfs:
        begin = time.perf_counter()
        report = verify_pdf(pdf)
        timings.append((time.perf_counter() - begin) * 1000)
        invalid += not report.valid
    total_ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu_started) * 1000
    quantiles = statistics.quantiles(timings, n=20) if len(timings) > 1 else timings * 19
    print(
        f"median {statistics.median(timings):.1f} ms, p95 {quantiles[18]:.1f} ms, max {max(timings):.1f} ms; "
        f"{invalid} invalid; CPU {cpu_ms / count:.1f} ms/file (wall time suffers when other processes share the cores)"
    )
    if invalid:
        print("error: generated invoices must all be valid", file=sys.stderr)
        sys.exit(1)
    print(f"verify: {total_ms / count:.1f} ms/file over {count} files")


if __name__ == "__main__":
    main()
