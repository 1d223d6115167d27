"""No secret reaches the Dagster UI: the code location is loaded the way ``dagster dev`` loads it (the
workspace file, a code server subprocess with every secret variable set) and everything the UI's
GraphQL serves about it is searched for the secret values.

Why a GraphQL scan rather than a look at the resource objects: a plain string field is served by the
UI as the resource's configured value *and* as every job's default run config, so the only proof
that counts is what the webserver actually answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.schema import create_schema
from dagster_graphql.test.utils import execute_dagster_graphql
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
    is_required_argument,
)

REPO = Path(__file__).resolve().parents[2]
LOCATION = "billing_pipeline"
REPOSITORY = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}

# every variable that may hold a secret, with a value nobody could mistake for anything else; the
# ledger's port 1 is closed on purpose: loading the code location must not connect to it
SECRETS = {
    "BILLING_LEDGER_URL": "postgresql+psycopg://billing:S3cr3t-ledger@127.0.0.1:1/x",
    "BILLING_USAGE_URL": "postgresql+psycopg://usage:S3cr3t-usage@127.0.0.1:1/usage",
    "QONTO_API_KEY": "acme-login:S3cr3t-api-key",
    "QONTO_OAUTH_CLIENT_ID": "S3cr3t-oauth-client-id",
    "QONTO_OAUTH_CLIENT_SECRET": "S3cr3t-oauth-client-secret",
    "QONTO_OAUTH_REFRESH_TOKEN": "S3cr3t-oauth-refresh-token",
    "QONTO_STAGING_TOKEN": "S3cr3t-staging-token",
}
# the parts of the values that are secret on their own (a password inside a URL, a key after its login)
SECRET_PARTS = ("S3cr3t", "s3cr3t")

_SCHEMA = create_schema().graphql_schema


def _selection(type_name: str, depth: int) -> str:
    """Every field of a GraphQL type that takes no required argument, ``depth`` levels deep.

    Generated from the schema so that a field Dagster adds later is searched too.
    """
    graphql_type = _SCHEMA.get_type(type_name)
    if isinstance(graphql_type, GraphQLInterfaceType | GraphQLUnionType):
        branches = [
            f"... on {possible.name} {{ {_selection(possible.name, depth)} }}"
            for possible in _SCHEMA.get_possible_types(graphql_type)
        ]
        return "__typename " + " ".join(branches)
    assert isinstance(graphql_type, GraphQLObjectType)
    parts = []
    for name, field in graphql_type.fields.items():
        if any(is_required_argument(arg) for arg in field.args.values()):
            continue
        target = get_named_type(field.type)
        if is_leaf_type(target):
            parts.append(name)
        elif depth > 0:
            parts.append(f"{name} {{ {_selection(target.name, depth - 1)} }}")
    return " ".join(parts) or "__typename"


_METADATA = _selection("MetadataEntry", 2)
_CONFIG_TYPE = _selection("ConfigType", 1)
_CONFIG_FIELD = f"name description isSecret defaultValueAsJson configTypeKey configType {{ {_CONFIG_TYPE} }}"

WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message stack } } } }
  ... on PythonError { message } } }
"""

RESOURCES_QUERY = f"""
query($repo: RepositorySelector!) {{
  allTopLevelResourceDetailsOrError(repositorySelector: $repo) {{
    __typename
    ... on ResourceDetailsList {{ results {{
      name description resourceType isTopLevel
      configFields {{ {_CONFIG_FIELD} }}
      configuredValues {{ key value type }}
      nestedResources {{ name type }}
      assetKeysUsing {{ path }} jobsOpsUsing {{ jobName }} schedulesUsing sensorsUsing
    }} }}
    ... on PythonError {{ message }}
  }}
}}
"""

REPOSITORY_QUERY = f"""
query($repo: RepositorySelector!) {{
  repositoryOrError(repositorySelector: $repo) {{
    __typename
    ... on Repository {{
      name displayMetadata {{ key value }}
      jobs {{ name description tags {{ key value }} runTags {{ key value }} metadataEntries {{ {_METADATA} }}
              presets {{ name runConfigYaml }}
              modes {{ name description resources {{ name description configField {{ {_CONFIG_FIELD} }} }} }} }}
      schedules {{ name description cronSchedule executionTimezone tags {{ key value }}
                   metadataEntries {{ {_METADATA} }} }}
      sensors {{ name description metadataEntries {{ {_METADATA} }} }}
      allTopLevelResourceDetails {{ name configuredValues {{ key value type }} }}
    }}
    ... on PythonError {{ message }}
  }}
}}
"""

