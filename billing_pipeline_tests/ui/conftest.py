"""`dagster dev` on the embedded emulator with one billed period, and headless Chromium looking at it.

Outside the default run (marked slow); `make test-ui` runs it. Skipped, with the reason, when the
Playwright package or Debian's chromium is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from billing_pipeline_tests.ui.asset_graph import CHROMIUM_ARGS
from billing_pipeline_tests.ui.dagster_dev import DagsterDev

REPO = Path(__file__).resolve().parents[2]
LOCATION = "billing_pipeline"
PERIOD = "2026-10"
INVOICING_ASSETS = ["billable_usage", "qonto_clients", "draft_invoices", "finalized_invoices"]
# inherited variables that would point the pipeline at a real Qonto or a real ledger
_NOT_INHERITED = ("QONTO_", "BILLING_", "DAGSTER_")


@dataclass
class BilledUi:
    dagster: DagsterDev
    page: Any  # playwright.sync_api.Page
    data_dir: Path


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("Chromium not found (Debian package `chromium`): run scripts/install_system_deps.sh")


def _dagster_home(target: Path) -> Path:
    target.mkdir()
    config = yaml.safe_load((REPO / "deploy" / "dagster.dev.yaml").read_text())
    config["nux"] = {"enabled": False}  # the first-visit newsletter dialog would cover the graph
    (target / "dagster.yaml").write_text(yaml.safe_dump(config))
    return target


def _environment(tmp: Path, data_dir: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    return {
        **inherited,  # no credentials: the embedded emulator, never a real Qonto
        "DAGSTER_HOME": str(_dagster_home(tmp / "dagster_home")),
        "BILLING_DATA_DIR": str(data_dir),
        "BILLING_STATE_DIR": str(tmp / "state"),
        "BILLING_INVOICES_DIR": str(tmp / "invoices"),
        "QONTO_EMULATOR_RENDER_DELAY": "1",
    }


@pytest.fixture(scope="module")
def billed_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BilledUi]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install playwright (no browser download)"
    )
    chromium = _chromium()
    tmp = tmp_path_factory.mktemp("ui")
    data_dir = Path(shutil.copytree(REPO / "data", tmp / "data", ignore=shutil.ignore_patterns("invoices")))
    # cwd outside the project: `dagster dev` would load a developer's .env from there
    with DagsterDev(REPO / "workspace.yaml", _environment(tmp, data_dir), cwd=tmp, log_file=tmp / "dagster.log") as dev:
        dev.wait_until_loaded(LOCATION)
        run_id = dev.launch_assets(LOCATION, INVOICING_ASSETS, PERIOD)
        status = dev.wait_for_run(run_id)
        assert status == "SUCCESS", f"run {run_id} ended {status}\n{dev.log_tail()}"

        browser_home = tmp / "browser_home"  # Chromium's profile and caches stay in the temp dir
        browser_home.mkdir()
        browser_env = {**os.environ, "HOME": str(browser_home), "XDG_CONFIG_HOME": str(browser_home / "config"),
                       "XDG_CACHE_HOME": str(browser_home / "cache")}  # fmt: skip
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, env=browser_env)
            try:
                page = browser.new_page(viewport={"width": 1920, "height": 1080})  # nine nodes drawn in full
                page.set_default_timeout(60_000)
                yield BilledUi(dagster=dev, page=page, data_dir=data_dir)
            finally:
                browser.close()
    # leaving the `with` stops dagster dev at rest (quiesce.py); a slow stop warns, never fails
