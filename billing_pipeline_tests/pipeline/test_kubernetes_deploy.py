"""deploy/kubernetes/ as tested code, offline (no cluster, no network, no Docker).

- the Helm values set only keys the chart knows, and the dagster.yaml they render is a valid instance
  config (Dagster's own schema, K8sRunLauncher's and S3ComputeLogManager's config schemas);
- deploy/kubernetes/dagster.yaml (Kubernetes without Helm) loads as an instance config, and both carry
  the policies of deploy/dagster.production.yaml unchanged;
- the code location loads (`dagster definitions validate`) in the Kubernetes variant's environment;
- no step can hand a value to another through a pod's disk: a launcher that spreads runs over pods
  comes only with an object-store IO manager for every asset of every job;
- no secret value in the files, and every variable they name is one the project reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema

from billing_pipeline.definitions import build_definitions
from billing_pipeline.settings import BillingSettings
from billing_pipeline_tests.pipeline.helm_chart_values import ChartValues
from billing_pipeline_tests.pipeline.kubernetes_deploy import (
    K8S_INSTANCE,
    PRODUCTION_INSTANCE,
    REPO,
    SPREADING_EXECUTORS,
    SPREADING_LAUNCHERS,
    VALUES,
    code_server_env,
    configurable_class,
    io_manager_class,
    launcher_env,
    load_yaml,
    on_local_disk,
    project_variables,
    referenced_variables,
    rendered_instance,
    step_io_managers,
)

pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed: pip install -e '.[kubernetes]'")
pytest.importorskip("dagster_aws", reason="dagster-aws is not installed: pip install -e '.[kubernetes]'")

# the instance files' connection variables, set to dummies: only their presence is needed to resolve
DUMMY_INSTANCE_ENV = {
    "DAGSTER_PG_HOST": "db.invalid",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "dummy",
    "DAGSTER_PG_DB": "dagster",
    "BILLING_IO_S3_BUCKET": "billing-dagster",
    "BILLING_IO_S3_PREFIX": "billing-pipeline/io",
    "BILLING_IO_S3_REGION": "eu-west-3",
    "BILLING_TIMEZONE": "Europe/Paris",
}
# the instance blocks that carry deploy/dagster.production.yaml's policies
POLICIES = ("concurrency", "run_retries", "run_monitoring", "run_coordinator", "retention")
TICK_TYPES = {"skipped", "success", "failure", "started"}


@pytest.fixture(scope="module")
def values() -> ChartValues:
    return ChartValues.parse(load_yaml(VALUES))


# --- (a) the values and the instance files validate ---------------------------------------------------


def test_the_values_set_only_keys_of_the_chart(values: ChartValues) -> None:
    # ChartValues refuses unknown keys: a misspelt key would otherwise be ignored by Helm silently
    assert values.postgresql.enabled is False and values.generatePostgresqlPasswordSecret is False
    (deployment,) = values.user_deployments.deployments
    assert deployment.dagsterApiGrpcArgs == ["--module-name", "billing_pipeline.definitions"]
    assert values.runLauncher.type == "K8sRunLauncher"


def test_the_values_match_the_charts_own_schema_when_it_is_at_hand() -> None:
    """The full check: `helm pull dagster/dagster --version 1.13.27 --untar`, then
    DAGSTER_HELM_VALUES_SCHEMA=dagster/values.schema.json (needs the jsonschema package)."""
    schema_path = os.environ.get("DAGSTER_HELM_VALUES_SCHEMA")
    if not schema_path:
        pytest.skip("DAGSTER_HELM_VALUES_SCHEMA not set: the chart's values.schema.json is not reachable offline")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(load_yaml(VALUES), json.loads(Path(schema_path).read_text()))


def test_the_values_render_a_valid_instance_config(values: ChartValues, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DUMMY_INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)
    instance = rendered_instance(values)
    result = validate_config(dagster_instance_config_schema(), instance)
    assert result.success, result.errors
    for block in ("run_launcher", "compute_logs", "run_coordinator"):
        cls = configurable_class(instance[block])
        processed = process_config(cls.config_type(), instance[block]["config"])
        assert processed.success, (block, processed.errors)


def test_the_instance_file_loads_with_kubernetes_launcher_and_postgres_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DUMMY_INSTANCE_ENV.items():
        monkeypatch.setenv(name, value)
    shutil.copy(K8S_INSTANCE, tmp_path / "dagster.yaml")
    # Dagster's own loading: schema validation and `env:` resolution of the whole file
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher" and "postgres" in config["storage"]
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    for block in ("run_launcher", "compute_logs", "run_coordinator"):
        cls = configurable_class(config[block])
        processed = process_config(cls.config_type(), config[block]["config"])
        assert processed.success, (block, processed.errors)


@pytest.mark.parametrize("block", POLICIES)
def test_both_kubernetes_files_carry_the_production_policies(values: ChartValues, block: str) -> None:
    production = load_yaml(PRODUCTION_INSTANCE)[block]
    assert load_yaml(K8S_INSTANCE)[block] == production
    rendered = rendered_instance(values)[block]
    if block == "run_coordinator":  # the chart writes the legacy module path of the same class
        assert configurable_class(rendered) is configurable_class(production)
        assert rendered["config"] == production["config"]
    else:
        assert _kept_forever_omitted(rendered) == _kept_forever_omitted(production)


def _kept_forever_omitted(node: object) -> object:
    # -1 ("keep forever") is Dagster's default for a tick type; the chart's schema wants every type named
    if isinstance(node, dict):
        return {k: _kept_forever_omitted(v) for k, v in node.items() if not (k in TICK_TYPES and v == -1)}
    return node


# --- (b) the code location loads in the Kubernetes variant -----------------------------------------------


def test_definitions_validate_in_the_kubernetes_variant(values: ChartValues, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BILLING_", "QONTO_"))}
    # the code server's environment from the values, its directories moved into the temp dir
    env |= code_server_env(values)
    env |= {name: str(tmp_path / Path(env[name]).name) for name in ("BILLING_STATE_DIR", "BILLING_INVOICES_DIR")}
    env |= {"BILLING_DATA_DIR": str(REPO / "data"), "DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "billing_pipeline.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- (c) no value handed between steps through one machine's disk ----------------------------------------


def _definitions(env: dict[str, str]) -> dg.Definitions:
    return build_definitions(BillingSettings.from_env(env))


def test_the_kubernetes_variant_binds_an_object_store_for_every_asset_of_every_job(values: ChartValues) -> None:
    from dagster_aws.s3 import S3PickleIOManager

    bound = list(step_io_managers(_definitions(code_server_env(values))))
    assert bound, "no asset found: the check would pass vacuously"
    on_disk = [(job, asset) for job, asset, io_manager in bound if on_local_disk(io_manager)]
    assert not on_disk, f"values pass through a pod's disk: {on_disk}"
    assert {io_manager_class(io_manager) for _, _, io_manager in bound} == {S3PickleIOManager}


def test_the_check_catches_the_filesystem_default() -> None:
    # the dev and test default: Dagster's filesystem IO manager, which the check above must refuse
    bound = list(step_io_managers(_definitions({})))
    assert bound and all(on_local_disk(io_manager) for _, _, io_manager in bound)


def test_no_job_spreads_its_steps_over_pods_by_itself() -> None:
    # an executor like k8s_job_executor would put steps of one run on different pods, whatever the env
    repo = _definitions({}).get_repository_def()
    assert not {job.executor_def.name for job in repo.get_all_jobs()} & SPREADING_EXECUTORS


def test_a_launcher_spreading_runs_over_pods_comes_only_with_the_object_store_variant(values: ChartValues) -> None:
    from dagster_aws.s3 import S3PickleIOManager

    # (launcher, environment of the run pods) of each deployment file
    deployments = {
        "values.yaml": (values.runLauncher.type, code_server_env(values)),
        "dagster.yaml": (
            load_yaml(K8S_INSTANCE)["run_launcher"]["class"],
            launcher_env(load_yaml(K8S_INSTANCE), DUMMY_INSTANCE_ENV),
        ),
    }
    for name, (launcher, env) in deployments.items():
        if launcher not in SPREADING_LAUNCHERS:
            continue
        assert env.get("BILLING_IO_MANAGER") == "s3", name
        bound = {io_manager_class(io) for _, _, io in step_io_managers(_definitions(env))}
        assert bound == {S3PickleIOManager}, name


def test_run_pods_get_the_code_servers_secrets(values: ChartValues) -> None:
    # the same Qonto credentials on both sides: the Qonto mode follows which variables are present
    (deployment,) = values.user_deployments.deployments
    launcher = values.runLauncher.config.k8sRunLauncher
    assert deployment.includeConfigInLaunchedRuns.enabled
    assert [s.name for s in deployment.envSecrets] == [s.name for s in launcher.envSecrets]


# --- (d) no secret value; only the project's variables ----------------------------------------------------

SECRET_KEY = re.compile(r"password|secret|token|api_?key|credential|access_?key", re.IGNORECASE)
# keys whose value *names* a secret (a Kubernetes Secret, an env var), never holds one
NAMING_KEYS = {"postgresqlSecretName", "envSecrets", "env_secrets", "postgres_password_secret"}
SECRET_LOOKING_TEXT = [
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # a URL with credentials
    re.compile(r"AKIA[0-9A-Z]{16}"),  # an AWS access key id
    re.compile(r"-----BEGIN"),  # a key or certificate
    re.compile(r"postgresqlPassword|QONTO_[A-Z_]+=\S|BILLING_LEDGER_URL=\S"),
]


def _secret_valued_keys(node: object, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key in NAMING_KEYS or isinstance(value, bool):  # a switch (generate…Secret: false) holds no secret
                continue
            if SECRET_KEY.search(str(key)) and not (isinstance(value, dict) and set(value) == {"env"}):
                found.append(where)
            found += _secret_valued_keys(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, dict) and SECRET_KEY.search(str(item.get("name", ""))) and "value" in item:
                found.append(f"{path}[{index}]")
            found += _secret_valued_keys(item, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("path", [VALUES, K8S_INSTANCE], ids=lambda p: p.name)
def test_the_files_hold_no_secret_value(path: Path) -> None:
    text = path.read_text()
    assert not [pattern.pattern for pattern in SECRET_LOOKING_TEXT if pattern.search(text)]
    assert _secret_valued_keys(yaml.safe_load(text)) == []


@pytest.mark.parametrize("path", [VALUES, K8S_INSTANCE], ids=lambda p: p.name)
def test_every_variable_the_files_name_is_read_by_the_project(path: Path) -> None:
    named = set(referenced_variables(load_yaml(path)))
    assert named, "no variable found: the check would pass vacuously"
    assert named <= project_variables(), sorted(named - project_variables())


def test_the_secret_check_has_teeth() -> None:
    leaked = {"postgresql": {"postgresqlPassword": "hunter2"}, "env": [{"name": "QONTO_API_KEY", "value": "x"}]}
    assert _secret_valued_keys(leaked) == [".postgresql.postgresqlPassword", ".env[0]"]


# --- the setting itself ---------------------------------------------------------------------------------


def test_the_io_manager_setting_defaults_to_dagsters_filesystem_default() -> None:
    settings = BillingSettings.from_env({})
    assert settings.io_manager == "filesystem"
    assert "io_manager" not in (build_definitions(settings).resources or {})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BILLING_IO_MANAGER": "s3"}, "BILLING_IO_S3_BUCKET"),
        ({"BILLING_IO_MANAGER": "nfs", "BILLING_IO_S3_BUCKET": "b"}, "BILLING_IO_MANAGER must be one of"),
    ],
)
def test_an_incomplete_object_store_setting_fails_the_load(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BillingSettings.from_env(env)


def test_the_bucket_settings_reach_the_io_manager() -> None:
    env = {
        "BILLING_IO_MANAGER": "s3",
        "BILLING_IO_S3_BUCKET": "bills",
        "BILLING_IO_S3_PREFIX": "/io/",
        "BILLING_IO_S3_ENDPOINT_URL": "https://s3.fr-par.scw.cloud",
        "BILLING_IO_S3_REGION": "fr-par",
    }
    io_manager = (build_definitions(BillingSettings.from_env(env)).resources or {})["io_manager"]
    assert (io_manager.s3_bucket, io_manager.s3_prefix) == ("bills", "io")
    assert io_manager.s3_resource.endpoint_url == "https://s3.fr-par.scw.cloud"
    assert io_manager.s3_resource.region_name == "fr-par"
