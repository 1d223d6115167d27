"""``GET /v2/einvoicing/settings`` and ``--einvoicing-disabled`` (qonto-api.md §11).

Without e-invoicing the organization's finalized invoices and credit notes get a plain PDF — no
``factur-x.xml`` — and the settings say ``disabled``. The kind of document is decided when it is
finalized, so every process on the state file serves the same one.
"""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest

from billing_pipeline.emulator.embedded import start_embedded
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator

from .helpers import assert_error, create_invoice, finalize
from .test_attachments import attachment, download, embedded_xml, instant
from .test_cli import serving
from .test_credit_notes import created, credit


def _pdf_of(api: httpx.Client, attachment_id: str) -> tuple[dict[str, Any], bytes]:
    described = attachment(api, attachment_id)
    return described, download(described["url"])


def _has_xml(api: httpx.Client, invoice: dict[str, Any]) -> bool:
    return embedded_xml(_pdf_of(api, invoice["attachment_id"])[1]) is not None


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def disabled(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator(render_delay_s=0, state_path=tmp_path / "e.sqlite", einvoicing_disabled=True) as running:
        yield running


@pytest.fixture
def disabled_api(disabled: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=disabled.base_url, headers={"Authorization": disabled.api_key}, timeout=30) as client:
        yield client


def test_settings_by_default_are_exactly_the_documented_fields_enabled(api: httpx.Client) -> None:
    response = api.get("/v2/einvoicing/settings")

    assert response.status_code == 200
    assert response.json() == {"sending_status": "enabled", "receiving_status": "enabled"}


def test_settings_take_no_query_parameter(api: httpx.Client) -> None:
    assert_error(api.get("/v2/einvoicing/settings", params={"country": "FR"}), 422, "unknown_parameter")


def test_settings_say_disabled(disabled_api: httpx.Client) -> None:
    assert disabled_api.get("/v2/einvoicing/settings").json() == {
        "sending_status": "disabled",
        "receiving_status": "disabled",
    }


def test_a_finalized_invoice_gets_a_plain_pdf_without_e_invoicing(disabled_api: httpx.Client) -> None:
    invoice = finalize(disabled_api, create_invoice(disabled_api)["id"])

    described, pdf = _pdf_of(disabled_api, invoice["attachment_id"])

    # the final document replaced the draft as usual (the documented readiness signal still holds) …
    assert instant(described["updated_at"]) > instant(invoice["finalized_at"])
    assert described["file_name"] == f"{invoice['number']}.pdf"
    # … but it is a plain PDF: no embedded file at all, no draft watermark, the number printed
    assert embedded_xml(pdf) is None
    assert pypdf.PdfReader(io.BytesIO(pdf)).attachments == {}
    text = _text(pdf)
    assert invoice["number"] in text and "DRAFT" not in text.upper().replace(" ", "")


def test_the_same_invoice_gets_factur_x_with_e_invoicing(api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api)["id"])

    _described, pdf = _pdf_of(api, invoice["attachment_id"])

    assert embedded_xml(pdf) is not None


def test_a_credit_note_gets_a_plain_pdf_without_e_invoicing(disabled_api: httpx.Client) -> None:
    invoice = finalize(disabled_api, create_invoice(disabled_api)["id"])
    note = created(credit(disabled_api, invoice["id"]))
    note = disabled_api.get(f"/v2/credit_notes/{note['id']}").json()["credit_note"]

    described, pdf = _pdf_of(disabled_api, note["attachment_id"])

    assert described["file_name"] == f"{note['number']}.pdf"
    assert embedded_xml(pdf) is None
    assert note["number"] in _text(pdf)


def test_an_invoice_created_unpaid_appears_with_its_plain_pdf(disabled_api: httpx.Client) -> None:
    invoice = create_invoice(disabled_api, status="unpaid")
    invoice = disabled_api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]

    assert invoice["attachment_id"] is not None
    assert embedded_xml(_pdf_of(disabled_api, invoice["attachment_id"])[1]) is None


def test_emailing_attaches_the_plain_pdf(disabled_api: httpx.Client, disabled: RunningEmulator) -> None:
    invoice = finalize(disabled_api, create_invoice(disabled_api)["id"])

    sent = disabled_api.post(
        f"/v2/client_invoices/{invoice['id']}/send", json={"send_to": ["a@acme.test"], "email_title": "Invoice"}
    )

    assert sent.status_code == 204, sent.text
    [email] = disabled.state()["sent_emails"]
    assert email["file_name"] == f"{invoice['number']}-1.eml"


def test_the_document_is_decided_at_finalization_for_every_process(tmp_path: Path) -> None:
    state = tmp_path / "shared.sqlite"
    with (
        running_emulator(render_delay_s=0, state_path=state, einvoicing_disabled=True) as without,
        running_emulator(render_delay_s=0, state_path=state) as with_einvoicing,
        httpx.Client(base_url=without.base_url, headers={"Authorization": without.api_key}) as plain_api,
        httpx.Client(base_url=with_einvoicing.base_url, headers={"Authorization": with_einvoicing.api_key}) as fx_api,
    ):
        plain = finalize(plain_api, create_invoice(plain_api)["id"])
        factur_x = finalize(fx_api, create_invoice(fx_api)["id"])
        # each server serves both documents as they were finalized, whatever its own option
        seen = {
            name: [_has_xml(qonto, invoice) for invoice in (plain, factur_x)]
            for name, qonto in (("without", plain_api), ("with", fx_api))
        }

    assert seen == {"without": [False, True], "with": [False, True]}


async def test_the_embedded_factory_takes_both_options(tmp_path: Path) -> None:
    restricted = start_embedded(
        tmp_path / "e.sqlite", render_delay_s=0, einvoicing_disabled=True, scopes=["client.read"]
    )
    readable = start_embedded(
        tmp_path / "e.sqlite", render_delay_s=0, einvoicing_disabled=True, scopes=("einvoicing.read",)
    )
    headers = {"Authorization": restricted.api_key}
    try:
        async with httpx.AsyncClient(transport=restricted.transport, base_url=restricted.base_url) as qonto:
            clients = await qonto.get("/v2/clients", headers=headers)
            forbidden = await qonto.get("/v2/einvoicing/settings", headers=headers)
        async with httpx.AsyncClient(transport=readable.transport, base_url=readable.base_url) as qonto:
            settings = await qonto.get("/v2/einvoicing/settings", headers=headers)
    finally:
        await restricted.transport.aclose()
        await readable.transport.aclose()

    assert clients.status_code == 200
    assert_error(forbidden, 403, "insufficient_scope", detail="einvoicing.read")
    assert settings.json() == {"sending_status": "disabled", "receiving_status": "disabled"}


def test_serve_takes_both_options(tmp_path: Path) -> None:
    options = ["--port", "0", "--render-delay", "0", "--einvoicing-disabled", "--scopes", "einvoicing.read,client.read"]
    with serving(*options, cwd=tmp_path) as (process, lines):
        base_url = lines[0].removeprefix("QONTO_BASE_URL=").strip()
        headers = {"Authorization": lines[1].split("=", 1)[1].strip()}
        settings = httpx.get(f"{base_url}/v2/einvoicing/settings", headers=headers)
        refused = httpx.post(f"{base_url}/v2/clients", headers=headers, json={})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0

    assert settings.json() == {"sending_status": "disabled", "receiving_status": "disabled"}
    assert_error(refused, 403, "insufficient_scope", detail="client.write")
