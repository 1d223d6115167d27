"""Throughput: N invoices from drafts to stored, verified Factur-X files at Qonto's rate limits.

The emulator runs in its own process on loopback with 80 ms added latency and Qonto's real limits
(1,000 requests / 10 s, 10,000 / 10 min). Clients exist beforehand (set-up, not measured). The measured
path is the pipeline's own code (drafts → finalize → readiness probe → download + verify + store).
In the same run, the seed guide's sequential loop (one customer at a time, 2 s polling) bills a smaller
N against the same emulator, for the speed-up per invoice.

    python benchmarks/throughput.py --invoices 2000 --sequential 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chaos_harness import EmulatorProcess
from benchmarks.traffic_report import breakdown_line
from billing_pipeline.billing.models import Customer, InvoiceLine, InvoicePlan, PeriodPlan, UsageStats, VatSubtotal
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.facturx import verify_pdf
from billing_pipeline.invoicing.documents.facturx_files import FacturxCollector
from billing_pipeline.invoicing.documents.readiness import probe_period
from billing_pipeline.invoicing.documents.render_follower import RenderFollower, collect_and_follow
from billing_pipeline.invoicing.drafts.service import DraftSynchronizer
from billing_pipeline.invoicing.finalization.service import finalize_period
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.invoicing.payloads import client_create, customer_digest
from billing_pipeline.invoicing.progress import pending_documents
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.qonto.config import ApiKeyAuth, QontoConfig
from billing_pipeline.qonto.models import ClientInvoiceCreate, InvoiceItemInput, Money

PERIOD = "2026-10"
CENT = Decimal("0.01")


def synthetic_plan(count: int) -> PeriodPlan:
    invoices = []
    for n in range(count):
        customer = Customer(
            customer_id=f"bench-{n:05d}",
            kind="individual",
            first_name="Camille",
            last_name=f"Martin {n}",
            email=f"camille.martin.{n}@example.org",
            street_address=f"{n % 200 + 1} rue de Rivoli",
            city="Paris",
            zip_code="75001",
            country_code="FR",
            currency="EUR",
            locale="fr",
            plan="starter",
            payment_terms_days=30,
        )
        quantity = Decimal(1000 + n)
        unit_price = Decimal("0.02")
        net = (quantity * unit_price).quantize(CENT)
        vat = (net * Decimal("0.20")).quantize(CENT)
        line = InvoiceLine(
            title="API calls",
            description=f"{quantity} API calls",
            quantity=quantity,
            unit="unit",
            unit_price=unit_price,
            vat_rate=Decimal("0.20"),
            vat_exemption_reason=None,
            net_amount=net,
        )
        invoices.append(
            InvoicePlan(
                customer=customer,
                period=PERIOD,
                currency="EUR",
                lines=[line],
                vat_breakdown=[
                    VatSubtotal(vat_rate=Decimal("0.20"), vat_exemption_reason=None, base=net, vat_amount=vat)
                ],
                net_total=net,
                vat_total=vat,
                total=net + vat,
            )
        )
    return PeriodPlan(
        period=PERIOD,
        currency="EUR",
        timezone="Europe/Paris",
        invoices=invoices,
        net_total=sum((i.net_total for i in invoices), Decimal(0)),
        vat_total=sum((i.vat_total for i in invoices), Decimal(0)),
        total=sum((i.total for i in invoices), Decimal(0)),
        usage_stats=UsageStats(
            files=0, rows_read=0, rows_in_period=0, duplicate_events=0, customers_billed=count, customers_skipped=0
        ),
    )


def client(emulator: EmulatorProcess, state_dir: Path, concurrency: int) -> QontoClient:
    config = QontoConfig(
        base_url=emulator.base_url,
        auth=ApiKeyAuth.parse(emulator.env["QONTO_API_KEY"]),
        max_concurrency=concurrency,
        rate_limit_db=state_dir / "rate.sqlite",
    )
    return QontoClient(config)


async def create_clients(qonto: QontoClient, ledger: Ledger, plan: PeriodPlan) -> dict[str, str]:
    created = await asyncio.gather(*(qonto.create_client(client_create(i.customer)) for i in plan.invoices))
    for invoice, client in zip(plan.invoices, created, strict=True):
        customer = invoice.customer
        ledger.link_client(customer.customer_id, client.id, customer.email, customer_digest(customer))
    return {i.customer.customer_id: c.id for i, c in zip(plan.invoices, created, strict=True)}


async def pipeline(qonto: QontoClient, ledger: Ledger, plan: PeriodPlan, ids: dict[str, str], out: Path) -> int:
    organization = await qonto.get_organization()
    account = organization.main_account()
    sync = DraftSynchronizer(qonto, ledger, iban=account.iban, issue_date=date.today(), timezone="Europe/Paris")
    phases: dict[str, float] = {}
    start = time.perf_counter()
    await sync.sync(plan, ids)
    phases["drafts"] = time.perf_counter() - start
    collector = FacturxCollector(qonto, ledger, out)
    start = time.perf_counter()
    # what finalized_invoices does: each file collected as soon as it is rendered (pipelined)
    follower = RenderFollower(collector, ledger)
    await finalize_period(sync, plan, on_finalized=follower.follow)
    collected = await follower.finish()
    phases["finalize + collect"] = time.perf_counter() - start
    stored_while_finalizing = sum(1 for o in collected.values() if o.status == "stored")
    start = time.perf_counter()
    # what facturx_files does next: a pass, then follow the last renders
    await collect_and_follow(collector, BillingPeriod.parse(PERIOD), window_s=60)
    phases["collect the rest"] = time.perf_counter() - start
    phases["sensor"] = 0.0
    while True:  # what the sensor does with what is left: probe the newest, then one collection run
        pending = pending_documents(ledger, PERIOD).get(PERIOD)
        if pending is None or not pending.invoices:
            break
        start = time.perf_counter()
        if (await probe_period(qonto, ledger, PERIOD, pending)).ready:
            await collector.collect(BillingPeriod.parse(PERIOD))
        else:
            await asyncio.sleep(1)
        phases["sensor"] += time.perf_counter() - start
    print(
        f"stored while finalizing: {stored_while_finalizing}; render delay learnt: "
        f"{follower.render_delay_s or 0:.1f} s; follower looks: {follower.looks}",
        flush=True,
    )
    print("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()), flush=True)
    return len(list((out / PERIOD).glob("*.pdf")))


async def sequential_seed_guide(emulator: EmulatorProcess, plan: PeriodPlan, out: Path) -> int:
    """The seed guide's loop: one customer at a time, plain httpx, 2 s polling."""
    headers = {"Authorization": emulator.env["QONTO_API_KEY"]}
    stored = 0
    async with httpx.AsyncClient(base_url=f"{emulator.base_url}/v2", headers=headers, timeout=60) as http:
        iban = (await http.get("/organization")).json()["organization"]["bank_accounts"][0]["iban"]
        for invoice in plan.invoices:
            found = (await http.get("/clients", params={"filter[email]": invoice.customer.email})).json()
            client_id = found["clients"][0]["id"]
            line = invoice.lines[0]
            body = ClientInvoiceCreate(
                client_id=client_id, status="draft", issue_date=date.today(), due_date=date.today(),
                currency="EUR", payment_methods={"iban": iban},
                items=[InvoiceItemInput(title=line.title, quantity=line.quantity, unit=line.unit,
                                        unit_price=Money(value=line.unit_price, currency="EUR"),
                                        vat_rate=line.vat_rate)],
            ).model_dump(mode="json", exclude_none=True)  # fmt: skip
            created = (await http.post("/client_invoices", json=body)).json()["client_invoice"]
            final = (await http.post(f"/client_invoices/{created['id']}/finalize")).json()["client_invoice"]
            while True:
                await asyncio.sleep(2)
                current = (await http.get(f"/client_invoices/{created['id']}")).json()["client_invoice"]
                if not current.get("attachment_id"):
                    continue
                attachment = (await http.get(f"/attachments/{current['attachment_id']}")).json()["attachment"]
                # compared as instants: Qonto mixes offsets (+01:00) and Z
                updated = datetime.fromisoformat(attachment["updated_at"])
                if updated > datetime.fromisoformat(final["finalized_at"]):
                    break
            async with httpx.AsyncClient(timeout=60) as plain:
                content = (await plain.get(attachment["url"])).content
            assert verify_pdf(content).valid
            (out / f"{final['number']}.pdf").write_bytes(content)
            stored += 1
    return stored


