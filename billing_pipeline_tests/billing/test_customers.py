"""Each bad customer row names the file, line, field, value and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_pipeline.billing.customers import load_customers, parse_customers
from billing_pipeline.billing.models import InvalidBillingInput
from billing_pipeline_tests.billing.conftest import DE_VAT, SAMPLE_DIR, customer_row, write_customers

PLANS = frozenset({"basic", "metered"})


def problems(tmp_path: Path, **overrides: str) -> list[tuple[str, int | None, str | None, str | None, str]]:
    path = write_customers(tmp_path / "customers.csv", [customer_row(customer_id="cus_ok"), customer_row(**overrides)])
    table = parse_customers(path, plans=PLANS)
    assert "cus_ok" in table.customers
    return [(p.file, p.row, p.field, p.value, p.reason) for p in table.problems]


def test_sample_customers_are_valid() -> None:
    customers = load_customers(SAMPLE_DIR / "customers.csv")
    assert len(customers) == 31
    assert {c.kind for c in customers.values()} == {"company", "individual"}
    individual = next(c for c in customers.values() if c.kind == "individual")
    assert individual.display_name == f"{individual.first_name} {individual.last_name}"
    company = customers["cus_fr_001"]
    assert company.display_name == company.name
    assert company.payment_terms_days == 30


def test_valid_row_is_normalized(tmp_path: Path) -> None:
    path = write_customers(
        tmp_path / "customers.csv", [customer_row(vat_number="fr 44 732 829 320", locale="FR", country_code="fr")]
    )
    customer = load_customers(path, plans=PLANS)["cus_1"]
    assert (customer.vat_number, customer.locale, customer.country_code) == ("FR44732829320", "fr", "FR")
    assert customer.siren == "732829320"
    assert customer.purchase_order is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"email": "billing@@acme"}, ("email", "billing@@acme", "not a valid e-mail address")),
        (
            {"tax_identification_number": "732829321"},
            (
                "tax_identification_number",
                "732829321",
                "not a valid SIREN/SIRET: The number's checksum or check digit is invalid.",
            ),
        ),
        (
            {"tax_identification_number": "12345"},
            (
                "tax_identification_number",
                "12345",
                "a French company's tax identification number is its SIREN (9 digits) or SIRET (14)",
            ),
        ),
        (
            {"tax_identification_number": "552100554", "vat_number": "FR44732829320"},
            (
                "vat_number",
                "FR44732829320",
                "this FR VAT number belongs to SIREN 732829320, not to the customer's 552100554",
            ),
        ),
        (
            {"vat_number": "FR45732829320"},
            (
                "vat_number",
                "FR45732829320",
                "not a valid FR VAT number: The number's checksum or check digit is invalid.",
            ),
        ),
        (
            {"country_code": "DE", "zip_code": "10115", "tax_identification_number": "", "vat_number": "DE136695975"},
            (
                "vat_number",
                "DE136695975",
                "not a valid DE VAT number: The number's checksum or check digit is invalid.",
            ),
        ),
        (
            {"country_code": "BE", "zip_code": "1000", "tax_identification_number": "", "vat_number": DE_VAT},
            ("vat_number", DE_VAT, "a VAT number of a customer in BE starts with BE"),
        ),
        (
            {"currency": "USD"},
            ("currency", "USD", "Qonto issues invoices in EUR only (its API accepts no other currency)"),
        ),
        ({"currency": "EURO"}, ("currency", "EURO", "not an ISO 4217 currency code")),
        ({"country_code": "XX"}, ("country_code", "XX", "not an ISO 3166-1 alpha-2 country code (e.g. FR, DE, BE)")),
        ({"plan": "gold"}, ("plan", "gold", "no such plan in the price list (basic, metered)")),
        ({"kind": "person"}, ("kind", "person", "must be company or individual")),
        (
            {"payment_terms_days": "90"},
            ("payment_terms_days", "90", "French law caps payment terms at 60 days (art. L441-10 C. com.)"),
        ),
        ({"payment_terms_days": "thirty"}, ("payment_terms_days", "thirty", "a whole number of days")),
        ({"zip_code": "7502"}, ("zip_code", "7502", "a French postal code has 5 digits")),
        ({"locale": "pt"}, ("locale", "pt", "Qonto invoices are written in de, en, es, fr, it")),
        ({"name": ""}, ("name", None, "required")),
        ({"city": "x" * 51}, ("city", "x" * 51, "at most 50 characters on Qonto")),
        ({"customer_id": "cus_ok"}, ("customer_id", "cus_ok", "duplicate customer_id (first at line 2)")),
    ],
)
def test_bad_customer_field(tmp_path: Path, overrides: dict[str, str], expected: tuple[str, str | None, str]) -> None:
    assert problems(tmp_path, **overrides) == [("customers.csv", 3, *expected)]


def test_individual_with_company_identifiers(tmp_path: Path) -> None:
    found = problems(tmp_path, kind="individual", name="", first_name="Léa", last_name="Petit")
    reason = "individuals have none: leave it empty (a sole trader is a company here)"
    assert found == [
        ("customers.csv", 3, "tax_identification_number", "732829320", reason),
        ("customers.csv", 3, "vat_number", "FR44732829320", reason),
    ]
    assert problems(tmp_path, kind="individual", first_name="Léa", tax_identification_number="", vat_number="") == [
        ("customers.csv", 3, "last_name", None, "required")
    ]


def test_every_problem_of_every_row_is_reported(tmp_path: Path) -> None:
    path = write_customers(
        tmp_path / "customers.csv",
        [customer_row(email="nope"), customer_row(customer_id="cus_2", currency="GBP", plan="gold")],
    )
    with pytest.raises(InvalidBillingInput) as caught:
        load_customers(path, plans=PLANS)
    assert [(p.row, p.field) for p in caught.value.problems] == [(2, "email"), (3, "currency"), (3, "plan")]
    assert str(caught.value).startswith("3 problems in the billing input:\n- customers.csv line 2, email = 'nope'")


def test_line_numbers_count_physical_lines(tmp_path: Path) -> None:
    path = write_customers(
        tmp_path / "customers.csv",
        [customer_row(street_address="Bâtiment B\n1 rue de la Paix"), customer_row(customer_id="cus_2", email="x")],
    )
    text = path.read_text(encoding="utf-8").replace("\ncus_2", "\n\ncus_2")  # a blank line before it
    path.write_text(text, encoding="utf-8")
    table = parse_customers(path, plans=PLANS)
    assert [(p.row, p.field) for p in table.problems] == [(5, "email")]
    assert table.customers["cus_1"].street_address == "Bâtiment B\n1 rue de la Paix"


def test_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,kind,nmae\ncus_1,company,Acme\n", encoding="utf-8")
    table = parse_customers(path)
    assert table.known_ids is None
    reasons = {(p.row, p.field, p.reason) for p in table.problems}
    assert (1, "email", "missing column") in reasons
    assert (1, "nmae", "unexpected column (check its spelling)") in reasons
    path.write_text("", encoding="utf-8")
    assert parse_customers(path).problems[0].reason.startswith("empty file: expected a header line")
    missing = parse_customers(tmp_path / "absent.csv")
    assert [(p.file, p.reason) for p in missing.problems] == [("absent.csv", "file not found")]
