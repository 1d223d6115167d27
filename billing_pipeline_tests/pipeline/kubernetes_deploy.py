"""What deploy/kubernetes/ says, read offline: the Helm values' shape, the dagster.yaml they render,
the environment they give the code, and which IO manager that environment binds.

The chart's own ``values.schema.json`` is not reachable offline (the chart lives in Dagster's Helm
repository, not on a package registry), so the keys we set are checked against ``ChartValues`` below —
the part of the chart's schema we use, with unknown keys refused so a typo fails — and the instance
config the chart renders from them (``rendered_instance``, mirroring its ``configmap-instance.yaml``)
is validated with Dagster's own instance schema. With the chart's schema at hand the full check runs
too (``DAGSTER_HELM_VALUES_SCHEMA``, see test_kubernetes_deploy.py).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from billing_pipeline.settings import BillingSettings
from billing_pipeline_tests.pipeline.helm_chart_values import ChartValues, SecretRef

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VALUES = DEPLOY / "kubernetes" / "values.yaml"
K8S_INSTANCE = DEPLOY / "kubernetes" / "dagster.yaml"
PRODUCTION_INSTANCE = DEPLOY / "dagster.production.yaml"
ENV_EXAMPLE = DEPLOY / "postgres.env.example"
# the name `helm install dagster …` gives the release: the chart names its instance ConfigMap after it
RELEASE = "dagster"

# Launchers and executors that put a run (or its steps) in a process of its own on any node: with
# them, values handed between steps or runs must not live on one machine's disk.
SPREADING_LAUNCHERS = {"K8sRunLauncher", "CeleryK8sRunLauncher", "DockerRunLauncher", "EcsRunLauncher"}
SPREADING_EXECUTORS = {"k8s_job_executor", "celery_k8s_job_executor", "docker_executor", "celery_executor"}


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


# --- the dagster.yaml the chart renders from them (templates/configmap-instance.yaml) -----------------


def _secret_names(refs: list[SecretRef]) -> list[str]:
    return [ref.name for ref in refs]


def rendered_instance(values: ChartValues) -> dict[str, Any]:
    """The instance config for the keys we set, translated as the chart's templates translate them."""
    pg = values.postgresql
    postgres = {
        "postgres_db": {
            "username": pg.postgresqlUsername,
            "password": {"env": "DAGSTER_PG_PASSWORD"},  # the chart sets it from postgresqlSecretName
            "hostname": pg.postgresqlHost,
            "db_name": pg.postgresqlDatabase,
            "port": pg.service.port,
            "params": {},
            "scheme": pg.postgresqlScheme,
        }
    }
    k8s = values.runLauncher.config.k8sRunLauncher
    launcher_config: dict[str, Any] = {
        "load_incluster_config": k8s.loadInclusterConfig,
        "job_namespace": "billing",  # the release namespace
        "image_pull_policy": k8s.imagePullPolicy,
        "dagster_home": values.global_.dagsterHome,
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values.global_.postgresqlSecretName,
        "env_config_maps": [f"{RELEASE}-pipeline-env", *_secret_names(k8s.envConfigMaps)],
        "env_secrets": _secret_names(k8s.envSecrets),
        "env_vars": k8s.envVars,
        "volume_mounts": [m.model_dump() for m in k8s.volumeMounts],
        "volumes": [v.model_dump() for v in k8s.volumes],
    }
    if k8s.failPodOnRunFailure is not None:
        launcher_config["fail_pod_on_run_failure"] = k8s.failPodOnRunFailure
    if k8s.runK8sConfig is not None:
        launcher_config["run_k8s_config"] = _snake_keys(k8s.runK8sConfig.model_dump())
    daemon = values.dagsterDaemon
    queued = daemon.runCoordinator.config.queuedRunCoordinator
    logs = values.computeLogManager.config.s3ComputeLogManager
    runs = values.concurrency.runs
    pools = values.concurrency.pools
    monitoring = daemon.runMonitoring
    retries = daemon.runRetries
    return {
        "schedule_storage": _postgres("schedule_storage", "PostgresScheduleStorage", postgres),
        "run_storage": _postgres("run_storage", "PostgresRunStorage", postgres),
        "event_log_storage": _postgres("event_log", "PostgresEventLogStorage", postgres),
        "run_launcher": {"module": "dagster_k8s", "class": values.runLauncher.type, "config": launcher_config},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": daemon.runCoordinator.type,
            "config": {
                "dequeue_use_threads": queued.dequeueUseThreads,
                "dequeue_num_workers": queued.dequeueNumWorkers,
            },
        },
        "compute_logs": {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": values.computeLogManager.type,
            "config": {"bucket": logs.bucket, "prefix": logs.prefix}
            | ({"region": logs.region} if logs.region else {})
            | ({"endpoint_url": logs.endpointUrl} if logs.endpointUrl else {}),
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": runs.maxConcurrentRuns,
                "tag_concurrency_limits": [t.model_dump(exclude_none=True) for t in runs.tagConcurrencyLimits],
            },
            "pools": {"default_limit": pools.defaultLimit, "granularity": pools.granularity},
        },
        "run_monitoring": {
            "enabled": monitoring.enabled,
            "start_timeout_seconds": monitoring.startTimeoutSeconds,
            "cancel_timeout_seconds": monitoring.cancelTimeoutSeconds,
            "max_resume_run_attempts": monitoring.maxResumeRunAttempts,
            "poll_interval_seconds": monitoring.pollIntervalSeconds,
            "free_slots_after_run_end_seconds": monitoring.freeSlotsAfterRunEndSeconds,
        },
        "run_retries": {
            "enabled": retries.enabled,
            "max_retries": retries.maxRetries,
            "retry_on_asset_or_op_failure": retries.retryOnAssetOrOpFailure,
        },
        "telemetry": {"enabled": values.telemetry.enabled},
        "retention": {
            "schedule": {"purge_after_days": values.retention.schedule["purgeAfterDays"]},
            "sensor": {"purge_after_days": values.retention.sensor["purgeAfterDays"]},
        },
    }


