"""The part of the Dagster Helm chart's values schema that deploy/kubernetes/values.yaml sets.

Written from the chart's schema (``helm/dagster/schema`` in Dagster's repository, the source of its
``values.schema.json``) for the keys we use; unknown keys are refused, so a misspelt key — which Helm
would ignore silently — fails the test. Kubernetes objects (volumes, resources) pass through unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    # Kubernetes objects (resources, volumes, probes) are the chart's pass-through: not ours to check
    model_config = ConfigDict(extra="allow")


class EnvVar(_Strict):
    name: str
    value: str


class SecretRef(_Strict):
    name: str
    optional: bool | None = None


class Image(_Strict):
    repository: str
    tag: str
    pullPolicy: Literal["Always", "IfNotPresent", "Never"]


class IncludeConfig(_Strict):
    enabled: bool


class UserDeployment(_Strict):
    name: str
    image: Image
    port: int
    dagsterApiGrpcArgs: list[str]
    includeConfigInLaunchedRuns: IncludeConfig
    env: list[EnvVar]
    envSecrets: list[SecretRef]
    volumes: list[_Open] = []
    volumeMounts: list[_Open] = []
    resources: _Open | None = None


class UserDeployments(_Strict):
    enabled: bool
    enableSubchart: bool
    deployments: list[UserDeployment]


class Global(_Strict):
    postgresqlSecretName: str
    dagsterHome: str


class PostgresService(_Strict):
    port: int


class PostgreSQL(_Strict):
    enabled: Literal[False]
    postgresqlHost: str
    postgresqlUsername: str
    postgresqlDatabase: str
    postgresqlScheme: str
    service: PostgresService


class K8sRunLauncherValues(_Strict):
    imagePullPolicy: Literal["Always", "IfNotPresent", "Never"]
    loadInclusterConfig: bool
    envConfigMaps: list[SecretRef]
    envSecrets: list[SecretRef]
    envVars: list[str]
    volumeMounts: list[_Open]
    volumes: list[_Open]
    failPodOnRunFailure: bool | None = None
    runK8sConfig: _Open | None = None


class RunLauncherConfig(_Strict):
    k8sRunLauncher: K8sRunLauncherValues


class RunLauncher(_Strict):
    type: Literal["K8sRunLauncher", "CeleryK8sRunLauncher", "CustomRunLauncher"]
    config: RunLauncherConfig


class QueuedRunCoordinator(_Strict):
    dequeueUseThreads: bool | None = None
    dequeueNumWorkers: int | None = None


class RunCoordinatorConfig(_Strict):
    queuedRunCoordinator: QueuedRunCoordinator


class RunCoordinator(_Strict):
    enabled: bool
    type: Literal["QueuedRunCoordinator"]
    config: RunCoordinatorConfig


class RunMonitoring(_Strict):
    enabled: bool
    startTimeoutSeconds: int
    cancelTimeoutSeconds: int
    maxResumeRunAttempts: int
    pollIntervalSeconds: int
    freeSlotsAfterRunEndSeconds: int


class RunRetries(_Strict):
    enabled: bool
    maxRetries: int
    retryOnAssetOrOpFailure: bool


class Daemon(_Strict):
    enabled: bool
    envSecrets: list[SecretRef]
    runCoordinator: RunCoordinator
    runMonitoring: RunMonitoring
    runRetries: RunRetries


class Webserver(_Strict):
    envSecrets: list[SecretRef]


class TagLimit(_Strict):
    key: str
    value: str | dict[str, bool] | None = None
    limit: int


class ConcurrencyRuns(_Strict):
    maxConcurrentRuns: int
    tagConcurrencyLimits: list[TagLimit]


class ConcurrencyPools(_Strict):
    defaultLimit: int
    granularity: Literal["op", "run"]


class Concurrency(_Strict):
    enabled: bool
    runs: ConcurrencyRuns
    pools: ConcurrencyPools


class S3ComputeLogs(_Strict):
    bucket: str
    prefix: str
    region: str | None = None
    endpointUrl: str | None = None


class ComputeLogConfig(_Strict):
    s3ComputeLogManager: S3ComputeLogs


class ComputeLogManager(_Strict):
    type: Literal["S3ComputeLogManager"]
    config: ComputeLogConfig


class Telemetry(_Strict):
    enabled: bool


class Retention(_Strict):
    enabled: bool
    schedule: dict[str, Any]
    sensor: dict[str, Any]


class ChartValues(_Strict):
    global_: Global
    postgresql: PostgreSQL
    generatePostgresqlPasswordSecret: Literal[False]
    user_deployments: UserDeployments
    runLauncher: RunLauncher
    dagsterDaemon: Daemon
    dagsterWebserver: Webserver
    concurrency: Concurrency
    computeLogManager: ComputeLogManager
    telemetry: Telemetry
    retention: Retention

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> ChartValues:
        renamed = {
            {"global": "global_", "dagster-user-deployments": "user_deployments"}.get(k, k): v
            for k, v in values.items()
        }
        return cls.model_validate(renamed)
