"""Every one of our rule ids is documented for users, with its severity and layer."""

from __future__ import annotations

import re
from pathlib import Path

from billing_pipeline.facturx import RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "facturx.md"
_ROW = re.compile(r"^\| `(BP-[A-Z0-9-]+)` \| (error|warning) \| ([^|]+) \|", re.MULTILINE)


def test_every_bp_rule_is_in_docs() -> None:
    text = DOC.read_text(encoding="utf-8")

    missing = [rule for rule in RULES if f"`{rule}`" not in text]
    assert missing == []


def test_the_docs_table_gives_each_rules_severity_and_layer() -> None:
    rows = {rule: (severity, layer.strip()) for rule, severity, layer in _ROW.findall(DOC.read_text(encoding="utf-8"))}

    assert set(rows) == set(RULES)
    for rule in RULES.values():
        severity, layer = rows[rule.id]
        assert severity == rule.severity.value, rule.id
        if rule.layer is not None:
            assert layer == rule.layer.value, rule.id
        else:
            assert not re.fullmatch(r"[a-z0-9_]+", layer), rule.id
