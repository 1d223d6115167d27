"""Subscriptions (``subscriptions.csv``): which plan a customer is on, from which day to which day.

Optional. A customer with rows is billed by them only (its ``customers.csv`` plan is then not
used); one without keeps its ``customers.csv`` plan for every period. A row covers the days
``starts_on`` … ``ends_on`` (both included, days of the billing time zone; ``ends_on`` empty =
open-ended) and carries the coupons of the price list that apply to it. Rows of one customer never
overlap: a plan change is one row ending the day before the next one starts.

Every problem names the file, the line and the customer, and the file is checked whole so that
one mistake does not hide the next.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from billing_pipeline.billing.coverage import DaySpan
from billing_pipeline.billing.csv_records import csv_records
from billing_pipeline.billing.models import InputProblem
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.problems import ProblemLog

SUBSCRIPTIONS_FILE = "subscriptions.csv"
COLUMNS = ("customer_id", "plan", "starts_on", "ends_on", "coupons")


@dataclass(frozen=True)
class SubscriptionRow:
    """One valid row: ``line`` is where it is in the file (header = line 1)."""

    line: int
    customer_id: str
    plan: str
    starts_on: date
    ends_on: date | None  # None: open-ended
    coupons: tuple[str, ...]

    def span_in(self, period: BillingPeriod) -> DaySpan | None:
        """The row's days inside ``period``, or None when it covers none of them."""
        first = max(self.starts_on, period.first_day)
        last = period.last_day if self.ends_on is None else min(self.ends_on, period.last_day)
        return DaySpan(first, last) if first <= last else None

    def periods_since_start(self, period: BillingPeriod) -> int:
        """0 for the period containing ``starts_on``, 1 for the next one… (coupon durations count so)."""
        return (period.year - self.starts_on.year) * 12 + period.month - self.starts_on.month


@dataclass(frozen=True)
class Segment:
    """One subscription row as billed in one period: its plan, its days, its coupons."""

    row: SubscriptionRow
    span: DaySpan

    @property
    def plan(self) -> str:
        return self.row.plan


@dataclass(frozen=True)
class SubscriptionBook:
    """Every valid row by customer (sorted by start), and every problem of the file.

    ``present`` is False when there is no ``subscriptions.csv`` at all (then every customer keeps
    its ``customers.csv`` plan)."""

    rows: dict[str, tuple[SubscriptionRow, ...]]
    problems: list[InputProblem]
    present: bool = True

    def segments(self, customer_id: str, period: BillingPeriod) -> tuple[Segment, ...] | None:
        """The customer's rows touching ``period`` as segments; None when it has no row at all."""
        rows = self.rows.get(customer_id)
        if rows is None:
            return None
        found = []
        for row in rows:
            span = row.span_in(period)
            if span is not None:
                found.append(Segment(row, span))
        return tuple(found)


def _date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("not a date: write it YYYY-MM-DD, e.g. 2026-10-16") from None


class _RowCheck:
    def __init__(self, file: str, line: int, cells: dict[str, str], log: ProblemLog) -> None:
        self.file, self.line, self.cells, self.log = file, line, cells, log
        self.ok = True
        self.customer = cells.get("customer_id", "")

    def problem(self, field: str, reason: str, value: str | None = None) -> None:
        self.ok = False
        who = f"customer {self.customer}: " if self.customer else ""
        self.log.add(self.file, who + reason, row=self.line, field=field, value=value or self.cells.get(field) or None)


def _row(
    check: _RowCheck,
    *,
    customers: Collection[str] | None,
    plans: Collection[str] | None,
    coupons: Collection[str] | None,
) -> SubscriptionRow | None:
    cells = check.cells
    customer_id = cells["customer_id"]
    if not customer_id:
        check.problem("customer_id", "required")
    elif customers is not None and customer_id not in customers:
        check.problem("customer_id", "not a customer of customers.csv")
    plan = cells["plan"]
    if not plan:
        check.problem("plan", "required")
    elif plans is not None and plan not in plans:
        check.problem("plan", f"no such plan in the price list ({', '.join(sorted(plans))})")
    starts_on = ends_on = None
    if not cells["starts_on"]:
        check.problem("starts_on", "required: the first day the plan is billed")
    else:
        try:
            starts_on = _date(cells["starts_on"])
        except ValueError as error:
            check.problem("starts_on", str(error))
    if cells["ends_on"]:
        try:
            ends_on = _date(cells["ends_on"])
        except ValueError as error:
            check.problem("ends_on", str(error))
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        check.problem("ends_on", f"the last day comes before the first ({starts_on.isoformat()})")
    names = tuple(name.strip() for name in cells["coupons"].split(";") if name.strip())
    for name in names:
        if coupons is not None and name not in coupons:
            known = ", ".join(sorted(coupons)) or "none declared"
            check.problem("coupons", f"no such coupon in the price list ({known})", value=name)
    if len(set(names)) != len(names):
        check.problem("coupons", "a coupon is listed twice")
    if not check.ok or starts_on is None:
        return None
    return SubscriptionRow(check.line, customer_id, plan, starts_on, ends_on, names)


def _overlaps(rows: list[SubscriptionRow], file: str, log: ProblemLog) -> None:
    """Rows of one customer must not share a day: the later one is reported, naming the other."""
    ordered = sorted(rows, key=lambda row: (row.starts_on, row.line))
    reach: SubscriptionRow | None = None  # the row reaching furthest so far
    for row in ordered:
        if reach is not None and (reach.ends_on is None or row.starts_on <= reach.ends_on):
            until = "open-ended" if reach.ends_on is None else f"until {reach.ends_on.isoformat()}"
            log.add(
                file,
                f"customer {row.customer_id}: overlaps line {reach.line} ({reach.plan} from "
                f"{reach.starts_on.isoformat()}, {until}); a plan change ends one row the day before "
                "the next starts",
                row=row.line,
                field="starts_on",
                value=row.starts_on.isoformat(),
            )
        if reach is None or (reach.ends_on is not None and (row.ends_on is None or row.ends_on > reach.ends_on)):
            reach = row


def parse_subscriptions(
    path: Path,
    *,
    customers: Collection[str] | None = None,
    plans: Collection[str] | None = None,
    coupons: Collection[str] | None = None,
    file_label: str | None = None,
) -> SubscriptionBook:
    """Every valid row by customer and every problem. A missing file is no problem: no subscriptions.

    ``customers``/``plans``/``coupons``: the names other files declare (None: not checked).
    """
    label = file_label or path.name
    if not path.exists():
        return SubscriptionBook({}, [], present=False)
    log = ProblemLog()
    records = csv_records(path, label, log, COLUMNS)
    if records is None:
        return SubscriptionBook({}, log.problems)
    valid: list[SubscriptionRow] = []
    for line, cells in records:
        row = _row(_RowCheck(label, line, cells, log), customers=customers, plans=plans, coupons=coupons)
        if row is not None:
            valid.append(row)
    by_customer: dict[str, list[SubscriptionRow]] = {}
    for row in valid:
        by_customer.setdefault(row.customer_id, []).append(row)
    for rows in by_customer.values():
        _overlaps(rows, label, log)
    ordered = {customer: tuple(sorted(rows, key=lambda row: row.starts_on)) for customer, rows in by_customer.items()}
    return SubscriptionBook(ordered, log.problems)
