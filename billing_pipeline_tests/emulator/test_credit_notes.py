"""Credit notes: Qonto's rules (§8.5), the emulator's numbering, listing, persistence and Factur-X 381.

The helper invoice is 1 250 000 API calls × 0.0004 EUR = 500.00 + 20 % VAT = 600.00 EUR.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.facturx import verify_pdf

from .helpers import assert_error, create_client, create_invoice, finalize, invoice_body, item

ITEMS_POINTER = "/data/attributes/items"


def credit_item(quantity: str = "1", price: str = "100.00", **overrides: Any) -> dict[str, Any]:
    return item(
        title="Refund", description=None, quantity=quantity, unit_price={"value": price, "currency": "EUR"}, **overrides
    )


def credit_body(invoice_id: str, *items: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "invoice_id": invoice_id,
        "issue_date": "2026-02-10",
        "currency": "EUR",
        "reason": "Usage billed twice",
        "items": list(items) or [credit_item()],
    }
    body.update(overrides)
    return body


def credit(api: httpx.Client, invoice_id: str, *items: dict[str, Any], **overrides: Any) -> httpx.Response:
    return api.post("/v2/credit_notes", json=credit_body(invoice_id, *items, **overrides))


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()["credit_note"]
    return note


def finalized_invoice(api: httpx.Client, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    return finalize(api, create_invoice(api, client_id, **overrides)["id"])


def invoice(api: httpx.Client, invoice_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/v2/client_invoices/{invoice_id}").json()["client_invoice"]
    return body


# ---- the object --------------------------------------------------------------------------------


def test_credit_note_is_presented_negatively_and_keeps_the_reason(api: httpx.Client) -> None:
    source = finalized_invoice(api)
    note = created(credit(api, source["id"], credit_item("2", "25.00"), contact_email="ap@acme.test"))

    assert note["invoice_id"] == source["id"]
    assert note["invoice_issue_date"] == source["issue_date"]
    assert note["issue_date"] == "2026-02-10"
    assert note["reason"] == "Usage billed twice"
    assert note["contact_email"] == "ap@acme.test"
    assert note["currency"] == "EUR"
    [line] = note["items"]
    assert line["quantity"] == "-2"
    assert line["unit_price"] == {"value": "25.00", "currency": "EUR"}
    assert (line["subtotal"]["value"], line["total_vat"]["value"], line["total_amount"]["value"]) == (
        "-50.00",
        "-10.00",
        "-60.00",
    )
    assert (note["total_amount"]["value"], note["total_amount_cents"]) == ("-60.00", -6000)
    assert (note["vat_amount"]["value"], note["vat_amount_cents"]) == ("-10.00", -1000)
    assert note["client"]["id"] == source["client"]["id"]
    assert note["finalized_at"] == note["created_at"]
    for field in ("einvoicing_status", "header", "footer", "stamp_duty_amount", "welfare_fund", "withholding_tax"):
        assert note[field] is None
    assert api.get(f"/v2/credit_notes/{note['id']}").json()["credit_note"]["number"] == note["number"]


def test_partial_credit_is_listed_on_the_invoice_which_stays_unpaid(api: httpx.Client) -> None:
    source = finalized_invoice(api)
    first = created(credit(api, source["id"], credit_item("1", "100.00")))
    second = created(credit(api, source["id"], credit_item("1", "50.00")))

    after = invoice(api, source["id"])
    assert after["status"] == "unpaid"
    assert after["credit_notes_ids"] == [first["id"], second["id"]]
    assert after["total_amount"] == source["total_amount"]


def test_a_paid_invoice_can_be_credited(api: httpx.Client) -> None:
    # dated in the past whatever today is: paid_at may not be in the future
    source = finalized_invoice(api, issue_date="2020-01-01", due_date="2020-02-01")
    paid = api.post(f"/v2/client_invoices/{source['id']}/mark_as_paid", json={"paid_at": "2020-01-15"})
    assert paid.status_code == 200, paid.text

    created(credit(api, source["id"]))
    assert invoice(api, source["id"])["status"] == "paid"


# ---- over-crediting and cancellation -------------------------------------------------------------


def test_over_crediting_is_refused_naming_the_items(api: httpx.Client) -> None:
    source = finalized_invoice(api)  # 600.00 EUR
    created(credit(api, source["id"], credit_item("4", "100.00")))  # 480.00 EUR
    created(credit(api, source["id"], credit_item("1", "0.01")))  # 0.01 EUR (VAT 0.002 rounds to 0.00)

    # 100.00 + 20.00 VAT = 120.00: one cent more than the 119.99 EUR left, counting both credit notes
    response = credit(api, source["id"], credit_item("1", "100.00"))

    assert_error(response, 422, "credit_notes_exceed_invoice_total", pointer=ITEMS_POINTER, detail="119.99 EUR")
    assert len(invoice(api, source["id"])["credit_notes_ids"]) == 2
    assert invoice(api, source["id"])["status"] == "unpaid"


def test_a_single_credit_note_above_the_total_is_refused(api: httpx.Client) -> None:
    source = finalized_invoice(api)

    response = credit(api, source["id"], credit_item("5", "100.01"))  # 600.06 EUR

    assert_error(response, 422, "credit_notes_exceed_invoice_total", pointer=ITEMS_POINTER)
    assert invoice(api, source["id"])["credit_notes_ids"] == []


def test_credit_notes_reaching_the_total_cancel_the_invoice(api: httpx.Client) -> None:
    source = finalized_invoice(api)
    created(credit(api, source["id"], credit_item("3", "100.00")))
    assert invoice(api, source["id"])["status"] == "unpaid"

    last = created(credit(api, source["id"], credit_item("2", "100.00")))  # 360 + 240 = 600.00

    after = invoice(api, source["id"])
    assert after["status"] == "canceled"
    assert after["credit_notes_ids"][-1] == last["id"]
    assert after["updated_at"] > source["updated_at"]
    # a canceled invoice takes no more credit notes
    assert_error(credit(api, source["id"]), 422, "invalid_invoice_status", pointer="/data/attributes/invoice_id")


def test_one_full_credit_note_cancels_the_invoice(api: httpx.Client) -> None:
    source = finalized_invoice(api)

    created(credit(api, source["id"], item()))  # the invoice's own line

    assert invoice(api, source["id"])["status"] == "canceled"


# ---- which invoices, which bodies ----------------------------------------------------------------


def test_not_on_a_draft(api: httpx.Client) -> None:
    draft = create_invoice(api)

    response = credit(api, draft["id"])

    assert_error(response, 422, "invalid_invoice_status", pointer="/data/attributes/invoice_id", detail="draft")


def test_not_on_an_unknown_invoice(api: httpx.Client) -> None:
    response = credit(api, "00000000-0000-4000-8000-000000000000")

    assert_error(response, 422, "not_found", pointer="/data/attributes/invoice_id")


def test_currency_must_match_the_invoice(api: httpx.Client) -> None:
    source = finalized_invoice(api)

    assert_error(
        credit(api, source["id"], currency="USD"), 422, "invalid_currency", pointer="/data/attributes/currency"
    )


def test_quantities_must_be_positive(api: httpx.Client) -> None:
    source = finalized_invoice(api)

    response = credit(api, source["id"], credit_item("-1"))

    assert_error(response, 422, "invalid_quantity", pointer="/data/attributes/items/0/quantity")


def test_not_dated_before_the_invoice(api: httpx.Client) -> None:
    source = finalized_invoice(api)

    response = credit(api, source["id"], issue_date="2026-01-31")

    assert_error(response, 422, "invalid_date", pointer="/data/attributes/issue_date")


@pytest.mark.parametrize(
    ("overrides", "code", "pointer"),
    [
        ({"reason": "x" * 501}, "too_long", "/data/attributes/reason"),
        ({"number": "N" * 41}, "too_long", "/data/attributes/number"),
        ({"terms_and_conditions": "t" * 526}, "too_long", "/data/attributes/terms_and_conditions"),
        ({"contact_email": "not-an-email"}, "invalid_email", "/data/attributes/contact_email"),
        ({"discount": {"type": "absolute", "value": "1"}}, "not_supported_by_emulator", "/data/attributes/discount"),
        ({"header": "not a create field"}, "unknown_field", "/data/attributes/header"),
        ({"items": []}, "blank", "/data/attributes/items"),
    ],
)
def test_body_validation(api: httpx.Client, overrides: dict[str, Any], code: str, pointer: str) -> None:
    source = finalized_invoice(api)

    assert_error(credit(api, source["id"], **overrides), 422, code, pointer=pointer)


# ---- numbering ------------------------------------------------------------------------------------


def test_credit_notes_have_their_own_sequence(api: httpx.Client) -> None:
    client_id = create_client(api)["id"]
    first_invoice = finalized_invoice(api, client_id)
    notes = [created(credit(api, first_invoice["id"]))["number"] for _ in range(2)]
    second_invoice = finalized_invoice(api, client_id)

    assert first_invoice["number"] == "F-2026-00001"
    assert notes == ["AV-2026-00001", "AV-2026-00002"]
    assert second_invoice["number"] == "F-2026-00002"  # invoices are not consumed by credit notes
    # the year of the issue date
    assert created(credit(api, first_invoice["id"], issue_date="2027-01-05"))["number"] == "AV-2027-00001"


def test_a_chosen_number_is_used_as_is_and_unique_in_the_organization(api: httpx.Client) -> None:
    source = finalized_invoice(api)

    assert created(credit(api, source["id"], number="AV-2026-00001"))["number"] == "AV-2026-00001"
    # automatic numbering skips it
    assert created(credit(api, source["id"]))["number"] == "AV-2026-00002"
    assert_error(credit(api, source["id"], number="AV-2026-00002"), 422, "taken", pointer="/data/attributes/number")
    # one namespace with invoices, both ways
    assert_error(credit(api, source["id"], number=source["number"]), 422, "taken", pointer="/data/attributes/number")
    taken = api.post("/v2/client_invoices", json=invoice_body(source["client"]["id"], number="AV-2026-00001"))
    assert_error(taken, 422, "taken", pointer="/data/attributes/number")


# ---- reads ---------------------------------------------------------------------------------------


def test_unknown_credit_note_is_404(api: httpx.Client) -> None:
    assert_error(api.get("/v2/credit_notes/00000000-0000-4000-8000-000000000000"), 404, "not_found")


def test_list_paginates_newest_first(api: httpx.Client) -> None:
    source = finalized_invoice(api)
    ids = [created(credit(api, source["id"], credit_item("1", "1.00")))["id"] for _ in range(5)]

    first = api.get("/v2/credit_notes", params={"per_page": 2}).json()
    last = api.get("/v2/credit_notes", params={"per_page": 2, "page": 3}).json()

    assert first["meta"] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 3,
        "total_count": 5,
        "per_page": 2,
    }
    assert [note["id"] for note in first["credit_notes"]] == ids[::-1][:2]
    assert [note["id"] for note in last["credit_notes"]] == [ids[0]]
    assert last["meta"]["next_page"] is None


def test_list_filters_on_updated_at_only(api: httpx.Client) -> None:
    source = finalized_invoice(api)
    note = created(credit(api, source["id"]))

    def listed(**params: str) -> list[str]:
        response = api.get("/v2/credit_notes", params=params)
        assert response.status_code == 200, response.text
        return [n["id"] for n in response.json()["credit_notes"]]

    assert listed(**{"filter[updated_at_from]": note["updated_at"]}) == [note["id"]]
    assert listed(**{"filter[updated_at_to]": "2000-01-01T00:00:00Z"}) == []
    # Qonto documents no other filter on credit notes: the emulator refuses rather than ignores them
    for name in ("filter[created_at_from]", "filter[invoice_id]", "sort_by"):
        assert_error(api.get("/v2/credit_notes", params={name: "x"}), 422, "unknown_parameter", parameter=name)


# ---- attachment, state, persistence, faults --------------------------------------------------------


@pytest.fixture
def slow_emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator(render_delay_s=5, state_path=tmp_path / "slow.sqlite") as running:
        yield running


def test_factur_x_381_after_the_render_delay(slow_emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=slow_emulator.base_url, headers={"Authorization": slow_emulator.api_key}) as api:
        source = finalized_invoice(api)
        note = created(credit(api, source["id"], credit_item("1", "100.00")))
        # like an invoice created finalized: no PDF at all until it is rendered
        assert note["attachment_id"] is None

        slow_emulator.advance_clock(5)
        ready = api.get(f"/v2/credit_notes/{note['id']}").json()["credit_note"]
        attachment = api.get(f"/v2/attachments/{ready['attachment_id']}").json()["attachment"]
        pdf = httpx.get(attachment["url"]).content

    assert datetime.fromisoformat(attachment["updated_at"]) > datetime.fromisoformat(ready["finalized_at"])
    assert attachment["file_name"] == f"{note['number']}.pdf"
    report = verify_pdf(pdf)
    assert report.valid, report.errors
    assert report.warnings == []
    assert report.invoice is not None
    assert (report.invoice.type_code, report.invoice.number) == ("381", note["number"])
    assert report.invoice.preceding_invoice_number == source["number"]
    assert report.invoice.preceding_invoice_date is not None
    assert report.invoice.preceding_invoice_date.isoformat() == source["issue_date"]
    assert report.totals is not None and report.totals.total == 120


def test_state_dump_lists_credit_notes_and_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with running_emulator(render_delay_s=0, state_path=state) as emulator:
        with httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}) as api:
            source = finalized_invoice(api)
            note = created(credit(api, source["id"]))
        assert [n["id"] for n in emulator.state()["credit_notes"]] == [note["id"]]
    with running_emulator(render_delay_s=0, state_path=state) as emulator:
        with httpx.Client(base_url=emulator.base_url, headers={"Authorization": emulator.api_key}) as api:
            assert api.get(f"/v2/credit_notes/{note['id']}").json()["credit_note"]["number"] == note["number"]
            assert created(credit(api, source["id"]))["number"] == "AV-2026-00002"
        emulator.reset()
        assert emulator.state()["credit_notes"] == []


def test_lost_response_on_create_commits_once(emulator: RunningEmulator, api: httpx.Client) -> None:
    source = finalized_invoice(api)
    emulator.queue_fault("lost_response", "POST", r"^/v2/credit_notes$", mode="reset")

    with pytest.raises(httpx.RemoteProtocolError):
        credit(api, source["id"])

    assert len(emulator.state()["credit_notes"]) == 1
    assert emulator.stats()["responses"]["POST /v2/credit_notes"] == {"lost": 1}


def test_injected_5xx_on_reads(emulator: RunningEmulator, api: httpx.Client) -> None:
    emulator.queue_fault("server_error", "GET", r"^/v2/credit_notes/", status=503)

    unknown = "/v2/credit_notes/00000000-0000-4000-8000-000000000000"
    assert api.get("/v2/credit_notes").status_code == 200  # the regex does not match the list
    assert api.get(unknown).status_code == 503
    assert api.get(unknown).status_code == 404  # one fault, consumed
