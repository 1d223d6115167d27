"""The billing domain's data: customers, invoice plans, and input problems."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from billing_pipeline.billing.money import amount_text, exact_product, exact_sum, plain, price_text, round_cents
from billing_pipeline.billing.periods import BillingPeriod

TITLE_MAX_LENGTH = 40  # Qonto item title limit
DESCRIPTION_MAX_LENGTH = 1800  # Qonto item description limit


class Customer(BaseModel):
    """One row of ``customers.csv``, validated (see ``customers.py`` for the rules)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    kind: Literal["company", "individual"]
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str
    tax_identification_number: str | None = None
    vat_number: str | None = None
    street_address: str
    city: str
    zip_code: str
    country_code: str
    currency: str
    locale: str
    plan: str
    payment_terms_days: int = Field(ge=0)
    purchase_order: str | None = None
    invoice_emails: tuple[str, ...] = ()  # more recipients of the invoice email (column invoice_emails)

    @property
    def display_name(self) -> str:
        if self.kind == "company":
            return self.name or ""
        return f"{self.first_name} {self.last_name}"

    @property
    def siren(self) -> str | None:
        """The 9-digit SIREN of a French company (the first 9 digits of a SIRET)."""
        tin = self.tax_identification_number
        return tin[:9] if tin and tin.isdigit() and len(tin) in (9, 14) else None


class CheckedOnce(BaseModel):
    """A frozen model whose whole-model rule (``checked``) runs once, when it is built.

    The rule runs after the fields are validated, from ``model_post_init``: pydantic calls it when
    an instance is built (``Model(...)``, ``model_validate``, ``model_validate_json``), its
    ``ValueError`` becoming the ``ValidationError`` of the build; an instance put in another model's
    field is taken as it is (a frozen instance checked when it was built cannot have changed). A
    model validator would run again each time (every line of every invoice two or three times),
    through a Python call per line. (``model_construct`` runs the rule too; ``model_copy`` builds
    unchecked instances: a line is never derived from another, it is built once from its final
    values, ``line_drafts.py``.)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_post_init(self, context: Any, /) -> None:
        self.checked()

    def checked(self) -> Self:
        """The instance if it keeps the model's rule; raises ValueError naming what is wrong."""
        return self


class InvoiceLine(CheckedOnce):
    """One Qonto invoice item.

    Invariant: ``net_amount == round_half_up(quantity × unit_price, 2) − discount``. ``discount``
    (coupons, in cents, never more than the line's gross) is sent to Qonto as the item's absolute
    ``discount`` — Qonto's ``subtotal = quantity × unit_price − discount`` — and appears in the
    Factur-X as a line allowance (BT-136). Qonto's item discount has no reason field, so
    ``discount_reason`` (the coupons) reaches the customer through the line's description.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1, max_length=TITLE_MAX_LENGTH)
    description: str = Field(max_length=DESCRIPTION_MAX_LENGTH)
    quantity: Decimal = Field(gt=0)
    unit: str
    unit_price: Decimal = Field(gt=0)
    vat_rate: Decimal = Field(ge=0, lt=1)
    vat_exemption_reason: str | None = None
    net_amount: Decimal
    discount: Decimal | None = None
    discount_reason: str | None = None

    @property
    def gross_amount(self) -> Decimal:
        """quantity × unit price rounded half-up to the cent: the net before the discount."""
        return round_cents(exact_product(self.quantity, self.unit_price))

    def checked(self) -> InvoiceLine:
        gross = self.gross_amount
        if self.discount is not None:
            if self.discount <= 0 or self.discount.as_tuple().exponent != -2 or self.discount > gross:
                raise ValueError(
                    f"line {self.title!r}: discount {self.discount} must be in cents, above 0 and at most "
                    f"the line's {gross}"
                )
            if not self.discount_reason:
                raise ValueError(f"line {self.title!r}: a discount needs its reason (the coupons)")
        elif self.discount_reason is not None:
            raise ValueError(f"line {self.title!r}: a discount reason without a discount")
        expected = gross - (self.discount or 0)
        if self.net_amount != expected or self.net_amount.as_tuple().exponent != -2:
            raise ValueError(
                f"line {self.title!r}: net {self.net_amount} is not {plain(self.quantity)} × "
                f"{plain(self.unit_price)} rounded to the cent"
                + (f" less the discount {self.discount}" if self.discount else "")
                + f" ({expected})"
            )
        if (self.vat_rate == 0) != (self.vat_exemption_reason is not None):
            raise ValueError(f"line {self.title!r}: a VAT exemption reason goes with a 0 rate, and only then")
        return self


class VatSubtotal(BaseModel):
    """One VAT breakdown row (EN 16931 BG-23): VAT computed once on the summed line nets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    vat_rate: Decimal
    vat_exemption_reason: str | None
    base: Decimal
    vat_amount: Decimal


