"""The price list (``price_list.yaml``): metrics, plans, and how each metric is charged.

Every problem is reported with the YAML line it comes from. The file is checked piece by piece
(each metric, fee, commitment and charge on its own) so that one typo does not hide the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter

from billing_pipeline.billing.models import TITLE_MAX_LENGTH, InputProblem, InvalidBillingInput
from billing_pipeline.billing.money import decimal_places
from billing_pipeline.billing.price_plans import (
    COUPON_SCOPES,
    Charge,
    Coupon,
    DecimalText,
    GraduatedCharge,
    Metric,
    MinimumCommitment,
    MonthlyFee,
    PackageCharge,
    PerUnitCharge,
    Plan,
    Priced,
    PriceList,
    Tier,
    VolumeCharge,
    check_vat_rate,
    tier_title,
)
from billing_pipeline.billing.problems import ProblemLog
from billing_pipeline.billing.vat import QONTO_VAT_EXEMPTION_REASONS
from billing_pipeline.billing.yaml_locations import Document, Path_, field_name, index_nodes, validate

# the schema lives in price_plans.py; callers keep importing it from here
__all__ = [
    "Charge",
    "Coupon",
    "DecimalText",
    "GraduatedCharge",
    "Metric",
    "MinimumCommitment",
    "MonthlyFee",
    "PackageCharge",
    "PerUnitCharge",
    "Plan",
    "PriceList",
    "PriceListReading",
    "Tier",
    "VolumeCharge",
    "load_price_list",
    "parse_price_list",
    "tier_title",
]

_METRIC = TypeAdapter(Metric)
_CHARGE: TypeAdapter[Any] = TypeAdapter(Charge)
_FEE = TypeAdapter(MonthlyFee)
_COMMITMENT = TypeAdapter(MinimumCommitment)
_COUPON = TypeAdapter(Coupon)


def _check_vat(priced: Priced, path: Path_, document: Document, log: ProblemLog) -> None:
    def problem(reason: str, key: str, value: object) -> None:
        sub = (*path, key)
        log.add(document.file, reason, row=document.line_of(sub), field=field_name(sub), value=value)

    try:
        check_vat_rate(priced.vat_rate)
    except ValueError as error:
        problem(str(error), "vat_rate", priced.vat_rate)
        return
    reason = priced.vat_exemption_reason
    if priced.vat_rate == 0 and reason is None:
        problem("a 0 VAT rate needs a vat_exemption_reason (a Qonto code such as S293B)", "vat_rate", "0")
    if priced.vat_rate != 0 and reason is not None:
        problem("an exemption reason only goes with a 0 VAT rate", "vat_exemption_reason", reason)
    if reason is not None and reason not in QONTO_VAT_EXEMPTION_REASONS:
        problem(
            f"not a Qonto VAT exemption code ({', '.join(sorted(QONTO_VAT_EXEMPTION_REASONS))})",
            "vat_exemption_reason",
            reason,
        )


def _check_amount(value: Decimal, path: Path_, document: Document, log: ProblemLog, *, positive: bool) -> None:
    reason = None
    if decimal_places(value) > 2:
        reason = "an amount has at most 2 decimals (cents)"
    elif positive and value <= 0:
        reason = "must be greater than 0"
    if reason:
        log.add(document.file, reason, row=document.line_of(path), field=field_name(path), value=str(value))


def _check_tiers(tiers: list[Tier], path: Path_, document: Document, log: ProblemLog) -> None:
    def problem(index: int, key: str, reason: str, value: object) -> None:
        sub = (*path, "tiers", index, key)
        log.add(document.file, reason, row=document.line_of(sub), field=field_name(sub), value=value)

    previous = Decimal(0)
    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        if tier.flat_fee is not None:
            _check_amount(tier.flat_fee, (*path, "tiers", index, "flat_fee"), document, log, positive=False)
        if tier.up_to is None:
            if not last:
                problem(index, "up_to", "only the last tier may be unbounded (up_to: null)", "null")
            continue
        if tier.up_to <= previous:
            problem(
                index,
                "up_to",
                f"tiers overlap or are not sorted: up_to must be above the previous bound {previous}",
                str(tier.up_to),
            )
        else:
            previous = tier.up_to
        if last:
            problem(
                index,
                "up_to",
                "the last tier must be unbounded (up_to: null) so every quantity has a price",
                str(tier.up_to),
            )


def _check_charge(charge: Any, path: Path_, document: Document, log: ProblemLog) -> None:
    _check_vat(charge, path, document, log)
    if isinstance(charge, GraduatedCharge | VolumeCharge):
        _check_tiers(charge.tiers, path, document, log)
    if isinstance(charge, GraduatedCharge):
        longest = max(
            tier_title(charge.title, len(charge.tiers), fee=any(t.flat_fee for t in charge.tiers)),
            tier_title(charge.title, len(charge.tiers)),
            key=len,
        )
        if len(longest) > TITLE_MAX_LENGTH:
            sub = (*path, "title")
            log.add(
                document.file,
                f"graduated lines are titled like {longest!r}, over Qonto's {TITLE_MAX_LENGTH} characters: "
                "shorten the title",
                row=document.line_of(sub),
                field=field_name(sub),
                value=charge.title,
            )
    if isinstance(charge, PackageCharge):
        if charge.package_size <= 0:
            sub = (*path, "package_size")
            log.add(
                document.file,
                "must be greater than 0",
                row=document.line_of(sub),
                field=field_name(sub),
                value=str(charge.package_size),
            )
        _check_amount(charge.package_price, (*path, "package_price"), document, log, positive=True)


def _mapping(raw: Any, path: Path_, document: Document, log: ProblemLog) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    log.add(document.file, "expected a mapping of names to entries", row=document.line_of(path), field=field_name(path))
    return {}


def _parse(raw: Any, document: Document, log: ProblemLog) -> PriceList | None:
    top = _mapping(raw, (), document, log)
    for key in top.keys() - {"currency", "metrics", "plans", "coupons"}:
        log.add(
            document.file,
            "unknown key (expected currency, metrics, plans, coupons)",
            row=document.line_of((key,)),
            field=str(key),
        )
    currency = top.get("currency")
    if currency != "EUR":
        log.add(
            document.file,
            "Qonto issues invoices in EUR only: the price list currency must be EUR",
            row=document.line_of(("currency",)),
            field="currency",
            value=currency,
        )
    metrics = {}
    for name, entry in _mapping(top.get("metrics"), ("metrics",), document, log).items():
        metric = validate(_METRIC, entry, ("metrics", name), document, log)
        if metric is not None:
            metrics[str(name)] = metric
    raw_metrics = top.get("metrics") if isinstance(top.get("metrics"), dict) else {}
    plans = {}
    for plan_name, raw_plan in _mapping(top.get("plans"), ("plans",), document, log).items():
        plan_path: Path_ = ("plans", plan_name)
        body = _mapping(raw_plan, plan_path, document, log)
        for key in body.keys() - {"monthly_fee", "minimum_commitment", "charges"}:
            log.add(
                document.file,
                "unknown key (expected monthly_fee, minimum_commitment, charges)",
                row=document.line_of((*plan_path, key)),
                field=field_name((*plan_path, key)),
            )
        fee = commitment = None
        if body.get("monthly_fee") is not None:
            fee = validate(_FEE, body["monthly_fee"], (*plan_path, "monthly_fee"), document, log)
            if fee is not None:
                _check_vat(fee, (*plan_path, "monthly_fee"), document, log)
                _check_amount(fee.amount, (*plan_path, "monthly_fee", "amount"), document, log, positive=True)
        if body.get("minimum_commitment") is not None:
            path = (*plan_path, "minimum_commitment")
            commitment = validate(_COMMITMENT, body["minimum_commitment"], path, document, log)
            if commitment is not None:
                _check_vat(commitment, path, document, log)
                _check_amount(commitment.amount, (*path, "amount"), document, log, positive=True)
        charges = {}
        for metric_name, raw_charge in _mapping(
            body.get("charges", {}), (*plan_path, "charges"), document, log
        ).items():
            path = (*plan_path, "charges", metric_name)
            if metric_name not in raw_metrics:
                log.add(
                    document.file,
                    "the plan charges a metric that the price list does not declare under metrics",
                    row=document.line_of(path),
                    field=field_name(path),
                    value=metric_name,
                )
            charge = validate(_CHARGE, raw_charge, path, document, log)
            if charge is not None:
                _check_charge(charge, path, document, log)
                charges[str(metric_name)] = charge
        plans[str(plan_name)] = {"monthly_fee": fee, "minimum_commitment": commitment, "charges": charges}
    coupons = _coupons(top, raw_metrics, document, log)
    if log:
        return None
    return PriceList(
        currency="EUR",
        metrics=metrics,
        plans={name: Plan(**parts) for name, parts in plans.items()},
        coupons=coupons,
    )


def _coupons(top: dict[str, Any], raw_metrics: Any, document: Document, log: ProblemLog) -> dict[str, Coupon]:
    """The optional ``coupons:`` section, each coupon checked on its own."""
    if top.get("coupons") is None:
        return {}
    coupons = {}
    for name, entry in _mapping(top["coupons"], ("coupons",), document, log).items():
        path: Path_ = ("coupons", name)
        coupon = validate(_COUPON, entry, path, document, log)
        if coupon is None:
            continue
        scope = coupon.applies_to
        if scope not in COUPON_SCOPES and scope not in raw_metrics:
            sub = (*path, "applies_to")
            log.add(
                document.file,
                f"expected {', '.join(COUPON_SCOPES)} or a metric declared under metrics",
                row=document.line_of(sub),
                field=field_name(sub),
                value=scope,
            )
            continue
        coupons[str(name)] = coupon
    return coupons


@dataclass(frozen=True)
class PriceListReading:
    """The price list (None if anything is wrong), every problem, and the plan and metric names
    it declares even when broken, so that other files can still be checked against them."""

    price_list: PriceList | None
    problems: list[InputProblem]
    plan_names: frozenset[str] | None = None
    metric_names: frozenset[str] | None = None
    coupon_names: frozenset[str] | None = None


def _names(raw: Any, key: str) -> frozenset[str] | None:
    section = raw.get(key) if isinstance(raw, dict) else None
    return frozenset(str(name) for name in section) if isinstance(section, dict) else None


def parse_price_list(path: Path, *, file_label: str | None = None) -> PriceListReading:
    label = file_label or path.name
    log = ProblemLog()
    document = Document(label)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        log.add(label, "file not found")
        return PriceListReading(None, log.problems)
    except (OSError, UnicodeDecodeError) as error:
        log.add(label, f"cannot read the file: {error}")
        return PriceListReading(None, log.problems)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = f"not valid YAML: {getattr(error, 'problem', None) or error}"
        log.add(label, reason, row=mark.line + 1 if mark else None)
        return PriceListReading(None, log.problems)
    if root is None:
        log.add(label, "the price list is empty")
        return PriceListReading(None, log.problems)
    index_nodes(root, (), document, log)
    price_list = _parse(raw, document, log)
    return PriceListReading(
        price_list, log.problems, _names(raw, "plans"), _names(raw, "metrics"), _names(raw, "coupons") or frozenset()
    )


def load_price_list(path: Path) -> PriceList:
    """The price list; raises ``InvalidBillingInput`` listing every problem."""
    reading = parse_price_list(Path(path))
    if reading.price_list is None:
        raise InvalidBillingInput(reading.problems)
    return reading.price_list
