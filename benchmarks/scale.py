"""SaaS scale: 100,000 customers — pricing, the reconciliation listing and a sensor tick.

    python benchmarks/scale.py --customers 100000 --events 2000000 --invoices 100000

1. ``demo-data``'s generator writes the customers, price list and usage (Parquet) to a temp folder;
   ``plan_period`` prices the period (every customer with usage gets an invoice plan).
2. ``billing-pipeline emulator serve`` runs in its own process with Qonto's rate limits; one client
   and one invoice are created and finalized through the API, then ``--invoices`` finalized copies
   are written straight into its state (``emulator/bulk_seed.py``, a benchmark helper: 100,000
   creates over HTTP would take hours at Qonto's limits). ``index_period`` (what drafts and
   finalization run before any create) lists them all: calls must be O(pages), 100 invoices a page.
3. The ledger gets one ``finalized`` row per invoice (waiting for its Factur-X file) and the
   attachment sensor is evaluated once, as the daemon would: its calls must stay bounded (a
   few per period) and the tick well under 10 s.
4. The same tick over a ledger of ``--ledger-rows`` (10⁶) finalized rows in 10 periods, written by
   ``benchmarks/big_ledger.py`` (Qonto played by a fake answering "ready"): the tick reads counts per
   period and a bounded page of rows, so it stays in seconds (it read every row: ~60 s at 10⁶).

Peak memory is the benchmark process's (``ru_maxrss``; the emulator's own process is not counted).
Ends with one line: ``scale: <C> customers priced in <T> s, listing <N> invoices in <L> s / <K>
calls, sensor tick <S> s / <J> calls, sensor tick at <R> rows <T> s, <M> MB peak``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.big_ledger import fill_invoices
from benchmarks.chaos_harness import EmulatorProcess
from billing_pipeline.billing.demo import write_demo_data
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.defs.documents.sensor import facturx_attachment_sensor
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.emulator.bulk_seed import clone_finalized_invoices
from billing_pipeline.emulator.seed import MAIN_IBAN
from billing_pipeline.invoicing.invoices.qonto_index import index_period
from billing_pipeline.invoicing.invoices.records import InvoiceState, invoice_records
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.config import ApiKeyAuth, QontoConfig
from billing_pipeline.qonto.models import Attachment, ClientInvoice

PERIOD = "2026-10"
TIMEZONE = "Europe/Paris"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def api_requests(emulator: EmulatorProcess) -> int:
    return int(emulator.admin("GET", "stats")["api_requests"])


def template_invoice(emulator: EmulatorProcess, header: str) -> dict:
    """One client and one finalized invoice created through the API, as the pipeline would."""
    headers = {"Authorization": emulator.env["QONTO_API_KEY"]}
    with httpx.Client(base_url=emulator.base_url, headers=headers, timeout=30) as api:
        client = api.post(
            "/v2/clients",
            json={
                "kind": "company",
                "name": "Scale Benchmark SAS",
                "email": "billing@scale.example",
                "currency": "EUR",
                "locale": "FR",
                "tax_identification_number": "732829320",
                "vat_number": "FR44732829320",
                "billing_address": {
                    "street_address": "10 quai de la Charente",
                    "city": "Paris",
                    "zip_code": "75019",
                    "country_code": "FR",
                },
            },
        )
        client.raise_for_status()
        invoice = api.post(
            "/v2/client_invoices",
            json={
                "client_id": client.json()["client"]["id"],
                "issue_date": "2026-11-01",
                "due_date": "2026-12-01",
                "performance_start_date": "2026-10-01",
                "performance_end_date": "2026-10-31",
                "status": "draft",
                "currency": "EUR",
                "header": header,
                "payment_methods": {"iban": MAIN_IBAN},
                "items": [
                    {
                        "title": "API calls",
                        "quantity": "1000",
                        "unit": "unit",
                        "unit_price": {"value": "0.02", "currency": "EUR"},
                        "vat_rate": "0.2",
                    }
                ],
            },
        )
        invoice.raise_for_status()
        finalized = api.post(f"/v2/client_invoices/{invoice.json()['client_invoice']['id']}/finalize")
        finalized.raise_for_status()
        return dict(finalized.json()["client_invoice"])


def seed_ledger(ledger: Ledger, rows: list[dict]) -> None:
    with ledger.engine.begin() as connection:
        connection.execute(invoice_records.insert(), rows)


async def listing(emulator: EmulatorProcess, state_dir: Path) -> tuple[int, float]:
    config = QontoConfig(
        base_url=emulator.base_url,
        auth=ApiKeyAuth.parse(emulator.env["QONTO_API_KEY"]),
        rate_limit_db=state_dir / "rate.sqlite",
    )
    async with QontoClient(config) as qonto:
        started = time.perf_counter()
        index = await index_period(qonto, BillingPeriod.parse(PERIOD), TIMEZONE)
        return sum(len(v) for v in index.by_reference.values()), time.perf_counter() - started


class _ReadyQonto:
    """Qonto for the big-ledger tick: every attachment rendered after its finalization."""

    def __init__(self, finalized_at: datetime) -> None:
        self.finalized_at = finalized_at

    async def __aenter__(self) -> _ReadyQonto:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def get_client_invoice(self, invoice_id: str) -> ClientInvoice:
        return ClientInvoice(id=invoice_id, status="unpaid", attachment_id=f"att-{invoice_id}",
                             finalized_at=self.finalized_at)  # fmt: skip

    async def get_attachment(self, attachment_id: str) -> Attachment:
        return Attachment(id=attachment_id, file_name="x.pdf", url="https://files.example/x",
                          updated_at=self.finalized_at + timedelta(seconds=12))  # fmt: skip


def big_ledger_tick(state_dir: Path, rows: int) -> tuple[int, float]:
    """One attachment-sensor tick over ``rows`` finalized ledger rows in 10 periods: (rows, seconds)."""
    state_dir.mkdir(parents=True)
    ledger = Ledger(f"sqlite:///{state_dir / 'ledger.sqlite'}")
    finalized_at = datetime.now(UTC) - timedelta(hours=1)  # every row stale: the hardest page
    written = fill_invoices(ledger, [f"2026-{m:02d}" for m in range(1, 11)], rows // 10, finalized_at)
    ledger.dispose()
    fake = _ReadyQonto(finalized_at)

    class ReadyConnection:
        def open(self) -> _ReadyQonto:
            return fake

    class ReadyQontoResource(QontoResource):
        def connection(self):  # type: ignore[override]
            return ReadyConnection()

    resources = {
        "qonto": ReadyQontoResource(mode="custom", state_dir=str(state_dir)),
        "billing": BillingResource(state_dir=str(state_dir)),
    }
    with dg.instance_for_test() as instance, dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        started = time.perf_counter()
        facturx_attachment_sensor(ctx)
        return written, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000, help="usage rows of the period")
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices in the emulator and the ledger")
    parser.add_argument("--ledger-rows", type=int, default=1_000_000, help="finalized rows for the big-ledger tick")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as temp:
        root = Path(temp)
        # -- 1. data and pricing ----------------------------------------------------------------
        started = time.perf_counter()
        write_demo_data(root / "data", customers=args.customers, events=args.events, period=PERIOD)
        print(
            f"demo data: {args.customers:,} customers, {args.events:,} events in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        plan = plan_period(PERIOD, root / "data", timezone=TIMEZONE)
        pricing_s = time.perf_counter() - started
        print(
            f"pricing: {len(plan.invoices):,} invoice plans ({plan.usage_stats.rows_in_period:,} events) "
            f"in {pricing_s:.1f} s, {peak_mb():.0f} MB peak so far"
        )
        customer_ids = [invoice.customer.customer_id for invoice in plan.invoices]
        customer_ids += [f"extra_{n:06d}" for n in range(max(0, args.invoices - len(customer_ids)))]
        customer_ids = customer_ids[: args.invoices]
        del plan

        # -- 2. the emulator holding N finalized invoices, and the reconciliation listing ------------
        state_dir = root / "state"
        state_dir.mkdir()
        emulator = EmulatorProcess(
            root / "emulator.sqlite", latency_ms=0, fault_rate=0.0, lost_rate=0.0, render_delay=0.5
        )
        try:
            period = BillingPeriod.parse(PERIOD)
            references = [InvoiceReference.of(customer, period) for customer in customer_ids]
            template = template_invoice(emulator, references[0].header())
            started = time.perf_counter()
            seeded = clone_finalized_invoices(
                root / "emulator.sqlite",
                template["id"],
                [reference.header() for reference in references[1:]],
                first_number=2,
                year=2026,
            )
            print(
                f"seeded {len(seeded) + 1:,} finalized invoices into the emulator in "
                f"{time.perf_counter() - started:.1f} s"
            )
            before = api_requests(emulator)
            indexed, listing_s = asyncio.run(listing(emulator, state_dir))
            listing_calls = api_requests(emulator) - before
            pages = -(-len(references) // 100)
            print(
                f"reconciliation listing: {indexed:,} invoices indexed in {listing_s:.1f} s, {listing_calls} calls "
                f"({pages} pages of 100), {peak_mb():.0f} MB peak so far"
            )
            if indexed != len(references):
                print(f"error: {len(references)} invoices seeded, {indexed} indexed", file=sys.stderr)
                return 1

            # -- 3. the attachment sensor with N invoices waiting ------------------------------------
            ledger = Ledger(f"sqlite:///{state_dir / 'ledger.sqlite'}", lock_dir=state_dir / "locks")
            finalized_at = datetime.fromisoformat(template["finalized_at"].replace("Z", "+00:00")).astimezone(UTC)
            now = datetime.now(UTC)
            invoices = [(template["id"], template["number"], template["attachment_id"])]
            invoices += [(s.invoice_id, s.number, s.attachment_id) for s in seeded]
            seed_ledger(
                ledger,
                [
                    {
                        "customer_id": reference.customer_id,
                        "period": PERIOD,
                        "reference": str(reference),
                        "client_id": template.get("client_id") or template["client"]["id"],
                        "invoice_id": invoice_id,
                        "state": InvoiceState.FINALIZED.value,
                        "total": "24.00",
                        "number": number,
                        # as finalize_period records them (Qonto renders in order: all ready by now)
                        "finalized_at": finalized_at,
                        "attachment_id": attachment_id,
                        "updated_at": now,
                    }
                    for reference, (invoice_id, number, attachment_id) in zip(references, invoices, strict=True)
                ],
            )
            ledger.dispose()
            qonto = QontoResource(
                mode="custom",
                base_url=emulator.base_url,
                api_key=emulator.env["QONTO_API_KEY"],
                state_dir=str(state_dir),
            )
            billing = BillingResource(
                data_dir=str(root / "data"), invoices_dir=str(root / "invoices"), state_dir=str(state_dir)
            )
            time.sleep(0.6)  # past the render delay: the attachments are ready
            with dg.instance_for_test() as instance:
                before = api_requests(emulator)
                started = time.perf_counter()
                with dg.build_sensor_context(instance=instance, resources={"qonto": qonto, "billing": billing}) as ctx:
                    result = facturx_attachment_sensor(ctx)
                tick_s = time.perf_counter() - started
                tick_calls = api_requests(emulator) - before
            requested = [r.partition_key for r in getattr(result, "run_requests", None) or []]
            print(
                f"sensor tick: {len(references):,} invoices waiting, {tick_s:.2f} s, {tick_calls} calls, "
                f"runs requested for {requested or 'none'}, {peak_mb():.0f} MB peak so far"
            )
        finally:
            emulator.stop()
        # -- 4. the attachment sensor over a ledger of 10⁶ rows ---------------------------------------
        big_rows, big_tick_s = big_ledger_tick(root / "big", args.ledger_rows)
        print(f"sensor tick at {big_rows:,} ledger rows: {big_tick_s:.2f} s, {peak_mb():.0f} MB peak so far")
    print(
        f"scale: {args.customers} customers priced in {pricing_s:.1f} s, listing {len(customer_ids)} invoices "
        f"in {listing_s:.1f} s / {listing_calls} calls, sensor tick {tick_s:.2f} s / {tick_calls} calls, "
        f"sensor tick at {big_rows} rows {big_tick_s:.2f} s, {peak_mb():.0f} MB peak"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
