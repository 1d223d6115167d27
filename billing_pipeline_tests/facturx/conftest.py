from __future__ import annotations

import pytest

from billing_pipeline.emulator.documents import render_draft_pdf, render_facturx_pdf
from billing_pipeline_tests.facturx import received, samples


@pytest.fixture(scope="session")
def valid_pdf() -> bytes:
    return render_facturx_pdf(samples.company_invoice(), samples.ORGANIZATION)


@pytest.fixture(scope="session")
def draft_pdf() -> bytes:
    return render_draft_pdf(samples.draft_invoice(), samples.ORGANIZATION)


@pytest.fixture(scope="session")
def german_xml() -> bytes:
    """A German seller's EN 16931 CII to a German buyer, built by drafthorse."""
    return received.german_invoice_xml()


@pytest.fixture(scope="session")
def german_pdf(german_xml: bytes) -> bytes:
    return received.german_facturx_pdf(german_xml)


@pytest.fixture(scope="session")
def german_ubl(german_xml: bytes) -> bytes:
    return received.ubl_from_cii(german_xml)
