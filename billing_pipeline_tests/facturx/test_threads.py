"""Verification is safe from several threads (one Saxon processor, one lock)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from billing_pipeline.emulator.documents import render_facturx_pdf
from billing_pipeline.facturx import verify_pdf
from billing_pipeline_tests.facturx import samples, tampering


def test_eight_files_from_four_threads_match_sequential_results(valid_pdf: bytes, draft_pdf: bytes) -> None:
    files = [
        valid_pdf,
        draft_pdf,
        render_facturx_pdf(samples.individual_invoice(), samples.ORGANIZATION),
        render_facturx_pdf(samples.franchise_invoice(), samples.ORGANIZATION),
        tampering.drop_af_relationship(valid_pdf),
        tampering.add_second_xml(valid_pdf),
        tampering.replace_xml(
            valid_pdf, lambda root: tampering.set_text(root, f"{tampering.SUM}/ram:GrandTotalAmount", "0.01")
        ),
        tampering.replace_xmp(valid_pdf, "<fx:ConformanceLevel>EN 16931<", "<fx:ConformanceLevel>BASIC<"),
    ]
    sequential = [verify_pdf(pdf) for pdf in files]

    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(verify_pdf, files * 2))

    assert [report.valid for report in sequential] == [True, False, True, True, False, False, False, False]
    assert threaded == sequential * 2
