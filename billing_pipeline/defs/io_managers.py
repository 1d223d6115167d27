"""Where steps hand values to each other: the ``io_manager`` resource of each environment.

Every asset uses the default IO manager key (``io_manager``). Left unbound (``BILLING_IO_MANAGER``
unset or ``filesystem``, dev and tests), Dagster's default writes pickles under
``$DAGSTER_HOME/storage`` — right on one machine. On Kubernetes each run is its own pod, possibly on
another node: a retried run, a re-execution from failure or a run that materializes only
``finalized_invoices`` loads its upstream values from storage another pod wrote, so they must live in
an object store (``BILLING_IO_MANAGER=s3``, ``deploy/kubernetes/``). A test
(``test_kubernetes_deploy.py``) fails if the Kubernetes variant could pass values through local files.
"""

from __future__ import annotations

from typing import Any

from billing_pipeline.settings import BillingSettings


def io_manager_resources(settings: BillingSettings) -> dict[str, Any]:
    """``{"io_manager": …}`` for an object store, or nothing: Dagster's filesystem default stays."""
    if settings.io_manager == "filesystem":
        return {}
    # imported only when selected: dagster-aws (extra `kubernetes`) is not needed for dev and tests
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    assert settings.io_s3_bucket is not None  # the settings refuse s3 without a bucket
    # Credentials are not settings: boto3 finds them itself (the pod's IAM role, or AWS_ACCESS_KEY_ID /
    # AWS_SECRET_ACCESS_KEY from a Kubernetes Secret), so no secret value ever reaches Dagster config.
    s3 = S3Resource(region_name=settings.io_s3_region, endpoint_url=settings.io_s3_endpoint_url)
    return {
        "io_manager": S3PickleIOManager(
            s3_resource=s3, s3_bucket=settings.io_s3_bucket, s3_prefix=settings.io_s3_prefix.strip("/")
        )
    }
