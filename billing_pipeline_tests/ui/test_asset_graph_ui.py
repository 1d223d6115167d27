"""Browser smoke test: the Dagster UI shows every billing asset with its lineage, and the
invoice table of a billed period. Writes docs/asset-graph.png (shown in the README).

Run: `make test-ui` (`pytest -q billing_pipeline_tests/ui`). Needs Debian's chromium and the
playwright package (scripts/install_system_deps.sh, `pip install playwright`); about a minute.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing_pipeline.billing.planning import plan_period
from billing_pipeline.invoicing.invoices.references import InvoiceReference
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, PAYMENT_ASSETS, qonto_preflight
from billing_pipeline_tests.ui.asset_graph import read_drawn_graph
from billing_pipeline_tests.ui.conftest import LOCATION, PERIOD, REPO, BilledUi

pytestmark = pytest.mark.slow

SCREENSHOT = REPO / "docs" / "asset-graph.png"
ALL_ASSETS = [qonto_preflight, *BILLING_ASSETS, *PAYMENT_ASSETS]
ASSET_NAMES = {asset.key.to_user_string() for asset in ALL_ASSETS}
# the monthly assets show their partition status once loaded (payments and receivables have none)
PARTITIONED = sorted(asset.key.to_user_string() for asset in (qonto_preflight, *BILLING_ASSETS))
NODES_SHOW_PARTITION_STATUS = """(partitioned) => {
  const nodes = [...document.querySelectorAll('svg foreignObject')].filter(
    n => partitioned.includes(n.querySelector('[data-tooltip]')?.getAttribute('data-tooltip')));
  return nodes.length >= partitioned.length
    && nodes.every(n => n.textContent.includes('filled') && !n.textContent.includes('Loading'));
}"""


def _lineage_in_code() -> set[tuple[str, str]]:
    return {
        (upstream.to_user_string(), asset.key.to_user_string())
        for asset in ALL_ASSETS
        for upstream in asset.asset_deps[asset.key]
    }


def test_the_asset_graph_shows_every_asset_and_its_lineage(billed_ui: BilledUi) -> None:
    page = billed_ui.page
    page.goto(f"{billed_ui.dagster.url}/locations/{LOCATION}/asset-groups/billing")
    for name in sorted(ASSET_NAMES):
        page.locator(f"svg foreignObject [data-tooltip='{name}']").first.wait_for(state="visible")
    page.wait_for_function("document.querySelectorAll('svg path[marker-end]').length >= 4")
    # each node's partition status loads after the node itself: wait for it (it is in the screenshot)
    page.wait_for_function(NODES_SHOW_PARTITION_STATUS, arg=PARTITIONED)

    drawn = read_drawn_graph(page)

    assert {node.name for node in drawn.nodes} == ASSET_NAMES
    expected = _lineage_in_code()
    assert {
        ("billable_usage", "draft_invoices"),
        ("draft_invoices", "finalized_invoices"),
        ("finalized_invoices", "facturx_files"),
    } <= expected, "the billing chain as designed"
    assert drawn.edges == expected
    assert drawn.unmatched_edges == []
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_billed_partition_shows_the_invoice_table(billed_ui: BilledUi) -> None:
    page = billed_ui.page
    page.goto(f"{billed_ui.dagster.url}/assets/draft_invoices?view=partitions&partition={PERIOD}")
    metadata_row = page.locator("tr").filter(has=page.get_by_text("invoice_table", exact=True)).last
    # table metadata (TableMetadataValue with a schema) is drawn inline, at most 50 rows
    invoice_table = metadata_row.locator("table").first
    invoice_table.wait_for(state="visible")

    headers = [text.strip() for text in invoice_table.locator("th").all_inner_texts()]
    assert headers == ["customer", "reference", "invoice_id", "status", "action", "plan_total", "qonto_total", "note"]
    rows = [[cell.strip() for cell in row.split("\t")] for row in invoice_table.locator("tbody tr").all_inner_texts()]
    planned = {
        invoice.customer.customer_id: invoice.total for invoice in plan_period(PERIOD, billed_ui.data_dir).invoices
    }
    assert {row[0] for row in rows} <= set(planned) and len(rows) == min(50, len(planned))
    for customer, reference, invoice_id, status, _action, plan_total, qonto_total, *_note in rows:
        assert reference == str(InvoiceReference.of(customer, PERIOD))
        assert invoice_id and status == "draft"
        # amounts carry their currency: "410.90 EUR"
        assert plan_total.endswith(" EUR") and qonto_total.endswith(" EUR")
        assert (
            Decimal(plan_total.removesuffix(" EUR")) == Decimal(qonto_total.removesuffix(" EUR")) == planned[customer]
        )
