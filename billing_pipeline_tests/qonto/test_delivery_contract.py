"""Contract tests of the delivery calls: the real ``QontoClient`` over loopback HTTP against the emulator."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.qonto import (
    Address,
    ClientCreate,
    QontoAmbiguousWriteError,
    QontoClient,
    QontoNotFoundError,
    QontoValidationError,
)
from billing_pipeline.qonto.delivery_calls import InvoiceEmail
from billing_pipeline_tests.qonto.test_contract_emulator import FAST, billable_client, config_for, draft_for

REFUSER = "542065479"
DELAY_S = 5.0


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    outbox = tmp_path_factory.mktemp("outbox")
    with running_emulator(
        render_delay_s=10, einvoicing_delay_s=DELAY_S, einvoicing_refuse=REFUSER, outbox_dir=outbox
    ) as running:
        yield running


@pytest.fixture
def outbox(emulator: RunningEmulator) -> Path:
    emulator.reset()
    return emulator.config.effective_outbox_dir


def list_files(folder: Path) -> list[Path]:
    # a local folder, read synchronously on purpose (the async client is the thing under test)
    return sorted(folder.iterdir())


def client_for(emulator: RunningEmulator) -> QontoClient:
    return QontoClient(config_for(emulator), retry_policy=FAST)


async def finalized_invoice(qonto: QontoClient, marker: str) -> tuple[str, str]:
    iban = (await qonto.get_organization()).main_account().iban
    client_id = await billable_client(qonto, f"{marker}@acme.example")
    draft = await qonto.create_client_invoice(draft_for(client_id, iban, marker))
    finalized = await qonto.finalize_client_invoice(draft.id)
    assert finalized.number is not None
    return finalized.id, finalized.number


MAIL = InvoiceEmail(send_to=["billing@acme.example"], email_title="Votre facture", email_body="Bonjour")


async def test_send_writes_one_message_the_client_parses_204(emulator: RunningEmulator, outbox: Path) -> None:
    async with client_for(emulator) as qonto:
        invoice_id, number = await finalized_invoice(qonto, "BP-send-1")

        await qonto.send_client_invoice(invoice_id, MAIL)

        (path,) = list_files(outbox)
        assert path.name == f"{number}-1.eml"
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["To"] == "billing@acme.example" and message["Subject"] == "Votre facture"
        assert message.get("Bcc") is None  # the client sends copy_to_self=false
        (attachment,) = list(message.iter_attachments())  # type: ignore[attr-defined]
        emulator.advance_clock(11)
        invoice = await qonto.get_client_invoice(invoice_id)
        assert invoice.attachment_id is not None
        attachment_info = await qonto.get_attachment(invoice.attachment_id)
        assert await qonto.download_attachment(attachment_info) == attachment.get_content()
        assert invoice.status == "unpaid"


async def test_send_errors_map_to_the_client_exceptions(emulator: RunningEmulator, outbox: Path) -> None:
    async with client_for(emulator) as qonto:
        iban = (await qonto.get_organization()).main_account().iban
        client_id = await billable_client(qonto, "draft@acme.example")
        draft = await qonto.create_client_invoice(draft_for(client_id, iban, "BP-draft"))
        with pytest.raises(QontoValidationError) as refused:
            await qonto.send_client_invoice(draft.id, MAIL)
        assert refused.value.code == "invalid_invoice_status"
        with pytest.raises(QontoNotFoundError):
            await qonto.send_client_invoice("00000000-0000-4000-8000-000000000000", MAIL)
    assert list_files(outbox) == []


async def test_a_lost_send_is_ambiguous_and_the_email_left(emulator: RunningEmulator, outbox: Path) -> None:
    async with client_for(emulator) as qonto:
        invoice_id, number = await finalized_invoice(qonto, "BP-send-lost")
        emulator.queue_fault("lost_response", "POST", r"/send$", count=1)

        with pytest.raises(QontoAmbiguousWriteError):
            await qonto.send_client_invoice(invoice_id, MAIL)

    # not retried by the client, and yet written: a blind retry would be a second email
    assert [p.name for p in list_files(outbox)] == [f"{number}-1.eml"]
    assert len(emulator.state()["sent_emails"]) == 1


async def test_send_by_einvoice_and_the_parsed_lifecycle(emulator: RunningEmulator, outbox: Path) -> None:
    async with client_for(emulator) as qonto:
        invoice_id, _ = await finalized_invoice(qonto, "BP-einvoice")
        invoice = await qonto.get_client_invoice(invoice_id)
        assert invoice.einvoicing_status is None and invoice.einvoicing_lifecycle_events == []
        assert (await qonto.get_client(invoice.client.id if invoice.client else "")).e_invoicing_reachable is True

        await qonto.send_client_invoice_by_einvoice(invoice_id)
        emulator.queue_fault("lost_response", "POST", r"/send_by_einvoice$", count=1)
        await qonto.send_client_invoice_by_einvoice(invoice_id)  # idempotent: retried, still one submission
        emulator.advance_clock(2 * DELAY_S)

        received = await qonto.get_client_invoice(invoice_id)
    assert received.einvoicing_status == "approved"
    assert [e.status_code for e in received.einvoicing_lifecycle_events] == [200, 201, 202]
    assert len(emulator.state()["einvoice_submissions"]) == 1


async def test_a_refusing_buyer_and_an_unreachable_client(emulator: RunningEmulator, outbox: Path) -> None:
    async with client_for(emulator) as qonto:
        iban = (await qonto.get_organization()).main_account().iban
        refuser = await _client_with_siren(qonto, REFUSER)
        draft = await qonto.create_client_invoice(draft_for(refuser, iban, "BP-refuse"))
        invoice = await qonto.finalize_client_invoice(draft.id)
        await qonto.send_client_invoice_by_einvoice(invoice.id)
        emulator.advance_clock(2 * DELAY_S)
        refused = await qonto.get_client_invoice(invoice.id)
        assert refused.einvoicing_status == "declined"
        last = refused.einvoicing_lifecycle_events[-1]
        assert (last.status_code, last.reason) == (210, "REFUSED") and last.reason_message

        foreign = await _client_with_siren(qonto, None)
        draft = await qonto.create_client_invoice(draft_for(foreign, iban, "BP-foreign"))
        invoice = await qonto.finalize_client_invoice(draft.id)
        with pytest.raises(QontoValidationError) as unreachable:
            await qonto.send_client_invoice_by_einvoice(invoice.id)
        assert unreachable.value.code == "client_not_reachable"


async def _client_with_siren(qonto: QontoClient, siren: str | None) -> str:
    created = await qonto.create_client(
        ClientCreate(
            kind="company",
            name=f"Buyer {siren}",
            email=f"{siren or 'none'}@buyer.example",
            currency="EUR",
            locale="fr",
            tax_identification_number=siren,
            billing_address=Address(street_address="2 rue Neuve", city="Lyon", zip_code="69002", country_code="FR"),
        )
    )
    assert created.e_invoicing_reachable is (siren is not None)
    return created.id


async def test_the_embedded_emulator_takes_the_einvoicing_delay_and_mails_into_the_state_dir(
    tmp_path: Path,
) -> None:
    from billing_pipeline.invoicing.connection import QontoConnection
    from billing_pipeline.settings import BillingSettings, QontoMode

    settings = BillingSettings.from_env({"QONTO_EMULATOR_EINVOICING_DELAY": "0", "QONTO_EMULATOR_RENDER_DELAY": "0"})
    connection = QontoConnection(
        mode=QontoMode.EMULATOR,
        state_dir=tmp_path,
        emulator_render_delay_s=settings.emulator_render_delay_s,
        emulator_einvoicing_delay_s=settings.emulator_einvoicing_delay_s,
    )
    async with connection.open() as qonto:
        invoice_id, number = await finalized_invoice(qonto, "BP-embedded")
        await qonto.send_client_invoice(invoice_id, MAIL)
        await qonto.send_client_invoice_by_einvoice(invoice_id)
        invoice = await qonto.get_client_invoice(invoice_id)

    assert [e.status_code for e in invoice.einvoicing_lifecycle_events] == [200, 201, 202]  # delay 0
    assert [p.name for p in list_files(tmp_path / "emulator-outbox")] == [f"{number}-1.eml"]
