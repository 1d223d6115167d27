"""The customer list (``customers.csv``): one row per billed customer, every field checked."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from billing_pipeline.billing import customer_ids, identifiers
from billing_pipeline.billing.csv_records import csv_records
from billing_pipeline.billing.models import Customer, InputProblem, InvalidBillingInput
from billing_pipeline.billing.problems import ProblemLog

COLUMNS = (
    "customer_id",
    "kind",
    "name",
    "first_name",
    "last_name",
    "email",
    "tax_identification_number",
    "vat_number",
    "street_address",
    "city",
    "zip_code",
    "country_code",
    "currency",
    "locale",
    "plan",
    "payment_terms_days",
    "purchase_order",
)
# optional columns: a file without them is valid
OPTIONAL_COLUMNS = (
    "invoice_emails",  # more addresses the invoice is emailed to, separated by ";" (Qonto's extra_emails)
)
MAX_INVOICE_EMAILS = 100  # Qonto's limit on a client's extra_emails [unconfirmed reading]
# Qonto's invoice languages.
LOCALES = frozenset({"fr", "en", "de", "es", "it"})
# Art. L441-10 Code de commerce: at most 60 days after the invoice date.
MAX_PAYMENT_TERMS_DAYS = 60
# Qonto's field limits (qonto-api.md §8.2).
_MAX_LENGTH = {
    "name": 250,
    "first_name": 60,
    "last_name": 60,
    "street_address": 250,
    "city": 50,
    "zip_code": 20,
    "tax_identification_number": 30,
}


@dataclass(frozen=True)
class CustomerTable:
    customers: dict[str, Customer]
    # Ids of every row, valid or not: usage of a customer whose row has a typo is not "unknown".
    # None when the file itself could not be read, so that no usage row is called unknown.
    known_ids: frozenset[str] | None
    problems: list[InputProblem]


class _Row:
    """One CSV row being checked; each check records its own problem and moves on."""

    def __init__(self, file: str, line: int, cells: dict[str, str], log: ProblemLog) -> None:
        self.file, self.line, self.cells, self.log = file, line, cells, log
        self.ok = True

    def problem(self, field: str, reason: str) -> None:
        self.ok = False
        self.log.add(self.file, reason, row=self.line, field=field, value=self.cells.get(field) or None)

    def text(self, field: str, *, required: bool) -> str | None:
        value = self.cells.get(field, "")
        if not value:
            if required:
                self.problem(field, "required")
            return None
        limit = _MAX_LENGTH.get(field)
        if limit is not None and len(value) > limit:
            self.problem(field, f"at most {limit} characters on Qonto")
        return value

    def checked(self, field: str, check: Callable[[str], str], *, required: bool) -> str | None:
        value = self.text(field, required=required)
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as error:
            self.problem(field, str(error))
            return None


def _currency(value: str) -> str:
    code = value.upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError("not an ISO 4217 currency code")
    if code != "EUR":
        raise ValueError("Qonto issues invoices in EUR only (its API accepts no other currency)")
    return code


def _locale(value: str) -> str:
    locale = value.lower()
    if locale not in LOCALES:
        raise ValueError(f"Qonto invoices are written in {', '.join(sorted(LOCALES))}")
    return locale


def _payment_terms(value: str) -> str:
    if not value.isdigit():
        raise ValueError("a whole number of days")
    if int(value) > MAX_PAYMENT_TERMS_DAYS:
        raise ValueError(f"French law caps payment terms at {MAX_PAYMENT_TERMS_DAYS} days (art. L441-10 C. com.)")
    return value


def _customer(row: _Row, plans: Collection[str] | None) -> Customer | None:
    row.checked("customer_id", customer_ids.customer_id, required=True)
    kind = row.checked("kind", _kind, required=True)
    country = row.checked("country_code", identifiers.country_code, required=True)
    company = kind == "company"
    name = row.text("name", required=company)
    first_name = row.text("first_name", required=kind == "individual")
    last_name = row.text("last_name", required=kind == "individual")
    email = row.checked("email", identifiers.email_address, required=True)
    tin = None
    if kind == "individual":
        for field in ("tax_identification_number", "vat_number"):
            if row.cells.get(field):
                row.problem(field, "individuals have none: leave it empty (a sole trader is a company here)")
    elif company and country == "FR":
        tin = row.checked("tax_identification_number", identifiers.siren_or_siret, required=True)
    else:
        tin = row.text("tax_identification_number", required=False)
    vat = None
    if company and country is not None:
        siren = tin[:9] if tin and country == "FR" else None
        vat = row.checked("vat_number", lambda v: identifiers.vat_number(v, country, siren), required=False)
    street = row.text("street_address", required=True)
    city = row.text("city", required=True)
    zip_code = row.text("zip_code", required=True)
    if zip_code and country == "FR" and not (len(zip_code) == 5 and zip_code.isdigit()):
        row.problem("zip_code", "a French postal code has 5 digits")
    currency = row.checked("currency", _currency, required=True)
    locale = row.checked("locale", _locale, required=True)
    plan = row.text("plan", required=True)
    if plan is not None and plans is not None and plan not in plans:
        row.problem("plan", f"no such plan in the price list ({', '.join(sorted(plans))})")
    terms = row.checked("payment_terms_days", _payment_terms, required=True)
    invoice_emails = _invoice_emails(row, email)
    if not row.ok:
        return None
    return Customer.model_validate(
        {
            "customer_id": row.cells["customer_id"],
            "kind": kind,
            "name": name,
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "tax_identification_number": tin,
            "vat_number": vat,
            "street_address": street,
            "city": city,
            "zip_code": zip_code,
            "country_code": country,
            "currency": currency,
            "locale": locale,
            "plan": plan,
            "payment_terms_days": int(terms or 0),
            "purchase_order": row.text("purchase_order", required=False),
            "invoice_emails": invoice_emails,
        }
    )


def _invoice_emails(row: _Row, email: str | None) -> tuple[str, ...]:
    """The extra recipients of the invoice: each a valid address, each once, not the main email again."""
    cell = row.cells.get("invoice_emails") or ""
    found: list[str] = []
    for part in (p.strip() for p in cell.replace(",", ";").split(";")):
        if not part:
            continue
        try:
            address = identifiers.email_address(part)
        except ValueError:
            row.problem("invoice_emails", f"{part!r} is not a valid e-mail address (separate addresses with ';')")
            continue
        if address != email and address not in found:
            found.append(address)
    if len(found) > MAX_INVOICE_EMAILS:
        row.problem("invoice_emails", f"at most {MAX_INVOICE_EMAILS} addresses")
    return tuple(found)


def _kind(value: str) -> str:
    if value not in ("company", "individual"):
        raise ValueError("must be company or individual")
    return value


def parse_customers(
    path: Path, *, plans: Collection[str] | None = None, file_label: str | None = None
) -> CustomerTable:
    """Every valid customer, the ids of all rows, and every problem (``plans``: known plan names)."""
    label = file_label or path.name
    log = ProblemLog()
    customers: dict[str, Customer] = {}
    first_line: dict[str, int] = {}
    records = csv_records(path, label, log, COLUMNS, OPTIONAL_COLUMNS)
    if records is None:
        return CustomerTable({}, None, log.problems)
    for start, cells in records:
        row = _Row(label, start, cells, log)
        customer_id = row.cells["customer_id"]
        if customer_id in first_line:
            row.problem("customer_id", f"duplicate customer_id (first at line {first_line[customer_id]})")
        elif customer_id:
            first_line[customer_id] = start
        customer = _customer(row, plans)
        if customer is not None and row.ok:
            customers[customer.customer_id] = customer
    return CustomerTable(customers, frozenset(first_line), log.problems)


def load_customers(path: Path, *, plans: Collection[str] | None = None) -> dict[str, Customer]:
    """All customers by id; raises ``InvalidBillingInput`` listing every problem."""
    table = parse_customers(Path(path), plans=plans)
    if table.problems:
        raise InvalidBillingInput(table.problems)
    return table.customers
