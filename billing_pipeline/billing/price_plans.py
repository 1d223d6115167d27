"""The price list's schema: metrics, plans, fees and the four charge models, every amount a Decimal.

Parsing the YAML and reporting each problem with its line is ``price_list.py``'s job.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from billing_pipeline.billing.models import TITLE_MAX_LENGTH
from billing_pipeline.billing.money import amount_text, decimal_places, plain

_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")


def _decimal_text(value: Any) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite() and value >= 0:
        return value  # built in code rather than read from YAML
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError('write it as a quoted decimal string such as "0.0004" (YAML numbers with a point are floats)')
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or _DECIMAL_TEXT.fullmatch(value.strip()) is None:
        raise ValueError('expected a non-negative decimal string such as "12.50"')
    try:
        return Decimal(value.strip())
    except InvalidOperation:  # pragma: no cover - the pattern only lets valid decimals through
        raise ValueError("not a decimal number") from None


def check_vat_rate(value: Decimal) -> None:
    """Raise ValueError with the reason when ``value`` is not a VAT rate Qonto accepts."""
    if value >= 1:
        raise ValueError('a VAT rate is a fraction: "0.20" for 20 %')
    if decimal_places(value) > 4:
        raise ValueError("a VAT rate has at most 4 decimals (a percentage with 2)")


# All numbers are decimal strings; which of them are cents or rates is checked after parsing.
DecimalText = Annotated[Decimal, BeforeValidator(_decimal_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# How a metric's events of one customer and subscription row become the quantity priced
# (contracts.md, "Subscriptions, coupons and aggregations").
Aggregation = Literal["sum", "count", "unique_count", "max", "latest", "weighted_sum"]
AGGREGATIONS: tuple[str, ...] = ("sum", "count", "unique_count", "max", "latest", "weighted_sum")


class Metric(_Strict):
    description: str = Field(min_length=1)
    aggregation: Aggregation = "sum"


class Tier(_Strict):
    up_to: DecimalText | None
    unit_price: DecimalText
    flat_fee: DecimalText | None = None


class Priced(_Strict):
    title: str = Field(min_length=1, max_length=TITLE_MAX_LENGTH)
    vat_rate: DecimalText
    vat_exemption_reason: str | None = None


class _ChargeBase(Priced):
    unit: str = Field(min_length=1, max_length=30)
    free_units: DecimalText = Decimal(0)


class PerUnitCharge(_ChargeBase):
    model: Literal["per_unit"]
    unit_price: DecimalText


class GraduatedCharge(_ChargeBase):
    """Each tier prices only the units that fall inside it; a tier's flat fee is due once reached."""

    model: Literal["graduated"]
    tiers: list[Tier] = Field(min_length=1)


class VolumeCharge(_ChargeBase):
    """All units are priced at the unit price of the tier the total quantity reaches."""

    model: Literal["volume"]
    tiers: list[Tier] = Field(min_length=1)


class PackageCharge(_ChargeBase):
    """A price per started block of ``package_size`` units."""

    model: Literal["package"]
    package_size: DecimalText
    package_price: DecimalText


Charge = Annotated[PerUnitCharge | GraduatedCharge | VolumeCharge | PackageCharge, Field(discriminator="model")]


class MonthlyFee(Priced):
    amount: DecimalText


class MinimumCommitment(Priced):
    """A net amount per period; a true-up line tops a smaller invoice up to it."""

    amount: DecimalText


class Plan(_Strict):
    monthly_fee: MonthlyFee | None = None
    minimum_commitment: MinimumCommitment | None = None
    charges: dict[str, Charge] = Field(default_factory=dict)


# What a coupon reduces: every line, the fee lines (monthly fee, minimum-commitment true-up),
# the usage lines, or the lines of one metric (any other value: that metric's name).
COUPON_SCOPES = ("all", "fees", "usage")


class Coupon(_Strict):
    """A discount attached to subscription rows (``subscriptions.csv``, column ``coupons``).

    ``percent_off``: each eligible line loses its net × p / 100 (half-up to the cent);
    ``amount_off``: at most that much per period, taken from the eligible lines in invoice order.
    ``duration_periods``: only in the first N periods of its subscription row (None: every period).
    """

    title: str = Field(min_length=1, max_length=100)
    percent_off: DecimalText | None = None
    amount_off: DecimalText | None = None
    applies_to: str = Field(default="all", min_length=1)
    duration_periods: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_kind_of_discount(self) -> Coupon:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("a coupon has exactly one of percent_off or amount_off")
        if self.percent_off is not None and not 0 < self.percent_off <= 100:
            raise ValueError(f"percent_off must be above 0 and at most 100, got {self.percent_off}")
        if self.amount_off is not None and (self.amount_off <= 0 or decimal_places(self.amount_off) > 2):
            raise ValueError(f"amount_off must be above 0, in cents at most, got {self.amount_off}")
        return self

    def applies_in(self, periods_since_start: int) -> bool:
        """Whether it still applies ``periods_since_start`` periods after its row's first (0 = that one)."""
        return self.duration_periods is None or periods_since_start < self.duration_periods

    @property
    def label(self) -> str:
        """The coupon as an invoice line names it: ``Welcome discount (-20 %)``."""
        if self.percent_off is not None:
            off = f"-{plain(self.percent_off)} %"
        else:
            off = f"-{amount_text(self.amount_off or Decimal(0))} EUR"
        return f"{self.title} ({off})"


class PriceList(_Strict):
    currency: Literal["EUR"]
    metrics: dict[str, Metric]
    plans: dict[str, Plan]
    coupons: dict[str, Coupon] = Field(default_factory=dict)


# The title of the line(s) of one graduated tier.
def tier_title(title: str, tier_number: int, *, fee: bool = False) -> str:
    return f"{title} (tier {tier_number}{' fee' if fee else ''})"
