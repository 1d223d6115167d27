"""Lenient reading of business terms, shared by the CII and UBL readers.

A term that is absent becomes ``None``; a term whose value cannot be read (``20261345`` as a date,
``12,50`` as an amount) becomes ``None`` and a ``BP-FX-07`` finding, so a broken file still gets a
complete report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from billing_pipeline.facturx.findings import Findings

TRUE_INDICATORS = frozenset({"true", "1"})
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?$")


class XPaths:
    """XPath expressions compiled once per path: ``element.xpath(path)`` re-compiles on every call."""

    def __init__(self, namespaces: Mapping[str, str]) -> None:
        self._namespaces = dict(namespaces)
        self._compiled: dict[str, etree.XPath] = {}

    def __call__(self, context: etree._Element, path: str) -> list:
        compiled = self._compiled.get(path)
        if compiled is None:  # a race only compiles the same expression twice
            compiled = etree.XPath(path, namespaces=self._namespaces)
            self._compiled[path] = compiled
        return compiled(context)


class TermReader:
    def __init__(self, findings: Findings, xpaths: XPaths) -> None:
        self.findings = findings
        self.xpath = xpaths

    def text(self, context: etree._Element, path: str) -> str | None:
        found = self.xpath(context, path)
        if not found:
            return None
        first = found[0]
        value = first if isinstance(first, str) else first.text
        if value is None:
            return None
        value = value.strip()
        return value or None

    def amount(self, context: etree._Element, path: str, term: str) -> Decimal | None:
        return self.decimal(self.text(context, path), term)

    def decimal(self, value: str | None, term: str) -> Decimal | None:
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.findings.add("BP-FX-07", f"{term} {value!r} is not a decimal number")
            return None
        return number

    def indicator(self, context: etree._Element, path: str) -> bool:
        return self.text(context, path) in TRUE_INDICATORS

    def cii_date(self, context: etree._Element, path: str, term: str) -> date | None:
        """A CII ``udt:DateTimeString``: format 102 (YYYYMMDD) is the only one EN 16931 uses."""
        holder = self.xpath(context, path)
        if not holder:
            return None
        element = holder[0]
        value = (element.text or "").strip()
        if not value:
            return None
        date_format = element.get("format", "102")
        if date_format != "102":
            self.findings.add("BP-FX-07", f"{term} uses date format {date_format!r}; EN 16931 uses 102 (YYYYMMDD)")
            return None
        try:
            return datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            self.findings.add("BP-FX-07", f"{term} {value!r} is not a valid YYYYMMDD date")
            return None

    def iso_date(self, context: etree._Element, path: str, term: str) -> date | None:
        """A UBL ``xsd:date``: YYYY-MM-DD, optionally with a time zone."""
        value = self.text(context, path)
        if value is None:
            return None
        match = _ISO_DATE.match(value)
        try:
            if match is None:
                raise ValueError(value)
            return date.fromisoformat(match.group(1))
        except ValueError:
            self.findings.add("BP-FX-07", f"{term} {value!r} is not a valid YYYY-MM-DD date")
            return None
