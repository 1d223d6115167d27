"""Snapshot of the lineage users inspect in the UI: keys, deps, groups, partitions, checks, jobs.

An intended change is recorded with ``UPDATE_SNAPSHOTS=1 pytest billing_pipeline_tests/pipeline/test_asset_graph.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from billing_pipeline_tests.defs_for_tests import DEFS

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def _graph() -> dict[str, Any]:
    repository = DEFS.get_repository_def()
    asset_graph = repository.asset_graph
    assets: dict[str, Any] = {}
    for key in sorted(asset_graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = asset_graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "pool": repository.assets_defs_by_key[key].op.pool,
            "partitions": None
            if partitions is None
            else {
                "type": type(partitions).__name__,
                "fmt": partitions.fmt,
                "timezone": partitions.timezone,
                "start": partitions.start.strftime("%Y-%m"),
                "cron": partitions.cron_schedule,
            },
            "checks": sorted(c.name for c in asset_graph.asset_check_keys if c.asset_key == key),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repository.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repository.schedule_defs),
        "sensors": sorted(s.name for s in repository.sensor_defs),
    }


def test_asset_graph_matches_snapshot() -> None:
    graph = _graph()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(graph, indent=2, sort_keys=True) + "\n")
    assert graph == json.loads(SNAPSHOT.read_text())


def test_lineage_is_the_billing_steps_in_order() -> None:
    assets = _graph()["assets"]
    assert list(assets) == sorted(
        ["billable_usage", "qonto_preflight", "qonto_clients", "draft_invoices", "finalized_invoices", "facturx_files",
         "invoice_corrections", "delivered_invoices", "payments", "receivables"]
    )  # fmt: skip
    # the preflight's blocking check stands before the first write to Qonto
    assert assets["qonto_preflight"]["deps"] == []
    assert assets["qonto_preflight"]["checks"] == ["qonto_ready"]
    assert assets["qonto_clients"]["deps"] == ["billable_usage", "qonto_preflight"]
    assert assets["draft_invoices"]["deps"] == ["billable_usage", "qonto_clients"]
    assert assets["finalized_invoices"]["deps"] == ["draft_invoices"]
    assert assets["invoice_corrections"]["deps"] == ["billable_usage", "finalized_invoices"]
    # credit notes' files are collected with the period's invoices
    assert assets["facturx_files"]["deps"] == ["finalized_invoices", "invoice_corrections"]
    assert assets["delivered_invoices"]["deps"] == ["facturx_files"]
    # payments settle the invoices (and the corrections' documents): the graph reads invoices → payments →
    # receivables; they pay invoices of any period: fed by the transactions sensor, not monthly
    assert assets["payments"]["deps"] == ["finalized_invoices", "invoice_corrections"]
    assert assets["receivables"]["deps"] == ["payments"]
    assert assets["payments"]["partitions"] is None and assets["receivables"]["partitions"] is None
    assert {a["group"] for a in assets.values()} == {"billing"}
    monthly = {k: a for k, a in assets.items() if k not in ("payments", "receivables")}
    assert all(a["partitions"]["fmt"] == "%Y-%m" for a in monthly.values())


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(DEFS)
