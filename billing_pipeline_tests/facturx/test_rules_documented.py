"""Every one of our rule ids is documented for users."""

from __future__ import annotations

from pathlib import Path

from billing_pipeline.facturx import RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "facturx.md"


def test_every_bp_rule_is_in_docs() -> None:
    text = DOC.read_text(encoding="utf-8")

    missing = [rule for rule in RULES if f"`{rule}`" not in text]
    assert missing == []
