"""``billing-pipeline verify``: exit status 0/1/2, text and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_pipeline.cli import main
from billing_pipeline_tests.facturx import tampering


@pytest.fixture()
def files(tmp_path: Path, valid_pdf: bytes, draft_pdf: bytes) -> dict[str, Path]:
    paths = {
        "valid": tmp_path / "F-2026-00001.pdf",
        "draft": tmp_path / "draft.pdf",
        "bad_total": tmp_path / "bad-total.pdf",
        "junk": tmp_path / "junk.pdf",
    }
    paths["valid"].write_bytes(valid_pdf)
    paths["draft"].write_bytes(draft_pdf)
    paths["bad_total"].write_bytes(
        tampering.replace_xml(
            valid_pdf, lambda root: tampering.set_text(root, f"{tampering.SUM}/ram:GrandTotalAmount", "1.00")
        )
    )
    paths["junk"].write_bytes(b"hello, not a PDF")
    return paths


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["verify", *args])
    return result.exit_code, result.output


def test_all_valid_exits_0_with_json_shape(files: dict[str, Path]) -> None:
    code, output = _run(str(files["valid"]), "--format", "json")

    assert code == 0
    assert json.loads(output) == [
        {
            "file": str(files["valid"]),
            "valid": True,
            "syntax": "CII",
            "profile": "EN 16931",
            "invoice_number": "F-2026-00001",
            "errors": [],
            "warnings": [],
            "totals": {"net": "972.83", "vat": "101.67", "total": "1074.50", "due": "1074.50"},
            "checks": {
                "pdf": True,
                "xml_schema": True,
                "en16931": True,
                "profile": True,
                "france": True,
                "arithmetic": True,
            },
        }
    ]


def test_any_invalid_exits_1(files: dict[str, Path]) -> None:
    code, output = _run(str(files["valid"]), str(files["draft"]), str(files["bad_total"]), "--format", "json")

    assert code == 1
    reports = json.loads(output)
    assert [report["valid"] for report in reports] == [True, False, False]
    assert reports[1]["errors"][0]["rule"] == "BP-FX-01"
    assert "BR-CO-15" in {error["rule"] for error in reports[2]["errors"]}
    assert set(reports[2]["errors"][0]) == {"rule", "message"}


def test_text_output_lists_findings(files: dict[str, Path]) -> None:
    code, output = _run(str(files["valid"]), str(files["bad_total"]))

    assert code == 1
    assert f"{files['valid']}: VALID (CII, EN 16931, invoice F-2026-00001, total 1074.50 EUR)" in output
    assert "  checks  pdf pass, xml_schema pass, en16931 pass, profile pass, france pass, arithmetic pass" in output
    assert f"{files['bad_total']}: INVALID" in output
    assert "  checks  pdf pass, xml_schema pass, en16931 FAIL, profile pass, france pass, arithmetic FAIL" in output
    assert "  error   [en16931] BR-CO-15: [BR-CO-15]-Invoice total amount with VAT (BT-112)" in output
    assert "  error   [arithmetic] BP-MONEY-08: BT-112 is 1.00 but BT-109 + BT-110 = 1074.50" in output
    assert output.rstrip().endswith("2 file(s): 1 valid, 1 invalid")


@pytest.mark.parametrize("which", ["junk", "missing"])
def test_unreadable_input_exits_2(files: dict[str, Path], which: str) -> None:
    target = files["junk"] if which == "junk" else files["valid"].with_name("nope.pdf")
    code, output = _run(str(files["valid"]), str(target), "--format", "json")

    assert code == 2
    report = json.loads(output)[1]
    assert report["valid"] is False
    assert report["errors"][0]["rule"] == "BP-PDF-01"
    expected = "not a readable PDF" if which == "junk" else "cannot read the file: No such file or directory"
    assert expected in report["errors"][0]["message"]
