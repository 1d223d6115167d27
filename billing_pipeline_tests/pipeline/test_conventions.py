"""One way of doing each thing, whatever the stage: the stages' folders stay independent of each
other, the period lock is taken in the invoicing services (never in ``defs/``), and every asset
reports an invoicing failure as one readable ``dg.Failure``."""

from __future__ import annotations

import ast
import pkgutil
from datetime import date
from pathlib import Path
from typing import Any, cast

import dagster as dg
import pytest

import billing_pipeline.defs as defs_package
from billing_pipeline.billing.models import PeriodPlan
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.planning import plan_period
from billing_pipeline.definitions import build_definitions
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.defs.stages import STAGES
from billing_pipeline.invoicing.corrections.service import CorrectionIssuer, issue_corrections
from billing_pipeline.invoicing.delivery.service import InvoiceDeliverer
from billing_pipeline.invoicing.documents.facturx_files import FacturxCollector, FacturxReport
from billing_pipeline.invoicing.documents.render_follower import collect_and_follow
from billing_pipeline.invoicing.errors import InvoicingError
from billing_pipeline.invoicing.ledger import Ledger
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.settings import BillingSettings
from billing_pipeline_tests.defs_for_tests import ASSETS

REPO = Path(__file__).resolve().parents[2]
DEFS_DIR = Path(defs_package.__file__).parent
STAGE_PACKAGES = sorted(m.name for m in pkgutil.iter_modules(defs_package.__path__) if m.ispkg)
PERIOD = "2026-10"


# -- the layout ------------------------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, ``from a import b`` counted as both ``a`` and ``a.b``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_stage_folder_is_registered_once_in_lineage_order() -> None:
    registered = [stage.__name__ for stage in STAGES]  # type: ignore[attr-defined]
    assert sorted(registered) == [f"billing_pipeline.defs.{name}" for name in STAGE_PACKAGES]
    assert len(set(registered)) == len(registered)
    assert registered[0].endswith(".usage") and registered[-1].endswith(".payments")


@pytest.mark.parametrize("stage", STAGE_PACKAGES)
def test_a_stage_imports_no_other_stage_nor_the_jobs(stage: str) -> None:
    forbidden = {f"billing_pipeline.defs.{other}" for other in STAGE_PACKAGES if other != stage}
    forbidden.add("billing_pipeline.defs.jobs")
    for path in sorted((DEFS_DIR / stage).glob("*.py")):
        crossing = {m for m in _imports(path) if any(m == f or m.startswith(f"{f}.") for f in forbidden)}
        assert not crossing, f"{path.relative_to(REPO)} imports {sorted(crossing)}"


def test_the_dagster_layer_never_takes_the_period_lock_itself() -> None:
    # the invoicing services take it (drafts, finalization, files, corrections, delivery, payments)
    takers = [p.relative_to(REPO) for p in DEFS_DIR.rglob("*.py") if "period_lock" in p.read_text(encoding="utf-8")]
    assert takers == []


def test_building_definitions_from_given_settings_never_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the environment was read while building definitions from given settings")

    monkeypatch.setattr("billing_pipeline.settings.BillingSettings.from_env", unread)
    dg.Definitions.validate_loadable(build_definitions(BillingSettings(timezone="UTC")))


# -- the period lock, held by the services ---------------------------------------------------------
def _locked(ledger: Ledger, period: str) -> bool:
    """Whether someone holds ``period``'s lock right now (the lock is not re-entrant: a second taker waits)."""
    try:
        with ledger.period_lock(period, timeout_s=0.05):
            return False
    except TimeoutError:
        return True


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", lock_dir=tmp_path / "locks")


def _watch_reads(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the period was locked at each read of its invoices."""
    seen: list[bool] = []
    read = ledger.invoices

    def invoices(*args: Any, **kwargs: Any) -> Any:
        seen.append(_locked(ledger, PERIOD))
        return read(*args, **kwargs)

    monkeypatch.setattr(ledger, "invoices", invoices)
    return seen


def _plan() -> PeriodPlan:
    return plan_period(BillingPeriod.parse(PERIOD), REPO / "data", timezone="Europe/Paris")


async def test_delivery_holds_the_period_lock(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _watch_reads(ledger, monkeypatch)
    deliverer = InvoiceDeliverer(cast(QontoClient, None), ledger, policy="auto", einvoicing=True)
    report = await deliverer.deliver(PERIOD)
    assert report.outcomes == [] and seen == [True]
    assert not _locked(ledger, PERIOD)


async def test_corrections_hold_the_period_lock_until_the_replacements_are_drafted(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _watch_reads(ledger, monkeypatch)
    drafted: list[bool] = []

    class Drafts:
        async def sync_locked(self, plan: PeriodPlan, client_ids: dict[str, str]) -> None:
            drafted.append(_locked(ledger, plan.period.key))

    issuer = CorrectionIssuer(cast(QontoClient, None), ledger, issue_date=date(2026, 11, 3))
    needs, issued = await issue_corrections(issuer, cast(Any, Drafts()), _plan())
    assert (needs, issued) == ([], []) and seen and all(seen) and drafted == [True]
    assert not _locked(ledger, PERIOD)


async def test_a_collection_holds_the_period_lock_while_collecting_and_following(ledger: Ledger) -> None:
    collected: list[bool] = []

    class Collector:
        def __init__(self) -> None:
            self.ledger = ledger

        async def collect(self, period: BillingPeriod) -> FacturxReport:
            collected.append(_locked(ledger, period.key))
            return FacturxReport(period=period.key, outcomes=[])

    report = await collect_and_follow(cast(FacturxCollector, Collector()), BillingPeriod.parse(PERIOD), 0.0)
    assert report.outcomes == [] and collected == [True]
    assert not _locked(ledger, PERIOD)


# -- failures, reported the same way by every asset ------------------------------------------------
FAILURE = InvoicingError("Qonto refused the request", customer_id="cus_fr_001")


class _FailingQonto(QontoResource):
    def connection(self) -> Any:
        raise FAILURE


class _FailingBilling(BillingResource):
    def ledger(self) -> Any:
        raise FAILURE

    def usage_source(self) -> Any:
        raise FAILURE


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_every_asset_reports_an_invoicing_error_as_one_failure(name: str, tmp_path: Path) -> None:
    asset = ASSETS[name]
    values: dict[str, Any] = {"billable_usage": _plan(), "qonto_clients": {}}
    loaded = [name for name, given in asset.op.ins.items() if not given.dagster_type.is_nothing]  # not deps
    inputs = {name: values[name] for name in loaded}
    context = dg.build_asset_context(partition_key=PERIOD if asset.partitions_def else None)
    failing = {"qonto": _FailingQonto(state_dir=str(tmp_path)), "billing": _FailingBilling(state_dir=str(tmp_path))}
    resources = {key: failing[key] for key in asset.required_resource_keys if key in failing}
    with pytest.raises(dg.Failure) as raised:
        asset(context, **inputs, **resources)
    failure = raised.value
    assert failure.description is not None and "customer cus_fr_001: Qonto refused the request" in failure.description
    assert failure.metadata["customers"].value == ["cus_fr_001"]
    assert failure.metadata["kinds"].value == ["InvoicingError"]
