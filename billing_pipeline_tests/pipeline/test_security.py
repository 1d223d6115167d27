"""Secrets never leave the Qonto API: not in logs, events, metadata, errors, nor to the download host."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import dagster as dg
import pytest

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.definitions import build_definitions
from billing_pipeline.defs.resources import BillingResource, QontoResource
from billing_pipeline.emulator.config import EMULATOR_SECRET_KEY, EMULATOR_STAGING_TOKEN
from billing_pipeline.emulator.testing import running_emulator
from billing_pipeline.invoicing.documents.facturx_files import FacturxCollector
from billing_pipeline.invoicing.ledger import InvoiceState
from billing_pipeline.qonto.client import QontoClient
from billing_pipeline.settings import BillingSettings, QontoMode
from billing_pipeline_tests.defs_for_tests import BILLING_ASSETS, facturx_files
from billing_pipeline_tests.pipeline.conftest import PipelineWorld, copy_sample_data

SECRETS = (EMULATOR_SECRET_KEY, EMULATOR_STAGING_TOKEN)


def _everything_a_run_left(instance: dg.DagsterInstance, caplog: pytest.LogCaptureFixture) -> str:
    texts = [record.getMessage() for record in caplog.records]
    texts += [str(record.exc_info) for record in caplog.records if record.exc_info]
    for run in instance.get_runs():
        texts.append(repr(run.run_config))
        texts.append(repr(run.tags))
        for entry in instance.all_logs(run.run_id):
            texts.append(repr(entry))  # messages, metadata, materializations, errors with their causes
    for captured in Path(instance.storage_directory()).rglob("*"):  # captured stdout/stderr of every run
        if captured.is_file() and captured.suffix in {".out", ".err", ".complete", ""}:
            texts.append(captured.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


def test_a_full_sandbox_run_never_shows_the_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx/httpcore DEBUG logs included
    with running_emulator(sandbox=True, render_delay_s=0.3, state_path=tmp_path / "emulator.sqlite") as emulator:
        monkeypatch.setenv("QONTO_API_KEY", emulator.api_key)
        monkeypatch.setenv("QONTO_STAGING_TOKEN", emulator.staging_token)
        qonto = QontoResource(
            mode="custom",
            base_url=emulator.base_url,
            state_dir=str(tmp_path / "state"),
            api_key=dg.EnvVar("QONTO_API_KEY"),
            staging_token=dg.EnvVar("QONTO_STAGING_TOKEN"),
        )
        data_dir = copy_sample_data(tmp_path / "data")
        billing = BillingResource(
            data_dir=str(data_dir), invoices_dir=str(tmp_path / "invoices"), state_dir=str(tmp_path / "state")
        )
        resources = {"qonto": qonto, "billing": billing}
        # one failing run too: its error text must be clean as well
        emulator.queue_fault("server_error", "GET", r"^/v2/organization$", count=20)
        with dg.instance_for_test() as instance:
            failed = dg.materialize(
                BILLING_ASSETS[:3], partition_key="2026-10", resources=resources, instance=instance,
                raise_on_error=False,
            )  # fmt: skip
            assert not failed.success
            emulator.clear_faults()
            assert dg.materialize(BILLING_ASSETS[:4], partition_key="2026-10", resources=resources,
                                  instance=instance).success  # fmt: skip
            time.sleep(0.6)
            assert dg.materialize([facturx_files], partition_key="2026-10", resources=resources,
                                  instance=instance).success  # fmt: skip
            everything = _everything_a_run_left(instance, caplog)
        stats = emulator.stats()
    # the scan did see the runs (Qonto numbers by the year of finalization: today's, whatever it is)
    assert "2026-10" in everything and re.search(r"F-\d{4}-\d{5}", everything)
    for secret in SECRETS:
        assert secret not in everything
    assert stats["downloads"] >= 30
    assert stats["rejected_credentialed_downloads"] == 0
    assert not {"authorization", "x-qonto-staging-token", "cookie"} & {
        name.lower() for name in stats["download_header_names"]
    }


def test_credentials_reach_dagster_as_variable_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QONTO_API_KEY", "someone:s3cr3t-value")
    monkeypatch.setenv("QONTO_STAGING_TOKEN", "staging-s3cr3t")
    defs = build_definitions(BillingSettings(), QontoMode.SANDBOX)
    resource = defs.resources["qonto"]
    assert resource.mode == "sandbox"
    assert isinstance(resource.api_key, dg.EnvVar) and resource.api_key.env_var_name == "QONTO_API_KEY"
    assert isinstance(resource.staging_token, dg.EnvVar)
    assert "s3cr3t" not in repr(resource)


def test_emulated_mode_is_announced_in_every_asset_description() -> None:
    defs = build_definitions(BillingSettings(), QontoMode.EMULATOR)
    graph = defs.get_repository_def().asset_graph
    for key in graph.get_all_asset_keys():
        assert "EMULATED" in (graph.get(key).description or "")


class _HostileAttachmentNames(QontoClient):
    """A Qonto answer whose file name tries to climb out of the output folder."""

    async def get_attachment(self, attachment_id: str):  # type: ignore[override]
        attachment = await super().get_attachment(attachment_id)
        return attachment.model_copy(update={"file_name": "../../../../outside.pdf"})


def test_server_given_file_names_cannot_escape_the_output_folder(world: PipelineWorld) -> None:
    with dg.instance_for_test() as instance:
        assert dg.materialize(BILLING_ASSETS[:4], partition_key="2026-10", resources=world.resources,
                              instance=instance).success  # fmt: skip
    time.sleep(0.8)
    config = world.qonto.connection().client_config()

    async def collect():
        async with _HostileAttachmentNames(config) as qonto:
            collector = FacturxCollector(qonto, world.billing.ledger(), world.invoices_dir)
            return await collector.collect(BillingPeriod.parse("2026-10"))

    report = asyncio.run(collect())
    assert report.by_status("stored") and not report.by_status("rejected")
    period_folder = (world.invoices_dir / "2026-10").resolve()
    for record in world.billing.ledger().invoices("2026-10"):
        assert record.state == InvoiceState.STORED
        assert Path(record.file_path).resolve().parent == period_folder
    assert not list(world.invoices_dir.parent.rglob("outside.pdf"))