def fastest_s(requests: int) -> float:
    """The shortest run Qonto's limits allow for ``requests`` from an idle start (``ceiling_calls``'s
    inverse): 100/s, and 10,000 per 600 s."""
    windows = max(0, (requests - 1) // 10000)
    return 600 * windows + (requests - 10000 * windows) / 100


def limits_line(requests: int, elapsed: float) -> str:
    """How the run's length compares with the shortest Qonto's limits allow for its requests."""
    fastest = fastest_s(requests)
    return (
        f"at Qonto's limits: {requests} requests need at least {fastest:.0f} s from an idle start "
        f"(this run: {elapsed:.0f} s, {fastest / elapsed:.2f} of that pace); {requests / 10000:.2f} of one "
        "10-minute allowance"
    )


def ceiling_calls(duration_s: float) -> float:
    """Requests Qonto allows in a run of this length from an idle start, both windows sliding: 100/s
    until 10,000 are spent, then nothing until those leave the 10-minute window, 600 s after they
    were sent — so 10,000 per whole 600 s, plus 100/s (at most 10,000) in the part-window after.
    (The former formula, 10,000 x ceil(d / 600), granted a run of 601 s 20,000 requests.)"""
    whole, rest = divmod(duration_s, 600)
    return 10000 * whole + min(1000 * rest / 10, 10000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--sequential", type=int, default=5, help="invoices billed by the sequential loop")
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--latency-ms", type=int, default=80)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="throughput-") as work:
        workdir = Path(work)
        emulator = EmulatorProcess(workdir / "emulator.sqlite", latency_ms=args.latency_ms, fault_rate=0,
                                   lost_rate=0, render_delay=10)  # fmt: skip
        try:
            plan = synthetic_plan(args.invoices)
            ledger = Ledger(f"sqlite:///{workdir / 'ledger.sqlite'}")

            async def measured() -> tuple[int, float, int, int, str]:
                (workdir / "setup").mkdir()
                async with client(emulator, workdir / "setup", args.concurrency) as qonto:
                    ids = await create_clients(qonto, ledger, plan)
                # returning customers: their clients were created months ago, both rate windows (Qonto's
                # and the client's own budget) are idle when the month's billing starts
                emulator.admin("POST", "reset", json={"scope": "traffic"})
                async with client(emulator, workdir, args.concurrency) as qonto:
                    before = emulator.admin("GET", "stats")
                    start = time.perf_counter()
                    stored = await pipeline(qonto, ledger, plan, ids, workdir / "invoices")
                    elapsed = time.perf_counter() - start
                after = emulator.admin("GET", "stats")
                calls = after["api_requests"] - before["api_requests"]
                limited = after["rate_limited"] - before["rate_limited"]
                # clients exist beforehand: these are returning customers' requests
                breakdown = breakdown_line("calls (returning customers)", before, after, stored)
                return stored, elapsed, calls, limited, breakdown

            stored, elapsed, calls, limited, breakdown = asyncio.run(measured())
            assert stored == args.invoices, f"stored {stored} of {args.invoices}"
            per_minute = stored / elapsed * 60
            calls_per_invoice = calls / stored
            ceiling_per_minute = ceiling_calls(elapsed) / calls_per_invoice / elapsed * 60
            ratio = per_minute / ceiling_per_minute
            print(f"pipeline: {stored} invoices in {elapsed:.1f} s, {calls} API calls, {limited} answered 429")
            print(breakdown)
            print(limits_line(calls, elapsed))

            small = synthetic_plan(args.invoices + args.sequential).invoices[args.invoices :]
            small_plan = plan.model_copy(update={"invoices": small})
            (workdir / "sequential").mkdir()

            async def baseline() -> tuple[int, float]:
                async with client(emulator, workdir, 4) as qonto:
                    await create_clients(qonto, ledger, small_plan)
                start = time.perf_counter()
                done = await sequential_seed_guide(emulator, small_plan, workdir / "sequential")
                return done, time.perf_counter() - start

            done, seq_elapsed = asyncio.run(baseline())
            speedup = (seq_elapsed / done) / (elapsed / stored)
            percent_429 = 100 * limited / max(1, calls)
            print(f"sequential: {done} invoices in {seq_elapsed:.1f} s ({seq_elapsed / done:.2f} s/invoice)")
            print(
                f"throughput: {per_minute:.0f} invoices/min, {calls_per_invoice:.2f} calls/invoice, "
                f"{ratio:.2f} of ceiling, {speedup:.0f}x vs sequential, {percent_429:.2f}% 429"
            )
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
