"""Fidelity to Qonto's documentation: the guide's request works, responses carry the documented fields."""

from __future__ import annotations

import io
from typing import Any

import facturx
import httpx
import pypdf
from lxml import etree

from billing_pipeline.emulator.seed import MAIN_IBAN
from billing_pipeline.emulator.testing import RunningEmulator
from billing_pipeline.facturx import verify_pdf
from billing_pipeline_tests.emulator.helpers import assert_error, create_client, create_invoice, finalize

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
SETTINGS = {
    "transaction_type": "goods_and_services",
    "vat_payment_condition": "compensated_for_sales",
    "discount_conditions": "Escompte de 1 % pour paiement sous 8 jours.",
    "late_payment_penalties": "Pénalités de retard : 3 fois le taux d'intérêt légal.",
    "legal_fixed_compensation": "Indemnité forfaitaire pour frais de recouvrement : 40 €.",
}
# qonto-api.md §9, in the docs example's order (the list view omits the lifecycle)
INVOICE_FIELDS = {
    *"id organization_id attachment_id number purchase_order status invoice_url contact_email".split(),
    *"terms_and_conditions header footer discount_conditions late_payment_penalties".split(),
    *"legal_fixed_compensation currency total_amount total_amount_cents vat_amount vat_amount_cents".split(),
    *"amount_paid issue_date due_date performance_date performance_start_date performance_end_date".split(),
    *"created_at updated_at finalized_at paid_at stamp_duty_amount items client payment_methods".split(),
    *"credit_notes_ids organization invoice_type discount einvoicing_status welfare_fund".split(),
    *"withholding_tax payment_reporting deposit_amount einvoicing_lifecycle_events".split(),
}
ORGANIZATION_FIELDS = {
    *"id legal_name legal_number legal_country address_line_1 address_line_2 address_zipcode".split(),
    *"address_city address_country company_leadership district_court commercial_register_number".split(),
    *"vat_number tax_number legal_capital_share transaction_type vat_payment_condition".split(),
}
CLIENT_FIELDS = {
    *"id name first_name last_name phone_number phone kind type email extra_emails currency".split(),
    *"e_invoicing_address e_invoicing_reachable vat_number tax_identification_number address city".split(),
    *"zip_code province_code country_code billing_address delivery_address recipient_code".split(),
    *"created_at updated_at locale".split(),
}


def guide_draft(client_id: str) -> dict[str, Any]:
    """The draft of Qonto's "generate a Factur-X invoice" guide: no top-level ``currency``.

    (The stored copy of the guide cuts its code block; this is its documented shape — client,
    dates, status, IBAN, items — with our values.)
    """
    return {
        "client_id": client_id,
        "issue_date": "2026-02-01",
        "due_date": "2026-03-03",
        "status": "draft",
        "payment_methods": {"iban": MAIN_IBAN},
        "items": [
            {
                "title": "Monthly subscription",
                "quantity": "1",
                "unit_price": {"value": "99.00", "currency": "EUR"},
                "vat_rate": "0.2",
            }
        ],
    }


def test_the_guides_draft_without_currency_inherits_the_clients(api: httpx.Client) -> None:
    client = create_client(api)

    response = api.post("/v2/client_invoices", json=guide_draft(client["id"]))

    assert response.status_code == 201, response.text
    invoice = response.json()["client_invoice"]
    assert invoice["currency"] == "EUR" and invoice["total_amount"] == {"value": "118.80", "currency": "EUR"}


def test_without_currency_on_the_client_the_error_names_currency(api: httpx.Client) -> None:
    client = create_client(api, currency=None)

    response = api.post("/v2/client_invoices", json=guide_draft(client["id"]))

    assert_error(response, 422, "client_missing_currency", pointer="/data/attributes/currency")