def _postgres(module: str, cls: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"module": f"dagster_postgres.{module}", "class": cls, "config": config}


def _snake_keys(value: Any) -> Any:
    """runK8sConfig's own keys (containerConfig → container_config); Kubernetes objects below stay as written."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in value.items()}
    return value


def configurable_class(block: Mapping[str, Any]) -> type:
    """The class an instance config block names (``module`` + ``class``), imported."""
    module = block["module"].replace("dagster.core.", "dagster._core.")  # the chart's legacy alias
    return getattr(importlib.import_module(module), block["class"])


# --- environments and variables --------------------------------------------------------------------


def project_variables() -> set[str]:
    """Every variable the project reads: its settings, and the instance's (deploy/postgres.env.example)."""
    declared = {declared.variable for _, declared in BillingSettings.declarations()}
    example = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    return declared | example


def code_server_env(values: ChartValues) -> dict[str, str]:
    """The plain (non-secret) environment the values give the code server, and so every run pod."""
    (deployment,) = values.user_deployments.deployments
    return {var.name: var.value for var in deployment.env}


def launcher_env(instance: Mapping[str, Any], process_env: Mapping[str, str]) -> dict[str, str]:
    """The plain environment K8sRunLauncher's ``env_vars`` give a run pod (``KEY`` alone: from the launcher)."""
    env: dict[str, str] = {}
    for entry in instance["run_launcher"]["config"].get("env_vars") or []:
        key, sep, value = entry.partition("=")
        env[key] = value if sep else process_env.get(key, "")
    return env


def referenced_variables(node: Any) -> Iterator[str]:
    """The variable names a config names: ``{env: X}``, Kubernetes ``env`` entries, ``env_vars`` entries."""
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            yield node["env"]
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                yield from (item["name"] for item in value if isinstance(item, dict))
            elif key in ("env_vars", "envVars") and isinstance(value, list):
                yield from (str(item).partition("=")[0] for item in value)
            else:
                yield from referenced_variables(value)
    elif isinstance(node, list):
        for item in node:
            yield from referenced_variables(item)


# --- where steps' values go ---------------------------------------------------------------------------


def io_manager_class(resource: dg.ResourceDefinition) -> object:
    """The class behind a bound IO manager, or the function-style definition itself (fs_io_manager…)."""
    cls = getattr(resource, "configurable_resource_cls", None)
    return cls if cls is not None else resource


def on_local_disk(resource: dg.ResourceDefinition) -> bool:
    """True for Dagster's filesystem IO managers, including the default a job gets when none is bound."""
    from dagster._core.storage.fs_io_manager import FilesystemIOManager, PickledObjectFilesystemIOManager

    cls = io_manager_class(resource)
    if isinstance(cls, type):
        return issubclass(cls, FilesystemIOManager | PickledObjectFilesystemIOManager)
    # function-style: fs_io_manager itself, or the job default ("Built-in filesystem IO manager …")
    return cls is dg.fs_io_manager or "filesystem" in (getattr(cls, "description", "") or "").lower()


def step_io_managers(defs: dg.Definitions) -> Iterator[tuple[str, str, dg.ResourceDefinition]]:
    """``(job, asset, io manager)`` for every asset output of every job, as the job resolves it."""
    repo = defs.get_repository_def()
    for job in repo.get_all_jobs():
        for assets_def in repo.assets_defs_by_key.values():
            if not assets_def.is_executable:
                continue
            for key in assets_def.keys:
                io_key = assets_def.get_io_manager_key_for_asset_key(key)
                yield job.name, key.to_user_string(), job.resource_defs[io_key]
