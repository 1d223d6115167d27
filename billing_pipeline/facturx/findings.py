"""Collects findings of every check, sorted into errors and warnings, and the verdict of each layer."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing_pipeline.facturx.models import Checks, Finding
from billing_pipeline.facturx.rules import RULES, Layer, Severity


@dataclass
class Findings:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    # layers that were judged (their checks ran to the end, or an error was attributed to them)
    judged: set[Layer] = field(default_factory=set)
    failed: set[Layer] = field(default_factory=set)

    def add(self, rule: str, message: str, layer: Layer | None = None) -> None:
        """Record one of our ``BP-…`` rules with its registered severity (and layer, unless given)."""
        registered = RULES[rule]
        self.add_with_severity(rule, message, registered.severity, layer or registered.layer)

    def add_with_severity(self, rule: str, message: str, severity: Severity, layer: Layer | None = None) -> None:
        target = self.errors if severity is Severity.ERROR else self.warnings
        if layer is not None and severity is Severity.ERROR:
            self.judged.add(layer)
            self.failed.add(layer)
        if any(finding.rule == rule and finding.message == message for finding in target):
            return
        target.append(Finding(rule=rule, message=message, layer=layer))

    def judge(self, *layers: Layer) -> None:
        """These layers' checks ran: a layer with no error is then true."""
        self.judged.update(layers)

    def checks(self) -> Checks:
        """Each layer: False when it has an error, True when judged without one, None when not judged."""
        verdicts: dict[str, bool | None] = {}
        for layer in Layer:
            verdicts[layer.value] = (layer not in self.failed) if layer in self.judged else None
        return Checks(**verdicts)
