"""POST /v2/client_invoices/{id}/send: one RFC 5322 message in the outbox per accepted call."""

from __future__ import annotations

import email
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import facturx
import httpx
import pytest

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline_tests.emulator.helpers import assert_error, create_invoice, finalize

MAIL = {"send_to": ["billing@acme.test", "cfo@acme.test"], "email_title": "Votre facture", "email_body": "Ci-joint."}


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outbox")


@pytest.fixture(scope="module")
def mailer(outbox: Path) -> Iterator[RunningEmulator]:
    # a real render delay: the first sends happen before the Factur-X swap
    with running_emulator(render_delay_s=10, outbox_dir=outbox) as running:
        yield running


@pytest.fixture
def api(mailer: RunningEmulator, outbox: Path) -> Iterator[httpx.Client]:
    mailer.reset()
    for stray in outbox.iterdir():  # files a test planted itself (reset removes the emulator's own)
        stray.unlink()
    with httpx.Client(base_url=mailer.base_url, headers={"Authorization": mailer.api_key}, timeout=30) as client:
        yield client


def _send(api: httpx.Client, invoice_id: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return api.post(f"/v2/client_invoices/{invoice_id}/send", json=MAIL if body is None else body)


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _download(api: httpx.Client, attachment_id: str) -> bytes:
    url = api.get(f"/v2/attachments/{attachment_id}").json()["attachment"]["url"]
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    return response.content


def test_each_send_writes_exactly_one_message_with_the_pdf(
    api: httpx.Client, mailer: RunningEmulator, outbox: Path
) -> None:
    invoice = finalize(api, create_invoice(api)["id"])
    number = invoice["number"]

    response = _send(api, invoice["id"])

    assert response.status_code == 204 and response.content == b""
    assert sorted(p.name for p in outbox.iterdir()) == [f"{number}-1.eml"]
    message = _read(outbox / f"{number}-1.eml")
    assert message["To"] == "billing@acme.test, cfo@acme.test"
    assert message["Subject"] == "Votre facture"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "Ci-joint."
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{number}.pdf"
    pdf = attachment.get_content()
    # sent before the render delay: the Factur-X was rendered for the email, and once due the
    # attachment download serves exactly those bytes
    mailer.advance_clock(11)
    assert _download(api, invoice["attachment_id"]) == pdf
    _, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=False)
    assert xml and b"CrossIndustryInvoice" in xml
    # the invoice itself does not change
    after = api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]
    assert after["status"] == "unpaid" and after["updated_at"] == invoice["updated_at"]


def test_a_second_send_is_a_second_message_never_an_overwrite(
    api: httpx.Client, mailer: RunningEmulator, outbox: Path
) -> None:
    invoice = finalize(api, create_invoice(api)["id"])
    number = invoice["number"]
    assert _send(api, invoice["id"]).status_code == 204
    first = (outbox / f"{number}-1.eml").read_bytes()
    # a file already there (e.g. left by another emulator) is never overwritten: n skips it
    (outbox / f"{number}-2.eml").write_bytes(b"someone else's")

    assert _send(api, invoice["id"], {"send_to": ["ops@acme.test"], "email_title": "Rappel"}).status_code == 204

    assert (outbox / f"{number}-1.eml").read_bytes() == first
    assert (outbox / f"{number}-2.eml").read_bytes() == b"someone else's"
    third = _read(outbox / f"{number}-3.eml")
    assert third["To"] == "ops@acme.test" and third["Subject"] == "Rappel"
    default_body = third.get_body(preferencelist=("plain",))
    assert default_body is not None and number in default_body.get_content()  # Qonto-like default text
    sent = mailer.state()["sent_emails"]
    assert [(s["number"], s["to"], s["subject"], s["file_name"]) for s in sent] == [
        (number, MAIL["send_to"], "Votre facture", f"{number}-1.eml"),
        (number, ["ops@acme.test"], "Rappel", f"{number}-3.eml"),
    ]
    assert all(s["invoice_id"] == invoice["id"] for s in sent)
    assert not [p for p in outbox.iterdir() if p.name.endswith(".tmp")]


def test_reset_clears_the_records_and_the_emulator_written_files(
    api: httpx.Client, mailer: RunningEmulator, outbox: Path
) -> None:
    invoice = finalize(api, create_invoice(api)["id"])
    assert _send(api, invoice["id"]).status_code == 204

    mailer.reset()

    assert mailer.state()["sent_emails"] == []
    assert list(outbox.iterdir()) == []


