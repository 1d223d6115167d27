"""Item discounts (qonto-api.md §8.3): validation, the emulator's arithmetic, the responses, the
Factur-X line allowance and credit notes of a discounted invoice.

Line A: 1 × 19.00, absolute discount 3.80 → subtotal 15.20, VAT 3.04, total 18.24.
Line B: 3 × 49.90 = 149.70, percentage 0.15 → 22.455 → 22.46 (half-up), subtotal 127.24, VAT 25.45.
Invoice: 142.44 net, VAT round(142.44 × 0.2) = 28.49, total 170.93.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import facturx
import httpx
import pytest
from lxml import etree

from billing_pipeline.emulator.money import ItemDiscount, line_amounts
from billing_pipeline.emulator.testing import RunningEmulator
from billing_pipeline.facturx import verify_pdf

from .helpers import assert_error, create_client, create_invoice, finalize, invoice_body, item

D = Decimal
NS = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
EVERY_LAYER = {"pdf": True, "xml_schema": True, "en16931": True, "profile": True, "france": True, "arithmetic": True}


def absolute_item(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "Starter plan",
        "description": "Monthly fee",
        "quantity": "1",
        "unit": "month",
        "unit_price": {"value": "19.00", "currency": "EUR"},
        "discount": {"type": "absolute", "value": "3.80"},
    }
    return item(**{**fields, **overrides})


def percentage_item(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "Seats",
        "description": None,
        "quantity": "3",
        "unit": "unit",
        "unit_price": {"value": "49.90", "currency": "EUR"},
        "discount": {"type": "percentage", "value": "0.15"},
    }
    return item(**{**fields, **overrides})


def amounts(line: dict[str, Any]) -> tuple[str, str, str]:
    return (line["subtotal"]["value"], line["total_vat"]["value"], line["total_amount"]["value"])


@pytest.mark.parametrize(
    ("discount", "subtotal"),
    [
        (None, "149.70"),
        (ItemDiscount("absolute", D("0.01")), "149.69"),
        (ItemDiscount("absolute", D("149.70")), "0.00"),  # the whole line
        (ItemDiscount("percentage", D("0.15")), "127.24"),  # 22.455 -> 22.46 half-up
        (ItemDiscount("percentage", D("1")), "0.00"),
    ],
)
def test_the_discount_comes_off_the_rounded_line_before_vat(discount: ItemDiscount | None, subtotal: str) -> None:
    line = line_amounts(D("3"), D("49.90"), D("0.2"), discount)

    assert line.subtotal == D(subtotal)
    assert line.discount == D("149.70") - D(subtotal)
    assert line.total_vat == (D(subtotal) * D("0.2")).quantize(D("0.01"))  # exact here: 2 decimals × 0.2


def test_a_draft_with_item_discounts_carries_them_and_discounted_totals(api: httpx.Client) -> None:
    invoice = create_invoice(api, items=[absolute_item(), percentage_item(), item()])

    first, second, third = invoice["items"]
    assert first["discount"] == {
        "type": "absolute",
        "value": "3.80",
        "amount": {"value": "3.80", "currency": "EUR"},
    }
    assert amounts(first) == ("15.20", "3.04", "18.24")
    assert second["discount"] == {
        "type": "percentage",
        "value": "0.15",
        "amount": {"value": "22.46", "currency": "EUR"},
    }
    assert amounts(second) == ("127.24", "25.45", "152.69")
    assert third["discount"] is None  # an undiscounted line is unchanged
    assert amounts(third) == ("500.00", "100.00", "600.00")
    assert (invoice["vat_amount"]["value"], invoice["vat_amount_cents"]) == ("128.49", 12849)
    assert (invoice["total_amount"]["value"], invoice["total_amount_cents"]) == ("770.93", 77093)
    # read back, and kept through a PATCH that replaces the items
    assert api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]["items"] == invoice["items"]
    patched = api.patch(f"/v2/client_invoices/{invoice['id']}", json={"items": [absolute_item()]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["client_invoice"]["total_amount"]["value"] == "18.24"


@pytest.mark.parametrize(
    ("discount", "code", "pointer", "detail"),
    [
        ({"type": "absolute", "value": "19.01"}, "invalid_discount", "items/0/discount", "more than the line"),
        ({"type": "absolute", "value": "-1.00"}, "invalid_discount", "items/0/discount/value", "positive"),
        ({"type": "absolute", "value": "0"}, "invalid_discount", "items/0/discount/value", "positive"),
        ({"type": "absolute", "value": "1.005"}, "too_many_decimals", "items/0/discount/value", "2 decimals"),
        ({"type": "percentage", "value": "10"}, "invalid_discount", "items/0/discount/value", "fraction"),
        ({"type": "amount", "value": "1.00"}, "not_in_list", "items/0/discount/type", "percentage, absolute"),
        ({"type": "absolute", "value": 1.5}, "invalid_decimal", "items/0/discount/value", "decimal string"),
        ({"type": "absolute"}, "required", "items/0/discount/value", None),
        ({"type": "absolute", "value": "1.00", "reason": "x"}, "unknown_field", "items/0/discount/reason", None),
    ],
)
def test_a_bad_item_discount_is_refused_in_qonto_style(
    api: httpx.Client, discount: dict[str, Any], code: str, pointer: str, detail: str | None
) -> None:
    client_id = create_client(api)["id"]
    body = invoice_body(client_id, items=[absolute_item(discount=discount)])

    response = api.post("/v2/client_invoices", json=body)

    assert_error(response, 422, code, pointer=f"/data/attributes/{pointer}", detail=detail)
    assert api.get("/v2/client_invoices").json()["meta"]["total_count"] == 0


def test_the_invoice_level_discount_is_still_not_modelled(api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    body = invoice_body(client_id, discount={"type": "percentage", "value": "0.1"})

    assert_error(api.post("/v2/client_invoices", json=body), 422, "not_supported_by_emulator")


def _facturx(api: httpx.Client, attachment_id: str) -> bytes:
    response = api.get(f"/v2/attachments/{attachment_id}")
    assert response.status_code == 200, response.text
    attachment = response.json()["attachment"]
    return httpx.get(attachment["url"]).content


def test_the_factur_x_of_a_discounted_invoice_passes_every_layer_with_line_allowances(api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api, items=[absolute_item(), percentage_item(), item()])["id"])
    ready = api.get(f"/v2/client_invoices/{invoice['id']}").json()["client_invoice"]

    pdf = _facturx(api, ready["attachment_id"])

    report = verify_pdf(pdf, rules="france")
    assert report.errors == [] and report.warnings == []
    assert report.checks.model_dump() == EVERY_LAYER
    assert report.totals is not None
    assert (report.totals.net, report.totals.vat, report.totals.total) == (D("642.44"), D("128.49"), D("770.93"))
    assert report.invoice is not None
    assert [(line.net_amount, line.allowances) for line in report.invoice.lines] == [
        (D("15.20"), D("3.80")),
        (D("127.24"), D("22.46")),
        (D("500.00"), D("0")),
    ]
    _, xml = facturx.get_xml_from_pdf(io.BytesIO(pdf), check_xsd=False)
    root = etree.fromstring(xml)
    allowances = root.xpath("//ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge", namespaces=NS)
    assert [[child.tag.split("}")[1] for child in allowance] for allowance in allowances] == [
        ["ChargeIndicator", "ActualAmount", "ReasonCode", "Reason"],
        ["ChargeIndicator", "CalculationPercent", "BasisAmount", "ActualAmount", "ReasonCode", "Reason"],
    ]
    second = allowances[1]
    assert second.xpath("ram:ChargeIndicator/udt:Indicator/text()", namespaces=NS) == ["false"]
    assert [second.findtext(f"ram:{name}", namespaces=NS) for name in ("CalculationPercent", "BasisAmount")] == [
        "15",
        "149.70",
    ]
    assert [second.findtext(f"ram:{name}", namespaces=NS) for name in ("ActualAmount", "ReasonCode", "Reason")] == [
        "22.46",
        "95",
        "Discount",
    ]
    # the VAT base is the sum of the discounted nets (BT-116)
    basis = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount/text()"
    assert root.xpath(basis, namespaces=NS) == ["642.44"]


def test_a_credit_note_with_the_same_discounts_credits_the_whole_invoice(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    source = finalize(api, create_invoice(api, items=[absolute_item(), percentage_item()])["id"])
    assert source["total_amount"]["value"] == "170.93"

    body = {
        "invoice_id": source["id"],
        "issue_date": "2026-02-10",
        "currency": "EUR",
        "reason": "Usage corrected",
        "items": [absolute_item(), percentage_item()],
    }
    response = api.post("/v2/credit_notes", json=body)

    assert response.status_code == 201, response.text
    note = response.json()["credit_note"]
    first, second = note["items"]
    # Qonto presents a credit note negated: the amount taken off too, the value stays as sent
    assert first["discount"] == {"type": "absolute", "value": "3.80", "amount": {"value": "-3.80", "currency": "EUR"}}
    assert amounts(first) == ("-15.20", "-3.04", "-18.24")
    assert second["discount"]["amount"] == {"value": "-22.46", "currency": "EUR"}
    assert note["total_amount"]["value"] == "-170.93"
    # credited in full: Qonto cancels the invoice
    assert api.get(f"/v2/client_invoices/{source['id']}").json()["client_invoice"]["status"] == "canceled"
    emulator.advance_clock(1)  # a credit note's PDF is rendered a moment after its creation
    rendered = api.get(f"/v2/credit_notes/{note['id']}").json()["credit_note"]
    report = verify_pdf(_facturx(api, rendered["attachment_id"]), rules="france")
    assert report.errors == [] and report.checks.model_dump() == EVERY_LAYER
    assert report.invoice is not None and report.invoice.type_code == "381"
    assert [line.allowances for line in report.invoice.lines] == [D("3.80"), D("22.46")]
    assert report.totals is not None and report.totals.total == D("170.93")


def test_a_credit_note_item_discount_is_checked_like_an_invoice_one(api: httpx.Client) -> None:
    source = finalize(api, create_invoice(api, items=[absolute_item()])["id"])
    body = {
        "invoice_id": source["id"],
        "issue_date": "2026-02-10",
        "currency": "EUR",
        "reason": "Usage corrected",
        "items": [absolute_item(discount={"type": "absolute", "value": "20.00"})],
    }

    response = api.post("/v2/credit_notes", json=body)

    assert_error(response, 422, "invalid_discount", pointer="/data/attributes/items/0/discount")
