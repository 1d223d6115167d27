"""``billing-pipeline verify`` on every kind of input: PDFs and XML told apart by their bytes, exit 2
only for what is not a PDF or XML at all (or corrupt), hostile XML refused, ``--rules``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_pipeline.cli import main
from billing_pipeline.facturx import verify_document, verify_xml
from billing_pipeline_tests.facturx import received, tampering


def _run(*args: str | Path) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["verify", *map(str, args), "--format", "json"])
    return result.exit_code, json.loads(result.output)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_factur_x_cii_and_ubl_files_side_by_side(
    tmp_path: Path, german_pdf: bytes, german_xml: bytes, german_ubl: bytes
) -> None:
    code, reports = _run(
        _write(tmp_path, "de.pdf", german_pdf),
        _write(tmp_path, "de-cii.xml", german_xml),
        _write(tmp_path, "de-ubl.xml", german_ubl),
    )

    assert code == 0
    assert [(report["syntax"], report["valid"]) for report in reports] == [("CII", True), ("CII", True), ("UBL", True)]
    assert [report["checks"]["pdf"] for report in reports] == [True, None, None]
    assert [report["checks"]["profile"] for report in reports] == [True, True, None]
    assert {report["checks"]["france"] for report in reports} == {None}
    assert list(reports[2]) == [
        "file",
        "valid",
        "syntax",
        "profile",
        "invoice_number",
        "errors",
        "warnings",
        "totals",
        "checks",
    ]
    assert reports[2]["totals"] == received.TOTALS


def test_rules_france_makes_a_german_invoice_invalid(tmp_path: Path, german_pdf: bytes) -> None:
    path = _write(tmp_path, "de.pdf", german_pdf)

    code, reports = _run(path, "--rules", "france")
    text = CliRunner().invoke(main, ["verify", str(path), "--rules", "france"]).output

    assert code == 1
    assert reports[0]["checks"]["france"] is False and reports[0]["checks"]["en16931"] is True
    assert "  checks  pdf pass, xml_schema pass, en16931 pass, profile pass, france FAIL, arithmetic pass" in text
    assert "  error   [france] BR-FR-05_BT-22_PMT: " in text


def test_rules_option_refuses_an_unknown_value(tmp_path: Path, german_pdf: bytes) -> None:
    result = CliRunner().invoke(main, ["verify", str(_write(tmp_path, "de.pdf", german_pdf)), "--rules", "germany"])

    assert result.exit_code == 2
    assert "'auto', 'en16931', 'france'" in result.output


def test_files_are_told_apart_by_content_not_name(tmp_path: Path, german_pdf: bytes, german_xml: bytes) -> None:
    code, reports = _run(
        _write(tmp_path, "invoice.xml", german_pdf),
        _write(tmp_path, "invoice.pdf", german_xml),
        _write(tmp_path, "invoice", b"\xef\xbb\xbf" + german_xml),
    )

    assert code == 0, reports
    assert [report["checks"]["pdf"] for report in reports] == [True, None, None]


@pytest.mark.parametrize(
    ("name", "data", "rule", "message"),
    [
        ("junk.pdf", b"hello, not a PDF", "BP-PDF-01", "not a readable PDF"),
        ("junk.xml", b"hello, not XML", "BP-XML-01", "not well-formed XML"),
        (
            "truncated.pdf",
            None,
            "BP-PDF-01",
            "the PDF is damaged and no invoice XML can be read from it: file is damaged",
        ),
        ("truncated.xml", None, "BP-XML-01", "not well-formed XML"),
    ],
)
def test_corrupt_files_are_unreadable_exit_2(
    tmp_path: Path, german_pdf: bytes, german_xml: bytes, name: str, data: bytes | None, rule: str, message: str
) -> None:
    if data is None:
        whole = german_pdf if name.endswith(".pdf") else german_xml
        data = whole[: len(whole) // 3]
    code, reports = _run(_write(tmp_path, "fine.xml", german_xml), _write(tmp_path, name, data))

    assert code == 2
    assert reports[0]["valid"] is True
    assert reports[1]["valid"] is False
    assert [error["rule"] for error in reports[1]["errors"]] == [rule]
    assert message in reports[1]["errors"][0]["message"]
    layer = "pdf" if rule == "BP-PDF-01" else "xml_schema"
    assert reports[1]["checks"] == {key: (False if key == layer else None) for key in reports[1]["checks"]}


def test_a_missing_xml_file_is_unreadable(tmp_path: Path) -> None:
    code, reports = _run(tmp_path / "nope.xml")

    assert code == 2
    assert reports[0]["errors"][0]["rule"] == "BP-PDF-01"
    assert "cannot read the file: No such file or directory" in reports[0]["errors"][0]["message"]
    assert reports[0]["checks"]["xml_schema"] is False


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (received.zugferd_1_xml(), "BP-FX-09"),
        (b'<?xml version="1.0"?><Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>', "BP-XML-03"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "BP-XML-02"),
    ],
    ids=["zugferd-1", "an-order", "entities"],
)
def test_readable_xml_that_is_no_invoice_we_judge_is_invalid_not_unreadable(
    tmp_path: Path, data: bytes, rule: str
) -> None:
    code, reports = _run(_write(tmp_path, "in.xml", data))

    assert code == 1
    assert [error["rule"] for error in reports[0]["errors"]] == [rule]
    assert "root:" not in reports[0]["errors"][0]["message"]  # /etc/passwd was never read


def test_a_zugferd_1_pdf_exits_1(tmp_path: Path) -> None:
    code, reports = _run(_write(tmp_path, "zugferd-1.pdf", received.zugferd_1_pdf()))

    assert code == 1
    assert [error["rule"] for error in reports[0]["errors"]] == ["BP-FX-09"]


def test_a_huge_xml_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    with path.open("wb") as handle:
        handle.write(b"<?xml version='1.0'?><x>")
        handle.truncate(21_000_000)  # sparse: nothing but the first bytes is ever read

    code, reports = _run(path)

    assert code == 1
    assert reports[0]["errors"] == [{"rule": "BP-XML-02", "message": "the file holds more than 20 MB"}]


def test_huge_xml_bytes_are_refused_before_parsing() -> None:
    report = verify_xml(b"<x>" + b" " * 20_000_001 + b"</x>")

    assert [finding.rule for finding in report.errors] == ["BP-XML-02"]


def test_verify_document_reads_a_pdf_named_xml(german_pdf: bytes) -> None:
    assert verify_document(german_pdf, file_name="invoice.xml").checks.pdf is True
    assert verify_document(b"", file_name="empty.xml").errors[0].rule == "BP-XML-01"
    assert verify_document(b"", file_name="empty.pdf").errors[0].rule == "BP-PDF-01"


def test_an_embedded_xml_with_a_doctype_stays_refused(german_pdf: bytes) -> None:
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    report = verify_document(tampering.replace_embedded(german_pdf, hostile))

    assert "BP-FX-04" in {finding.rule for finding in report.errors}
    assert not report.unreadable


def test_a_damaged_but_readable_pdf_is_judged_with_a_warning(german_pdf: bytes) -> None:
    head, _, tail = german_pdf.rpartition(b"startxref")
    damaged = head + b"startxref\n17" + tail[tail.index(b"%%EOF") - 1 :]  # the xref offset points nowhere

    report = verify_document(damaged)

    assert report.valid, report.errors
    assert {finding.rule for finding in report.warnings} == {"BP-PDF-04", "BP-PDFA-05"}
    assert any(
        finding.message.startswith(
            "the PDF had to be repaired to be read: file is damaged; (offset 17): xref not found"
        )
        for finding in report.warnings
    )
