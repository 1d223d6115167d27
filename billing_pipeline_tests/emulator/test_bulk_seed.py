"""The benchmark helper that copies one finalized invoice many times straight into the emulator's state."""

from __future__ import annotations

import httpx

from billing_pipeline.emulator.bulk_seed import clone_finalized_invoices
from billing_pipeline.emulator.testing import RunningEmulator

from .helpers import create_invoice, finalize


def test_copies_are_listed_and_read_like_invoices_created_through_the_api(
    api: httpx.Client, emulator: RunningEmulator
) -> None:
    template = finalize(api, create_invoice(api, header="Billing reference: BP-2026-01-c0000 — usage")["id"])
    headers = [f"Billing reference: BP-2026-01-c{n:04d} — usage" for n in range(1, 251)]
    copies = clone_finalized_invoices(
        emulator.config.state_path, template["id"], headers, first_number=10_000, year=2026
    )

    listed = []
    page: int | None = 1
    while page is not None:
        body = api.get("/v2/client_invoices", params={"page": page, "sort_by": "created_at:asc"}).json()
        listed += body["client_invoices"]
        page = body["meta"]["next_page"]
    ours = [invoice for invoice in listed if invoice["id"] in {template["id"], *(c.invoice_id for c in copies)}]
    assert [invoice["header"] for invoice in ours] == [template["header"], *headers]
    assert len({invoice["number"] for invoice in ours}) == 251
    one = api.get(f"/v2/client_invoices/{copies[-1].invoice_id}").json()["client_invoice"]
    assert (one["number"], one["status"], one["attachment_id"]) == (
        copies[-1].number,
        "unpaid",
        copies[-1].attachment_id,
    )
    assert api.get(f"/v2/attachments/{copies[-1].attachment_id}").status_code == 200
    # numbering continues after the copies
    later = finalize(api, create_invoice(api)["id"])
    assert later["number"] == f"F-2026-{10_000 + 250:05d}"