def test_invoice_organization_and_client_carry_every_documented_field(api: httpx.Client) -> None:
    draft = create_invoice(api)
    finalized = finalize(api, draft["id"])
    fetched = api.get(f"/v2/client_invoices/{draft['id']}").json()["client_invoice"]
    (listed,) = api.get("/v2/client_invoices").json()["client_invoices"]

    for invoice in (draft, finalized, fetched):
        assert INVOICE_FIELDS <= set(invoice), INVOICE_FIELDS - set(invoice)
        assert ORGANIZATION_FIELDS <= set(invoice["organization"])
        assert CLIENT_FIELDS <= set(invoice["client"])
    assert INVOICE_FIELDS - {"einvoicing_lifecycle_events"} <= set(listed)
    assert finalized["amount_paid"] == {"value": "0.00", "currency": "EUR"}
    assert finalized["contact_email"]
    assert CLIENT_FIELDS <= set(api.get(f"/v2/clients/{draft['client']['id']}").json()["client"])


def test_attachment_carries_the_probative_attachment_object(api: httpx.Client) -> None:
    invoice = finalize(api, create_invoice(api)["id"])

    attachment = api.get(f"/v2/attachments/{invoice['attachment_id']}").json()["attachment"]

    assert set(attachment) >= {"id", "created_at", "updated_at", "file_name", "file_size", "file_content_type", "url"}
    assert attachment["probative_attachment"] == {
        "status": "unavailable",
        "file_name": None,
        "file_content_type": None,
        "file_size": None,
        "url": None,
    }


def test_settings_are_stored_echoed_and_rendered_in_the_factur_x(api: httpx.Client, emulator: RunningEmulator) -> None:
    draft = create_invoice(api, settings=SETTINGS)
    for name in ("discount_conditions", "late_payment_penalties", "legal_fixed_compensation"):
        assert draft[name] == SETTINGS[name]
    assert draft["organization"]["transaction_type"] == "goods_and_services"
    assert draft["organization"]["vat_payment_condition"] == "compensated_for_sales"
    patched = api.patch(
        f"/v2/client_invoices/{draft['id']}", json={"settings": {**SETTINGS, "transaction_type": "goods"}}
    )
    assert patched.json()["client_invoice"]["organization"]["transaction_type"] == "goods"
    finalized = finalize(api, draft["id"])

    attachment = api.get(f"/v2/attachments/{finalized['attachment_id']}").json()["attachment"]
    pdf = httpx.get(attachment["url"], timeout=30).content

    report = verify_pdf(pdf)
    assert report.errors == [] and report.warnings == [] and report.valid
    _, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=False)
    root = etree.fromstring(xml)
    notes = {
        note.findtext("ram:SubjectCode", namespaces=NS): note.findtext("ram:Content", namespaces=NS)
        for note in root.iterfind("rsm:ExchangedDocument/ram:IncludedNote", NS)
    }
    assert notes["PMT"] == SETTINGS["legal_fixed_compensation"]
    assert notes["PMD"] == SETTINGS["late_payment_penalties"]
    assert notes["AAB"] == SETTINGS["discount_conditions"]
    assert "Option pour le paiement de la taxe d'après les débits" in notes.values()
    process = "rsm:ExchangedDocumentContext/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"
    assert root.findtext(process, namespaces=NS) == "B1"  # BT-23: goods after the PATCH
    settlement = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
    assert [code.text for code in root.iterfind(f"{settlement}/ram:ApplicableTradeTax/ram:DueDateTypeCode", NS)] == [
        "5"
    ]
    buyer_siren = root.find(
        "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty"
        "/ram:SpecifiedLegalOrganization/ram:ID",
        NS,
    )
    assert buyer_siren is not None and (buyer_siren.text, buyer_siren.get("schemeID")) == ("732829320", "0002")
    # and printed on the page
    page = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for mention in (
        "Nature des opérations : livraisons de biens",
        "Option pour le paiement de la taxe d'après les débits",
        SETTINGS["late_payment_penalties"],
        SETTINGS["legal_fixed_compensation"],
        SETTINGS["discount_conditions"],
    ):
        assert mention in page, mention