def test_a_paid_invoice_can_be_sent_a_draft_or_canceled_one_cannot(api: httpx.Client, outbox: Path) -> None:
    draft = create_invoice(api)
    assert_error(_send(api, draft["id"]), 422, "invalid_invoice_status")
    canceled = finalize(api, create_invoice(api)["id"])
    assert api.post(f"/v2/client_invoices/{canceled['id']}/mark_as_canceled").status_code == 200
    assert_error(_send(api, canceled["id"]), 422, "invalid_invoice_status")
    paid = finalize(api, create_invoice(api)["id"])
    assert api.post(f"/v2/client_invoices/{paid['id']}/mark_as_paid").status_code == 200

    assert _send(api, paid["id"]).status_code == 204
    assert [p.name for p in outbox.iterdir()] == [f"{paid['number']}-1.eml"]


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({"email_title": "Votre facture"}, "required", "/data/attributes/send_to"),
        ({"send_to": [], "email_title": "Votre facture"}, "blank", "/data/attributes/send_to"),
        ({"send_to": ["not-an-email"], "email_title": "x"}, "invalid_email", "/data/attributes/send_to/0"),
        ({"send_to": ["a@acme.test"]}, "required", "/data/attributes/email_title"),
        ({"send_to": ["a@acme.test"], "email_title": ""}, "blank", "/data/attributes/email_title"),
        ({**MAIL, "cc": ["x@acme.test"]}, "unknown_field", "/data/attributes/cc"),
    ],
)
def test_body_validation(api: httpx.Client, outbox: Path, body: dict[str, Any], code: str, pointer: str) -> None:
    invoice = finalize(api, create_invoice(api)["id"])

    assert_error(_send(api, invoice["id"], body), 422, code, pointer=pointer)
    assert list(outbox.iterdir()) == []


def test_empty_body_is_invalid_body_eof(api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api)["id"])

    response = api.post(f"/v2/client_invoices/{invoice['id']}/send", content=b"")

    assert assert_error(response, 422, "invalid_body")["errors"][0]["detail"] == "EOF"


def test_unknown_invoice_is_404(api: httpx.Client) -> None:
    assert_error(_send(api, "00000000-0000-4000-8000-000000000000"), 404, "not_found")


def test_lost_response_after_the_send_still_wrote_the_email(
    api: httpx.Client, mailer: RunningEmulator, outbox: Path
) -> None:
    invoice = finalize(api, create_invoice(api)["id"])
    mailer.queue_fault("lost_response", "POST", r"/send$", count=1)

    with pytest.raises(httpx.RemoteProtocolError):
        _send(api, invoice["id"])

    # the email left although the caller saw nothing: a blind retry would send a second one
    assert [p.name for p in outbox.iterdir()] == [f"{invoice['number']}-1.eml"]
    assert _send(api, invoice["id"]).status_code == 204
    assert len(mailer.state()["sent_emails"]) == 2


def test_server_error_after_commit_and_before_it(api: httpx.Client, mailer: RunningEmulator, outbox: Path) -> None:
    invoice = finalize(api, create_invoice(api)["id"])
    mailer.queue_fault("server_error", "POST", r"/send$", count=1, status=503)
    assert_error(_send(api, invoice["id"]), 503, "internal_server_error")
    assert list(outbox.iterdir()) == []  # nothing written

    mailer.queue_fault("server_error", "POST", r"/send$", count=1, status=502, commit=True)
    assert_error(_send(api, invoice["id"]), 502, "internal_server_error")
    assert [p.name for p in outbox.iterdir()] == [f"{invoice['number']}-1.eml"]  # written, then the 5xx


def test_default_outbox_is_beside_the_state_file(tmp_path: Path) -> None:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "state" / "emu.sqlite") as running:
        assert running.config.effective_outbox_dir == tmp_path / "state" / "emulator-outbox"
        with httpx.Client(base_url=running.base_url, headers={"Authorization": running.api_key}) as api:
            invoice = finalize(api, create_invoice(api)["id"])
            assert _send(api, invoice["id"]).status_code == 204
        assert [p.name for p in (tmp_path / "state" / "emulator-outbox").iterdir()] == [f"{invoice['number']}-1.eml"]


def test_two_servers_on_one_state_file_never_share_a_file_name(tmp_path: Path) -> None:
    state, outbox = tmp_path / "shared.sqlite", tmp_path / "outbox"
    with (
        running_emulator(render_delay_s=0, state_path=state, outbox_dir=outbox) as first,
        running_emulator(render_delay_s=0, state_path=state, outbox_dir=outbox) as second,
    ):
        with httpx.Client(base_url=first.base_url, headers={"Authorization": first.api_key}, timeout=60) as api:
            invoice = finalize(api, create_invoice(api)["id"])

        def send(server: RunningEmulator) -> int:
            with httpx.Client(base_url=server.base_url, headers={"Authorization": server.api_key}, timeout=60) as api:
                return sum(_send(api, invoice["id"]).status_code == 204 for _ in range(4))

        with ThreadPoolExecutor(max_workers=2) as pool:
            accepted = sum(pool.map(send, (first, second)))
        sent = first.state()["sent_emails"]

    assert accepted == 8
    assert sorted(p.name for p in outbox.iterdir()) == sorted(f"{invoice['number']}-{n}.eml" for n in range(1, 9))
    assert sorted(s["n"] for s in sent) == list(range(1, 9))
