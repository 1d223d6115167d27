"""Models: lenient on Qonto's answers, strict and exact on what we send."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from billing_pipeline.qonto import (
    Attachment,
    ClientCreate,
    ClientInvoice,
    ClientInvoiceCreate,
    ClientInvoiceUpdate,
    ClientUpdate,
    InvoiceItemInput,
    Money,
    Organization,
    PaymentMethodsInput,
)
from billing_pipeline.qonto.models import Address, InvoiceStatus
from billing_pipeline_tests.qonto.conftest import IBAN, attachment_payload, invoice_payload, organization_payload


def item(**overrides: object) -> InvoiceItemInput:
    values: dict[str, object] = {
        "title": "API calls",
        "quantity": Decimal("1250000"),
        "unit": "unit",
        "unit_price": Money(value=Decimal("0.0004"), currency="EUR"),
        "vat_rate": Decimal("0.2"),
    }
    values.update(overrides)
    return InvoiceItemInput.model_validate(values)


def test_invoice_tolerates_unknown_fields_and_enum_values() -> None:
    invoice = ClientInvoice.model_validate(invoice_payload(status="partially_paid", brand_new={"a": 1}))
    assert invoice.status == "partially_paid"
    assert invoice.model_extra is not None
    assert invoice.model_extra["brand_new"] == {"a": 1}
    assert invoice.einvoicing_status == "brand_new_status"  # a typed field now, any value accepted
    assert not invoice.is_finalized


def test_invoice_money_is_exact_decimal_and_timestamps_are_aware() -> None:
    invoice = ClientInvoice.model_validate(invoice_payload())
    assert invoice.total_amount is not None
    assert invoice.total_amount.value == Decimal("600.00")
    assert isinstance(invoice.total_amount.value, Decimal)
    assert invoice.items[0].unit_price.value == Decimal("0.0004")
    assert invoice.items[0].vat_rate == Decimal("0.2")
    assert invoice.created_at == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert invoice.created_at is not None and invoice.created_at.utcoffset() == timedelta(hours=1)
    assert invoice.client_id == "c-1"  # taken from the embedded client snapshot
    assert invoice.payment_methods[0].iban == IBAN


def test_invoice_accepts_null_items_and_object_payment_methods() -> None:
    invoice = ClientInvoice.model_validate(invoice_payload(items=None, payment_methods={"iban": IBAN}))
    assert invoice.items == []
    assert [pm.iban for pm in invoice.payment_methods] == [IBAN]


def test_naive_timestamp_is_read_as_utc() -> None:
    invoice = ClientInvoice.model_validate(invoice_payload(finalized_at="2026-02-01T10:00:00"))
    assert invoice.finalized_at == datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


def test_organization_main_account_skips_closed_main() -> None:
    org = Organization.model_validate(organization_payload())
    assert org.main_account().iban == IBAN
    assert org.legal_share_capital == Decimal("1000")
    assert org.contract_signed_at == "2022-12-01 08:57:00.123047"
    assert org.bank_accounts[1].balance == Decimal("1234.56")


def test_organization_main_account_prefers_open_main() -> None:
    payload = organization_payload()
    payload["bank_accounts"][0]["status"] = "active"
    assert Organization.model_validate(payload).main_account().slug == "acme-closed"


def test_organization_without_open_account_says_so() -> None:
    payload = organization_payload()
    payload["bank_accounts"] = [payload["bank_accounts"][0]]
    with pytest.raises(LookupError, match="has no open bank account"):
        Organization.model_validate(payload).main_account()


def test_attachment_file_size_string_becomes_int_and_updated_at_optional() -> None:
    attachment = Attachment.model_validate(attachment_payload(updated_at=None))
    assert attachment.file_size == 666
    assert attachment.updated_at is None
    assert attachment.fetched_at.tzinfo is not None
    assert Attachment.model_validate({**attachment_payload(), "file_size": 1234}).file_size == 1234


def test_invoice_create_payload_has_decimal_strings_and_only_given_fields() -> None:
    invoice = ClientInvoiceCreate(
        client_id="c-1",
        issue_date=date(2026, 2, 1),
        due_date=date(2026, 3, 3),
        performance_start_date=date(2026, 1, 1),
        performance_end_date=date(2026, 1, 31),
        payment_methods=PaymentMethodsInput(iban=IBAN),
        purchase_order="BP-2026-01-acme",
        items=[item(quantity=Decimal("1E+2"))],
    )
    payload = invoice.to_payload()
    assert payload == {
        "client_id": "c-1",
        "issue_date": "2026-02-01",
        "due_date": "2026-03-03",
        "performance_start_date": "2026-01-01",
        "performance_end_date": "2026-01-31",
        "status": "draft",
        "currency": "EUR",
        "payment_methods": {"iban": IBAN},
        "purchase_order": "BP-2026-01-acme",
        "items": [
            {
                "title": "API calls",
                "quantity": "100",
                "unit": "unit",
                "unit_price": {"value": "0.0004", "currency": "EUR"},
                "vat_rate": "0.2",
            }
        ],
    }
    # survives a JSON round trip without any float
    assert json.loads(json.dumps(payload)) == payload


def test_invoice_update_sends_only_set_fields() -> None:
    update = ClientInvoiceUpdate(header="January usage", items=[item()])
    assert set(update.to_payload()) == {"header", "items"}
    assert ClientInvoiceUpdate(footer=None).to_payload() == {"footer": None}


def test_client_create_and_update_payloads() -> None:
    create = ClientCreate(
        kind="company",
        name="ACME Corp",
        email="billing@acme.example",
        currency="EUR",
        locale="fr",
        billing_address=Address(street_address="1 rue de la Paix", city="Paris", zip_code="75002", country_code="FR"),
    )
    assert create.to_payload() == {
        "kind": "company",
        "name": "ACME Corp",
        "email": "billing@acme.example",
        "currency": "EUR",
        "locale": "fr",
        "billing_address": {
            "street_address": "1 rue de la Paix",
            "city": "Paris",
            "zip_code": "75002",
            "country_code": "FR",
        },
    }
    assert ClientUpdate(vat_number="FR44732829320").to_payload() == {"vat_number": "FR44732829320"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vat_rate": Decimal("20")}, "vat_rate"),
        ({"quantity": Decimal("0")}, "quantity"),
        ({"quantity": Decimal("NaN")}, "quantity"),
        ({"title": "   "}, "title must not be blank"),
        ({"unexpected": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invoice_item_input_rejects_bad_values(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        item(**overrides)


def test_invoice_create_rejects_bad_iban_and_dates_and_currency_mismatch() -> None:
    with pytest.raises(ValidationError, match="invalid IBAN 'FR7616798000010000005663950'"):
        PaymentMethodsInput(iban="FR7616798000010000005663950")
    base = {
        "client_id": "c-1",
        "issue_date": date(2026, 2, 1),
        "due_date": date(2026, 3, 3),
        "payment_methods": PaymentMethodsInput(iban=IBAN),
        "items": [item()],
    }
    with pytest.raises(ValidationError, match="due_date 2026-01-01 is before issue_date 2026-02-01"):
        ClientInvoiceCreate.model_validate({**base, "due_date": date(2026, 1, 1)})
    with pytest.raises(ValidationError, match="performance_end_date 2026-01-01 is before"):
        ClientInvoiceCreate.model_validate(
            {**base, "performance_start_date": date(2026, 1, 31), "performance_end_date": date(2026, 1, 1)}
        )
    with pytest.raises(ValidationError, match=r"items\[0\].unit_price currency USD != invoice currency EUR"):
        ClientInvoiceCreate.model_validate(
            {**base, "items": [item(unit_price=Money(value=Decimal(1), currency="USD"))]}
        )
    with pytest.raises(ValidationError, match="List should have at least 1 item"):
        ClientInvoiceCreate.model_validate({**base, "items": []})


def test_client_create_requires_names_by_kind() -> None:
    with pytest.raises(ValidationError, match="a company client needs a name"):
        ClientCreate(kind="company")
    with pytest.raises(ValidationError, match="an individual client needs first_name and last_name"):
        ClientCreate(kind="individual", first_name="Ada")
    with pytest.raises(ValidationError, match="not an e-mail address"):
        ClientCreate(kind="company", name="X", email="nobody")


def test_status_constants_cover_the_documented_state_machine() -> None:
    assert frozenset({"draft", "unpaid", "paid", "canceled"}) == InvoiceStatus.KNOWN
    assert frozenset({"unpaid", "paid"}) == InvoiceStatus.FINALIZED


def test_money_currency_normalized_and_wire_format_plain() -> None:
    money = Money(value=Decimal("12.50"), currency="eur")
    assert money.model_dump(mode="json") == {"value": "12.50", "currency": "EUR"}
