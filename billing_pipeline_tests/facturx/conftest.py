from __future__ import annotations

import pytest

from billing_pipeline.emulator.documents import render_draft_pdf, render_facturx_pdf
from billing_pipeline_tests.facturx import samples


@pytest.fixture(scope="session")
def valid_pdf() -> bytes:
    return render_facturx_pdf(samples.company_invoice(), samples.ORGANIZATION)


@pytest.fixture(scope="session")
def draft_pdf() -> bytes:
    return render_draft_pdf(samples.draft_invoice(), samples.ORGANIZATION)