class BilledSegment(BaseModel):
    """One subscription row as billed in a period: its plan, its service days, its coupons then."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan: str
    starts_on: date  # first day billed in the period
    ends_on: date  # last day billed in the period
    days: int
    period_days: int
    coupons: tuple[str, ...] = ()  # the row's coupons still in force in this period


class InvoicePlan(CheckedOnce):
    """What one customer will be invoiced for one period, priced to the cent.

    ``segments``: the subscription rows billed (empty for a customer on its ``customers.csv`` plan);
    their days and coupons are also written in the lines' descriptions, which the digest covers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer: Customer
    period: BillingPeriod
    currency: Literal["EUR"]
    lines: list[InvoiceLine] = Field(min_length=1)
    vat_breakdown: list[VatSubtotal]
    net_total: Decimal
    vat_total: Decimal
    total: Decimal
    segments: tuple[BilledSegment, ...] = ()

    def checked(self) -> InvoicePlan:
        nets = exact_sum([line.net_amount for line in self.lines])
        if nets != self.net_total:
            raise ValueError(f"net total {self.net_total} is not the sum of the line nets {nets}")
        if exact_sum([row.base for row in self.vat_breakdown]) != nets:
            raise ValueError("the VAT breakdown bases do not add up to the net total")
        for row in self.vat_breakdown:
            if row.vat_amount != round_cents(exact_product(row.base, row.vat_rate)):
                raise ValueError(f"VAT at {row.vat_rate} is not its base × rate rounded to the cent")
        if exact_sum([row.vat_amount for row in self.vat_breakdown]) != self.vat_total:
            raise ValueError("the VAT total is not the sum of the VAT breakdown")
        if self.total != self.net_total + self.vat_total:
            raise ValueError("the total is not net + VAT")
        return self

    def content_digest(self) -> str:
        """SHA-256 of what the customer sees: lines and totals (not address or e-mail changes).

        The pipeline compares it with the digest of an already drafted or finalized invoice to
        notice that the usage of a period changed after the fact.
        """
        content = {
            "customer_id": self.customer.customer_id,
            "period": self.period.key,  # the key string: digests recorded before stay valid
            "currency": self.currency,
            "lines": [
                {
                    "title": line.title,
                    "description": line.description,
                    "quantity": plain(line.quantity),
                    "unit": line.unit,
                    "unit_price": price_text(line.unit_price),
                    "vat_rate": plain(line.vat_rate),
                    "vat_exemption_reason": line.vat_exemption_reason,
                    "net_amount": amount_text(line.net_amount),
                    # only when present: digests of invoices without discounts stay what they were
                    **(
                        {"discount": amount_text(line.discount), "discount_reason": line.discount_reason}
                        if line.discount is not None
                        else {}
                    ),
                }
                for line in self.lines
            ],
            "net_total": amount_text(self.net_total),
            "vat_total": amount_text(self.vat_total),
            "total": amount_text(self.total),
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class UsageStats(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    files: int
    rows_read: int
    rows_in_period: int
    duplicate_events: int
    customers_billed: int
    customers_skipped: int


class PeriodPlan(BaseModel):
    """Every invoice of one billing period, or nothing (a period with bad input has no plan).

    ``warnings``: what is billed as the input says but deserves a look (usage on days no
    subscription row covers, which is not billed); shown by ``preview``, logged by the pipeline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    period: BillingPeriod
    currency: Literal["EUR"]
    timezone: str
    invoices: list[InvoicePlan]
    net_total: Decimal
    vat_total: Decimal
    total: Decimal
    usage_stats: UsageStats
    warnings: tuple[str, ...] = ()


class InputProblem(BaseModel):
    """One thing wrong with the billing input, located precisely enough to fix it.

    ``row`` is the line number as a person counts it in a text file (CSV header = line 1, YAML
    first line = 1) and, for Parquet, the 1-based record number; None for whole-file problems.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    row: int | None = None
    field: str | None = None
    value: str | None = None
    reason: str

    def describe(self) -> str:
        where = self.file
        if self.row is not None:
            # a table source is labelled "<url>#<table>": its rows are query positions, not lines
            noun = "record" if self.file.endswith(".parquet") else "row" if "#" in self.file else "line"
            where += f" {noun} {self.row}"
        if self.field is not None:
            where += f", {self.field}"
        if self.value is not None:
            where += f" = {self.value!r}"
        return f"{where}: {self.reason}"


class InvalidBillingInput(Exception):
    """Raised with every problem found; a period with bad input gets no plan at all."""

    def __init__(self, problems: list[InputProblem]) -> None:
        if not problems:
            raise ValueError("InvalidBillingInput needs at least one problem")
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"{count} problem{'s' if count > 1 else ''} in the billing input:"
        super().__init__("\n".join([heading, *(f"- {p.describe()}" for p in self.problems)]))
