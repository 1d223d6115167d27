"""E-invoice verification speed: ``python benchmarks/verify.py --files N [--ubl-share 0.25]``.

Renders N varied invoices with the emulator's document code: most as Factur-X PDFs, a share (one
in four by default) as standalone UBL XML (the same CII converted by the factur-x package). Compiles
the XSDs and the Schematrons once, then times, file by file and interleaved (so that load from other
processes hits both alike), ``verify_document`` on the file and the *bare validation* of the same
invoice XML: lxml parse + the XSD + every Schematron ``verify_document`` runs for it, compiled once
(a French EN 16931 CII: the Factur-X EN 16931 stylesheet and BR-FR Flux 2 for CII; a French UBL: the
CEN EN 16931 UBL stylesheet and BR-FR Flux 2 for UBL). The XML is extracted from each PDF before
timing, so the bare figure is the irreducible work. Ends with exactly one line:
``verify: <X> ms/file over <N> files, <R>x bare validation`` (X = mean wall time of
``verify_document`` per file after the one-off compile; R = total ``verify_document`` time / total
bare validation time, measured in the same process on the same files).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

import click
import facturx
from lxml import etree

from billing_pipeline.emulator.documents import render_facturx_pdf
from billing_pipeline.facturx import verify_document, warm_up
from billing_pipeline.facturx.container import embedded_files, open_pdf, select_facturx_xml
from billing_pipeline.facturx.engines import SCHEMATRON, XSD
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.profiles import (
    BR_FR_CII_SCHEMATRON,
    BR_FR_UBL_SCHEMATRON,
    EN16931_UBL_SCHEMATRON,
    PROFILES,
    UBL_INVOICE_XSD,
)

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


_EN16931 = next(profile for profile in PROFILES if profile.level == "en16931")
# what verify_document runs on a French EN 16931 invoice, per syntax: (XSD, Schematrons)
_BARE = {
    "CII": (_EN16931.xsd, (_EN16931.schematron, BR_FR_CII_SCHEMATRON)),
    "UBL": (UBL_INVOICE_XSD, (EN16931_UBL_SCHEMATRON, BR_FR_UBL_SCHEMATRON)),
}


def _embedded_xml(pdf: bytes) -> bytes:
    with open_pdf(pdf) as document:
        chosen = select_facturx_xml(embedded_files(document), Findings())
        assert chosen is not None, "generated invoices embed factur-x.xml"
        return chosen.read()


def _to_ubl(cii: bytes) -> bytes:
    """The same invoice as a UBL 2.1 Invoice, converted by the factur-x package."""
    return facturx.generate_ubl_xml(
        facturx.parse_ubl_cii_xml(cii, check_xsd=False), check_xsd=False, check_schematron=False
    )


def _bare_validation(xml: bytes, syntax: str) -> bool:
    """The irreducible work: parse, XSD, the Schematrons (compiled once); True when all pass."""
    xsd, stylesheets = _BARE[syntax]
    root = etree.fromstring(xml)
    xsd_errors = XSD.validate(root.getroottree(), xsd)
    results = SCHEMATRON.run(xml, stylesheets)
    return not xsd_errors and not any(not result.is_warning for stylesheet in results.values() for result in stylesheet)


@click.command()
@click.option("--files", "count", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--ubl-share",
    type=click.FloatRange(min=0, max=1),
    default=0.25,
    show_default=True,
    help="the share of files that are standalone UBL XML instead of Factur-X PDFs",
)
def main(count: int, seed: int, ubl_share: float) -> None:
    rng = random.Random(seed)
    started = time.perf_counter()
    pdfs = [render_facturx_pdf(_invoice(index, rng), _ORGANIZATION) for index in range(1, count + 1)]
    render_s = time.perf_counter() - started
    print(f"rendered {count} Factur-X PDFs in {render_s:.1f} s ({render_s * 1000 / count:.1f} ms/file)")
    ubl_every = round(1 / ubl_share) if ubl_share else 0
    files: list[bytes] = []
    xmls: list[tuple[bytes, str]] = []
    for index, pdf in enumerate(pdfs):
        cii = _embedded_xml(pdf)
        if ubl_every and index % ubl_every == ubl_every - 1:
            ubl = _to_ubl(cii)
            files.append(ubl)
            xmls.append((ubl, "UBL"))
        else:
            files.append(pdf)
            xmls.append((cii, "CII"))
    ubl_count = sum(syntax == "UBL" for _, syntax in xmls)
    print(f"the mix: {count - ubl_count} Factur-X PDFs, {ubl_count} UBL XML files")

    started = time.perf_counter()
    warm_up(ubl=bool(ubl_count))
    first_of_each: dict[str, tuple[bytes, bytes]] = {}
    for file, (xml, syntax) in zip(files, xmls, strict=True):
        first_of_each.setdefault(syntax, (file, xml))
    for syntax, (file, xml) in first_of_each.items():
        verify_document(file)  # the first call of each kind also loads its XSD and the PDF stack
        _bare_validation(xml, syntax)
    print(f"one-off compile and first verification: {time.perf_counter() - started:.2f} s")

    timings: list[float] = []
    bare_timings: list[float] = []
    invalid = bare_invalid = 0
    cpu_full = cpu_bare = 0.0
    for index, (file, (xml, syntax)) in enumerate(zip(files, xmls, strict=True)):
        # alternate which goes first, so that neither always runs on a warmer cache
        order = ("full", "bare") if index % 2 == 0 else ("bare", "full")
        for which in order:
            cpu = time.process_time()
            begin = time.perf_counter()
            if which == "full":
                invalid += not verify_document(file).valid
                timings.append((time.perf_counter() - begin) * 1000)
                cpu_full += time.process_time() - cpu
            else:
                bare_invalid += not _bare_validation(xml, syntax)
                bare_timings.append((time.perf_counter() - begin) * 1000)
                cpu_bare += time.process_time() - cpu
    total_ms = sum(timings)
    ratio = total_ms / sum(bare_timings)
    quantiles = statistics.quantiles(timings, n=20) if len(timings) > 1 else timings * 19
    print(
        f"median {statistics.median(timings):.1f} ms, p95 {quantiles[18]:.1f} ms, max {max(timings):.1f} ms; "
        f"{invalid} invalid; CPU {cpu_full * 1000 / count:.1f} ms/file (wall time suffers when other "
        "processes share the cores)"
    )
    print(
        f"bare validation (XSD + 2 Schematrons): {sum(bare_timings) / count:.1f} ms/file, "
        f"median {statistics.median(bare_timings):.1f} ms; CPU {cpu_bare * 1000 / count:.1f} ms/file; "
        f"CPU ratio {cpu_full / cpu_bare:.2f}x; median per-file ratio "
        f"{statistics.median(f / b for f, b in zip(timings, bare_timings, strict=True)):.2f}x"
    )
    for syntax in sorted({syntax for _, syntax in xmls}):
        picked = [index for index, (_, kind) in enumerate(xmls) if kind == syntax]
        full = sum(timings[index] for index in picked)
        bare = sum(bare_timings[index] for index in picked)
        print(f"  {syntax}: {len(picked)} files, {full / len(picked):.1f} ms/file, {full / bare:.2f}x bare validation")
    if invalid or bare_invalid:
        print(f"error: generated invoices must all be valid ({invalid} / {bare_invalid} were not)", file=sys.stderr)
        sys.exit(1)
    print(f"verify: {total_ms / count:.1f} ms/file over {count} files, {ratio:.2f}x bare validation")


if __name__ == "__main__":
    main()
