"""Credit-note models, calls and readiness against a scripted fake (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from billing_pipeline.qonto import (
    Attachment,
    CreditNote,
    CreditNoteCreate,
    InvoiceItemInput,
    Money,
    QontoAmbiguousWriteError,
    QontoClient,
    credit_note_facturx_is_ready,
)
from billing_pipeline_tests.qonto.conftest import FakeQonto, attachment_payload, error_reply, json_reply

from .test_client import page_reply

Make = Callable[..., QontoClient]


def line(quantity: str = "2", price: str = "25.00", currency: str = "EUR") -> InvoiceItemInput:
    return InvoiceItemInput(
        title="Seats",
        quantity=Decimal(quantity),
        unit_price=Money(value=Decimal(price), currency=currency),
        vat_rate=Decimal("0.2"),
    )


def create(**overrides: Any) -> CreditNoteCreate:
    values: dict[str, Any] = {
        "invoice_id": "inv-1",
        "issue_date": date(2026, 2, 10),
        "reason": "Seats billed twice",
        "items": [line()],
    }
    values.update(overrides)
    return CreditNoteCreate(**values)


def credit_note_payload(credit_note_id: str = "cn-1", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": credit_note_id,
        "invoice_id": "inv-1",
        "attachment_id": "att-1",
        "number": "AV-2026-00001",
        "issue_date": "2026-02-10",
        "invoice_issue_date": "2026-02-01",
        "reason": "Seats billed twice",
        "currency": "EUR",
        "total_amount": {"value": "-60.00", "currency": "EUR"},
        "total_amount_cents": -6000,
        "vat_amount": {"value": "-10.00", "currency": "EUR"},
        "vat_amount_cents": -1000,
        "items": [
            {
                "title": "Seats",
                "quantity": "-2",
                "unit_price": {"value": "25.00", "currency": "EUR"},
                "vat_rate": "0.2",
                "subtotal": {"value": "-50.00", "currency": "EUR"},
            }
        ],
        "client": {"id": "c-1", "name": "ACME"},
        "created_at": "2026-02-10T10:00:00.000+01:00",
        "finalized_at": "2026-02-10T10:00:00.000+01:00",
    }
    payload.update(extra)
    return payload


# --- the request ------------------------------------------------------------------------------------


def test_payload_sends_positive_quantities_as_decimal_strings_and_always_the_currency() -> None:
    payload = create(items=[line("0.5", "0.0004")], contact_email="ap@acme.example").to_payload()

    assert payload == {
        "invoice_id": "inv-1",
        "issue_date": "2026-02-10",
        "reason": "Seats billed twice",
        "currency": "EUR",
        "contact_email": "ap@acme.example",
        "items": [
            {
                "title": "Seats",
                "quantity": "0.5",
                "unit_price": {"value": "0.0004", "currency": "EUR"},
                "vat_rate": "0.2",
            }
        ],
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reason": "   "}, "reason must not be blank"),
        ({"reason": "x" * 501}, "at most 500"),
        ({"number": "N" * 41}, "at most 40"),
        ({"terms_and_conditions": "t" * 526}, "at most 525"),
        ({"contact_email": "nobody"}, "not an email"),
        ({"items": []}, "at least 1"),
        ({"currency": "USD"}, "!= credit note currency USD"),
        ({"discount": {"type": "absolute", "value": "1"}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_requests_are_refused_before_sending(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        create(**overrides)


def test_reason_is_required() -> None:
    with pytest.raises(ValidationError, match="reason"):
        CreditNoteCreate(invoice_id="inv-1", issue_date=date(2026, 2, 10), items=[line()])  # type: ignore[call-arg]


@pytest.mark.parametrize("quantity", ["0", "-1"])
def test_quantities_are_positive(quantity: str) -> None:
    # Qonto negates them itself: a negative quantity here would be a double negation
    with pytest.raises(ValidationError, match="greater than 0"):
        line(quantity)


# --- the response -----------------------------------------------------------------------------------


def test_response_is_lenient_exact_and_aware() -> None:
    note = CreditNote.model_validate(credit_note_payload(welfare_fund=None, something_new={"a": 1}, updated_at=None))

    assert note.total_amount == Money(value=Decimal("-60.00"), currency="EUR")
    assert note.credited_amount == Decimal("60.00")
    assert note.items[0].quantity == Decimal("-2")
    assert note.finalized_at == datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
    assert note.model_extra == {"welfare_fund": None, "something_new": {"a": 1}}
    assert CreditNote.model_validate({"id": "cn-2", "items": None, "created_at": "2026-02-10T10:00:00"}).items == []
    naive = CreditNote.model_validate({"id": "cn-2", "created_at": "2026-02-10T10:00:00"}).created_at
    assert naive is not None and naive.tzinfo is not None
    assert CreditNote.model_validate({"id": "cn-3"}).credited_amount is None


# --- the calls --------------------------------------------------------------------------------------


async def test_create_get_and_list(fake: FakeQonto, make_client: Make) -> None:
    fake.on("POST", "/v2/credit_notes", json_reply(201, {"credit_note": credit_note_payload()}))
    fake.on("GET", "/v2/credit_notes/cn-1", json_reply(200, {"credit_note": credit_note_payload()}))
    fake.on(
        "GET",
        "/v2/credit_notes",
        page_reply("credit_notes", [credit_note_payload("cn-1")], 1, 2),
        page_reply("credit_notes", [credit_note_payload("cn-2")], 2, 2),
    )
    since = datetime(2026, 2, 1, tzinfo=UTC)
    async with make_client() as qonto:
        created = await qonto.create_credit_note(create())
        fetched = await qonto.get_credit_note("cn-1")
        listed = [note.id async for note in qonto.iter_credit_notes(updated_at_from=since, per_page=50)]

    assert created.number == fetched.number == "AV-2026-00001"
    assert json.loads(fake.sent("POST", "/v2/credit_notes")[0].content)["items"][0]["quantity"] == "2"
    assert listed == ["cn-1", "cn-2"]
    lists = fake.sent("GET", "/v2/credit_notes")
    assert [dict(request.url.params) for request in lists] == [
        {"filter[updated_at_from]": "2026-02-01T00:00:00+00:00", "page": str(page), "per_page": "50"} for page in (1, 2)
    ]


async def test_list_arguments_are_checked_before_sending(fake: FakeQonto, make_client: Make) -> None:
    async with make_client() as qonto:
        with pytest.raises(ValueError, match="timezone-aware"):
            await qonto.list_credit_notes(updated_at_to=datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="per_page"):
            await qonto.list_credit_notes(per_page=101)
    assert fake.requests == []


@pytest.mark.parametrize(
    "reply",
    [error_reply(500, "internal_error", "boom"), error_reply(503, "unavailable", "later"), httpx.ReadTimeout("slow")],
)
async def test_create_is_never_retried_blindly(fake: FakeQonto, make_client: Make, reply: Any) -> None:
    fake.on("POST", "/v2/credit_notes", reply)
    async with make_client() as qonto:
        with pytest.raises(QontoAmbiguousWriteError):
            await qonto.create_credit_note(create())
    assert len(fake.sent("POST", "/v2/credit_notes")) == 1


async def test_get_is_retried_on_5xx(fake: FakeQonto, make_client: Make) -> None:
    fake.on(
        "GET",
        "/v2/credit_notes/cn-1",
        error_reply(502, "bad_gateway", "gateway"),
        json_reply(200, {"credit_note": credit_note_payload()}),
    )
    async with make_client() as qonto:
        assert (await qonto.get_credit_note("cn-1")).id == "cn-1"
    assert len(fake.sent("GET", "/v2/credit_notes/cn-1")) == 2


# --- readiness of the Factur-X --------------------------------------------------------------------


def attachment(**overrides: Any) -> Attachment:
    return Attachment.model_validate({**attachment_payload(), **overrides})


@pytest.mark.parametrize(
    ("note", "found", "ready"),
    [
        (credit_note_payload(), attachment(updated_at="2026-02-10T09:00:10.000Z"), True),
        (credit_note_payload(), attachment(updated_at="2026-02-10T09:00:00.000Z"), False),  # not strictly later
        (credit_note_payload(), None, False),
        (credit_note_payload(attachment_id=None), attachment(), False),
        (credit_note_payload(), attachment(id="att-other"), False),
        (credit_note_payload(finalized_at=None), attachment(), None),
        (credit_note_payload(), attachment(updated_at=None), None),
    ],
)
def test_credit_note_facturx_readiness(note: dict[str, Any], found: Attachment | None, ready: bool | None) -> None:
    assert credit_note_facturx_is_ready(CreditNote.model_validate(note), found) is ready
