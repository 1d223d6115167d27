"""Factur-X files are stored atomically, under our names, never overwritten with other bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from billing_pipeline.invoicing.documents.storage import (
    StoredFileConflict,
    UnsafeFileName,
    safe_file_name,
    store_atomically,
)
from billing_pipeline.invoicing.invoices.references import InvoiceReference


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("F-2026-00001", "F-2026-00001.pdf"),
        ("../../etc/passwd", "etc_passwd.pdf"),
        ("/abs/path", "abs_path.pdf"),
        ("2026/10 #7", "2026_10_7.pdf"),
    ],
)
def test_file_names_come_from_the_number_and_cannot_escape(number: str, expected: str) -> None:
    assert safe_file_name(number) == expected


def test_a_number_without_usable_characters_is_refused() -> None:
    with pytest.raises(UnsafeFileName):
        safe_file_name("../..")


def test_store_writes_once_and_records_sha256(tmp_path: Path) -> None:
    path, digest = store_atomically(tmp_path / "2026-10", "F-1.pdf", b"%PDF-1.7 one")
    assert path.read_bytes() == b"%PDF-1.7 one"
    assert digest == hashlib.sha256(b"%PDF-1.7 one").hexdigest()
    assert (tmp_path / "2026-10" / "F-1.pdf.sha256").read_text().startswith(digest)
    # same bytes again: fine, nothing rewritten
    assert store_atomically(tmp_path / "2026-10", "F-1.pdf", b"%PDF-1.7 one") == (path, digest)
    with pytest.raises(StoredFileConflict):
        store_atomically(tmp_path / "2026-10", "F-1.pdf", b"%PDF-1.7 two")
    assert path.read_bytes() == b"%PDF-1.7 one"
    assert not list((tmp_path / "2026-10").glob(".incoming-*"))


@pytest.mark.parametrize("name", ["../evil.pdf", "/tmp/evil.pdf", "..", "sub/evil.pdf"])
def test_store_refuses_names_that_are_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeFileName):
        store_atomically(tmp_path / "2026-10", name, b"x")
    assert not (tmp_path / "evil.pdf").exists()


def test_reference_round_trips_through_the_header() -> None:
    reference = InvoiceReference.of("cust-42", "2026-10")
    header = reference.header()
    assert str(reference) == "BP-2026-10-cust-42"
    assert header.startswith("Billing reference: BP-2026-10-cust-42 — usage for October 2026")
    assert InvoiceReference.from_header(header) == reference
    assert InvoiceReference.from_header("Thanks for your business") is None
    assert InvoiceReference.from_header(None) is None
