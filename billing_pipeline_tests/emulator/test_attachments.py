"""Asynchronous Factur-X: the draft PDF until finalized_at + render delay, then the Factur-X PDF."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import facturx
import httpx
import pytest
from lxml import etree

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator

from .helpers import create_invoice, finalize

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}


def embedded_xml(pdf: bytes) -> bytes | None:
    """The embedded factur-x.xml, checked against the Factur-X XSD; None for a plain PDF."""
    _name, xml = facturx.get_facturx_xml_from_pdf(io.BytesIO(pdf), check_xsd=True)
    return xml or None


def attachment(api: httpx.Client, attachment_id: str) -> dict[str, Any]:
    response = api.get(f"/v2/attachments/{attachment_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["attachment"]
    return body


def download(url: str) -> bytes:
    response = httpx.get(url)  # a plain GET: no credentials for the file host
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def slow_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator(render_delay_s=3, state_path=tmp_path / "slow.sqlite") as running:
        yield running


@pytest.fixture
def slow_api(slow_emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=slow_emulator.base_url, headers={"Authorization": slow_emulator.api_key}) as client:
        yield client


def test_draft_pdf_until_the_render_delay_then_factur_x(slow_emulator: RunningEmulator, slow_api: httpx.Client) -> None:
    draft = create_invoice(slow_api)
    draft_attachment = attachment(slow_api, draft["attachment_id"])
    assert embedded_xml(download(draft_attachment["url"])) is None

    invoice = finalize(slow_api, draft["id"])
    before = attachment(slow_api, invoice["attachment_id"])

    # right after finalize: same id, the OLD draft PDF with its old updated_at
    assert invoice["attachment_id"] == draft["attachment_id"]
    assert before["updated_at"] == draft_attachment["updated_at"]
    assert instant(before["updated_at"]) <= instant(invoice["finalized_at"])
    assert embedded_xml(download(before["url"])) is None

    slow_emulator.advance_clock(3)
    after = attachment(slow_api, invoice["attachment_id"])

    assert after["id"] == before["id"]
    # compared as instants: the attachment is in UTC "Z", the invoice in Paris time
    assert after["updated_at"].endswith("Z") and not invoice["finalized_at"].endswith("Z")
    assert instant(after["updated_at"]) > instant(invoice["finalized_at"])
    assert after["file_name"] == f"{invoice['number']}.pdf"
    xml = embedded_xml(download(after["url"]))
    assert xml is not None
    root = etree.fromstring(xml)
    assert root.findtext("rsm:ExchangedDocument/ram:ID", namespaces=NS) == invoice["number"]
    grand_total = root.findtext(
        ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount", namespaces=NS
    )
    assert grand_total == invoice["total_amount"]["value"]
    # a URL issued for the draft keeps naming the draft, like a pre-signed object URL
    assert embedded_xml(download(before["url"])) is None


def test_render_delay_zero_is_ready_at_once(api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api)["id"])

    ready = attachment(api, invoice["attachment_id"])

    assert instant(ready["updated_at"]) > instant(invoice["finalized_at"])
    assert int(ready["file_size"]) > 1000
    pdf = download(ready["url"])
    assert len(pdf) == int(ready["file_size"])
    assert embedded_xml(pdf) is not None


def test_half_second_render_delay_in_real_time(tmp_path: Path) -> None:
    with (
        running_emulator(render_delay_s=0.5, state_path=tmp_path / "e.sqlite") as emulator,
        httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}) as api,
    ):
        invoice = finalize(api, create_invoice(api)["id"])
        time.sleep(0.6)

        ready = attachment(api, invoice["attachment_id"])
        pdf = download(ready["url"])

    assert instant(ready["updated_at"]) > instant(invoice["finalized_at"])
    assert embedded_xml(pdf) is not None


def test_invoice_created_unpaid_has_no_attachment_until_rendered(
    slow_emulator: RunningEmulator, slow_api: httpx.Client
) -> None:
    invoice = create_invoice(slow_api, status="unpaid")

    assert invoice["attachment_id"] is None
    slow_emulator.advance_clock(3)
    fetched = slow_api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]

    assert fetched["attachment_id"] is not None
    assert embedded_xml(download(attachment(slow_api, fetched["attachment_id"])["url"])) is not None


def test_attachment_id_can_read_null_for_a_while_after_finalize(tmp_path: Path) -> None:
    with (
        running_emulator(render_delay_s=0, attachment_gap_s=100_000, state_path=tmp_path / "e.sqlite") as emulator,
        httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}) as api,
    ):
        draft = create_invoice(api)
        invoice = finalize(api, draft["id"])
        emulator.advance_clock(100_000)
        later = api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]

    assert invoice["attachment_id"] is None
    assert later["attachment_id"] == draft["attachment_id"]


def test_pdfs_are_rendered_once_and_served_identically(api: httpx.Client, emulator: RunningEmulator) -> None:
    invoice = finalize(api, create_invoice(api)["id"])

    first = download(attachment(api, invoice["attachment_id"])["url"])
    second = download(attachment(api, invoice["attachment_id"])["url"])

    assert first == second
    versions = emulator.state()["attachment_versions"]
    assert [(version["kind"], version["rendered"], version["current"]) for version in versions] == [
        ("draft", False, False),
        ("facturx", True, True),
    ]
