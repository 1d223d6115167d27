"""Collects findings of every check, sorted into errors and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing_pipeline.facturx.models import Finding
from billing_pipeline.facturx.rules import RULES, Severity


@dataclass
class Findings:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def add(self, rule: str, message: str) -> None:
        """Record one of our ``BP-…`` rules with its registered severity."""
        severity = RULES[rule].severity
        self.add_with_severity(rule, message, severity)

    def add_with_severity(self, rule: str, message: str, severity: Severity) -> None:
        target = self.errors if severity is Severity.ERROR else self.warnings
        finding = Finding(rule=rule, message=message)
        if finding not in target:
            target.append(finding)

    def extend(self, other: Findings) -> None:
        for finding in other.errors:
            self.add_with_severity(finding.rule, finding.message, Severity.ERROR)
        for finding in other.warnings:
            self.add_with_severity(finding.rule, finding.message, Severity.WARNING)
