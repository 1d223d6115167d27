"""``bill --wait`` and the sensors agree (issue 19): on the same ledger and the same Qonto answers, the job
the CLI launches for a period is the job the sensors request for it. A fake Qonto answers the probes;
its timestamps are relative to the ledger's fixed finalization time, never to today."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType

import dagster as dg
import pytest

from billing_pipeline import headless
from billing_pipeline.defs.delivery.sensor import delivery_lifecycle_sensor
from billing_pipeline.defs.documents.sensor import facturx_attachment_sensor
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.invoicing.corrections.records import CorrectionState
from billing_pipeline.invoicing.delivery.records import DeliveryState
from billing_pipeline.invoicing.invoices.records import InvoiceState
from billing_pipeline.invoicing.progress import Cause, Job
from billing_pipeline.qonto.credit_note_models import CreditNote
from billing_pipeline.qonto.invoice_models import EInvoicingLifecycleEvent
from billing_pipeline.qonto.models import Attachment, ClientInvoice
from billing_pipeline_tests.pipeline.progress_ledger import FINALIZED_AT, PERIOD, Customer, ledger_with

IS, DS, CS = InvoiceState, DeliveryState, CorrectionState


@dataclass
class _FakeQonto:
    rendered: set[str] = field(default_factory=set)  # attachment ids whose Factur-X is rendered
    moved: set[str] = field(default_factory=set)  # invoice ids whose e-invoice moved on the network
    opened: int = 0

    def open(self) -> _FakeQonto:  # QontoConnection.open(): the client, an async context manager
        self.opened += 1
        return self

    async def __aenter__(self) -> _FakeQonto:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None):
        return None

    async def get_client_invoice(self, invoice_id: str) -> ClientInvoice:
        events = [EInvoicingLifecycleEvent(status_code=202)] if invoice_id in self.moved else []
        return ClientInvoice(
            id=invoice_id, status="unpaid", number=f"F-{invoice_id}", attachment_id=f"att-{invoice_id}",
            finalized_at=FINALIZED_AT, einvoicing_lifecycle_events=events,
        )  # fmt: skip

    async def get_attachment(self, attachment_id: str) -> Attachment:
        # a rendered Factur-X is newer than the finalization; the draft PDF is older
        later = timedelta(minutes=5) if attachment_id in self.rendered else -timedelta(hours=1)
        return Attachment(id=attachment_id, url="https://files.example/x", updated_at=FINALIZED_AT + later)

    async def get_credit_note(self, credit_note_id: str) -> CreditNote:
        return CreditNote(
            id=credit_note_id, attachment_id=f"att-{credit_note_id}", finalized_at=FINALIZED_AT + timedelta(minutes=1)
        )


@dataclass(frozen=True)
class Case:
    customers: list[Customer]
    expected: Job | None
    cause: Cause | None = None
    rendered: frozenset[str] = frozenset()
    moved: frozenset[str] = frozenset()
    delivery: str = "auto"


CASES = {
    "files rendered": Case([Customer("a", IS.FINALIZED)], Job.FACTURX_COLLECTION, Cause.FILES_READY,
                           rendered=frozenset({"att-inv-2026-10-a"})),
    "files still rendering": Case([Customer("a", IS.FINALIZED)], None),
    "rendering, and a resend waits": Case([Customer("a", IS.FINALIZED), Customer("b", IS.STORED, DS.RESEND)],
                                          Job.INVOICE_DELIVERY, Cause.RESEND),
    "e-invoice moved": Case([Customer("a", IS.STORED, DS.SUBMITTED)], Job.INVOICE_DELIVERY, Cause.LIFECYCLE,
                            moved=frozenset({"inv-2026-10-a"})),
    "e-invoice quiet": Case([Customer("a", IS.STORED, DS.SUBMITTED)], None),
    "verified, not delivered, delivery begun": Case([Customer("a", IS.STORED, DS.SENT), Customer("b", IS.STORED)],
                                                    Job.INVOICE_DELIVERY, Cause.UNDELIVERED),
    "verified, never delivered": Case([Customer("a", IS.STORED), Customer("b", IS.STORED)], None),
    "credit note rendered": Case([Customer("a", IS.CANCELED, credit_note=CS.ISSUED)], Job.FACTURX_COLLECTION,
                                 Cause.FILES_READY, rendered=frozenset({"att-cn-inv-2026-10-a"})),
    "credit note rendering": Case([Customer("a", IS.CANCELED, credit_note=CS.ISSUED)], None),
    "delivery off": Case([Customer("a", IS.STORED, DS.RESEND), Customer("b", IS.STORED)], None, delivery="off"),
    "delivery off, e-invoice moved": Case([Customer("a", IS.STORED, DS.SUBMITTED)], None, delivery="off",
                                          moved=frozenset({"inv-2026-10-a"})),
    "a delivery left sending": Case([Customer("a", IS.STORED, DS.SENDING)], None),
    "a delivery needing a person": Case([Customer("a", IS.STORED, DS.UNKNOWN)], None),
    "done": Case([Customer("a", IS.STORED, DS.SENT)], None),
}  # fmt: skip


def _tick(sensor: dg.SensorDefinition, resources: dict[str, dg.ConfigurableResource]) -> list[dg.RunRequest]:
    with dg.build_sensor_context(resources=resources) as context:
        result = sensor(context)
    return list(result.run_requests or []) if isinstance(result, dg.SensorResult) else []


@pytest.mark.parametrize("name", list(CASES))
def test_bill_launches_the_job_the_sensors_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    case = CASES[name]
    state_dir = tmp_path / "state"
    ledger = ledger_with(str((state_dir / "ledger.sqlite").resolve()), case.customers)
    qonto = _FakeQonto(rendered=set(case.rendered), moved=set(case.moved))
    monkeypatch.setattr(QontoResource, "connection", lambda self: qonto)
    resources: dict[str, dg.ConfigurableResource] = {
        "qonto": QontoResource(mode="custom", base_url="http://qonto.invalid", api_key="a:b", state_dir=str(state_dir)),
        "billing": BillingResource(
            data_dir=str(tmp_path / "data"), invoices_dir=str(tmp_path / "invoices"), state_dir=str(state_dir),
            delivery=case.delivery,
        ),
    }  # fmt: skip

    cli = headless.next_run(resources["qonto"], ledger, PERIOD, delivering=case.delivery != "off")
    collection = _tick(facturx_attachment_sensor, resources)
    delivery = _tick(delivery_lifecycle_sensor, resources)

    assert (cli.job, cli.cause) == (case.expected, case.cause), cli.reason
    # the sensors, each requesting its own job: a collection run also delivers, so it comes first
    requested = (
        Job.FACTURX_COLLECTION
        if any(r.partition_key == PERIOD for r in collection)
        else Job.INVOICE_DELIVERY
        if any(r.partition_key == PERIOD for r in delivery)
        else None
    )
    assert requested == cli.job
    if cli.cause in (Cause.LIFECYCLE, Cause.RESEND, Cause.UNDELIVERED):
        # and for the reason the sensor's run key names
        assert [r.run_key.split(":")[2].split("-")[0] for r in delivery] == [cli.cause.value.split("-")[0]]


@pytest.mark.parametrize(
    "name", ["verified, not delivered, delivery begun", "done", "delivery off", "delivery off, e-invoice moved"]
)
def test_bill_opens_qonto_only_when_a_probe_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    case = CASES[name]
    ledger = ledger_with(str(tmp_path / "ledger.sqlite"), case.customers)
    qonto = _FakeQonto()

    class _Resource:
        def connection(self) -> _FakeQonto:
            return qonto

    headless.next_run(_Resource(), ledger, PERIOD, delivering=case.delivery != "off")
    assert qonto.opened == 0