JOB_QUERY = f"""
query($job: PipelineSelector!, $partition: String!) {{
  runConfigSchemaOrError(selector: $job) {{
    __typename
    ... on RunConfigSchema {{
      rootDefaultYaml
      rootConfigType {{ {_CONFIG_TYPE} }}
      allConfigTypes {{ {_CONFIG_TYPE} }}
    }}
    ... on PythonError {{ message }}
  }}
  pipelineOrError(params: $job) {{
    __typename
    ... on Pipeline {{
      name description
      partition(partitionName: $partition) {{
        name runConfigOrError {{ __typename ... on PartitionRunConfig {{ yaml }} }}
        tagsOrError {{ __typename ... on PartitionTags {{ results {{ key value }} }} }}
      }}
    }}
  }}
}}
"""

ASSETS_QUERY = f"""
{{ assetNodes {{
    assetKey {{ path }} description computeKind groupName jobNames kinds
    tags {{ key value }} opTags {{ key value }} owners {{ __typename }}
    metadataEntries {{ {_METADATA} }}
    configField {{ {_CONFIG_FIELD} }}
    requiredResources {{ resourceKey }}
}} }}
"""


@pytest.fixture
def ui_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkspaceRequestContext]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("QONTO_BASE_URL", raising=False)
    # nothing the load might write lands in the project
    monkeypatch.setenv("BILLING_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BILLING_DATA_DIR", str(REPO / "data"))
    monkeypatch.setenv("BILLING_INVOICES_DIR", str(tmp_path / "invoices"))
    with dg.instance_for_test() as instance:
        target = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
        with WorkspaceProcessContext(instance, target) as process_context:
            yield process_context.create_request_context()


def _ask(context: WorkspaceRequestContext, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    result = execute_dagster_graphql(context, query, variables)
    assert not result.errors, result.errors
    return result.data


def _where(served: str, part: str) -> str:
    """Every place a secret shows, with the JSON around it (which field serves it)."""
    places, start = [], served.find(part)
    while start >= 0:
        places.append(served[max(0, start - 120) : start + len(part) + 20])
        start = served.find(part, start + 1)
    return f"{part!r} x{len(places)}: " + " | ".join(places[:4])


def test_no_secret_is_served_by_the_ui(ui_context: WorkspaceRequestContext) -> None:
    workspace = _ask(ui_context, WORKSPACE_QUERY)
    [location] = workspace["workspaceOrError"]["locationEntries"]
    assert location["loadStatus"] == "LOADED", location
    assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location

    answers: list[dict[str, Any]] = [workspace]
    answers.append(_ask(ui_context, RESOURCES_QUERY, {"repo": REPOSITORY}))
    repository = _ask(ui_context, REPOSITORY_QUERY, {"repo": REPOSITORY})
    answers.append(repository)
    jobs = [job["name"] for job in repository["repositoryOrError"]["jobs"]]
    for job in jobs:
        selector = {**REPOSITORY, "pipelineName": job}
        answers.append(_ask(ui_context, JOB_QUERY, {"job": selector, "partition": "2026-09"}))
    answers.append(_ask(ui_context, ASSETS_QUERY))
    served = json.dumps(answers)

    # the scan did see what matters: both resources, their fields, the jobs' defaults and the assets
    resources = answers[1]["allTopLevelResourceDetailsOrError"]["results"]
    assert {r["name"] for r in resources} >= {"qonto", "billing"}
    assert {"monthly_invoicing", "bill_period", "facturx_collection"} <= set(jobs)
    assert "ledger_url" in served and "api_key" in served and "billable_usage" in served
    assert "rootDefaultYaml" in served and "resources:" in served

    leaked = [value for value in SECRETS.values() if value in served]
    leaked += [part for part in SECRET_PARTS if part in served]
    assert not leaked, "the UI serves secret values:\n" + "\n".join(_where(served, part) for part in leaked)

    # each secret-capable field is served as the name of its variable
    configured = {(r["name"], v["key"]): (v["type"], v["value"]) for r in resources for v in r["configuredValues"]}
    assert configured[("billing", "ledger_url")] == ("ENV_VAR", "BILLING_LEDGER_URL")
    assert configured[("billing", "usage_url")] == ("ENV_VAR", "BILLING_USAGE_URL")
    assert configured[("qonto", "api_key")] == ("ENV_VAR", "QONTO_API_KEY")
    assert configured[("qonto", "oauth_client_id")] == ("ENV_VAR", "QONTO_OAUTH_CLIENT_ID")
    assert configured[("qonto", "oauth_client_secret")] == ("ENV_VAR", "QONTO_OAUTH_CLIENT_SECRET")
    assert configured[("qonto", "oauth_refresh_token")] == ("ENV_VAR", "QONTO_OAUTH_REFRESH_TOKEN")
    assert configured[("qonto", "staging_token")] == ("ENV_VAR", "QONTO_STAGING_TOKEN")
