"""The usage readers allocate from jemalloc (see ``billing/arrow_memory.py``), unless the user chose a pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

_POOL_AFTER_IMPORT = (
    "import pyarrow as pa; import billing_pipeline.billing.usage; print(pa.default_memory_pool().backend_name)"
)


def _pool_in_a_fresh_process(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    result = subprocess.run(
        [sys.executable, "-c", _POOL_AFTER_IMPORT], capture_output=True, text=True, check=True, env=environment
    )
    return result.stdout.strip()


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc")
def test_reading_usage_allocates_from_jemalloc() -> None:
    assert _pool_in_a_fresh_process() == "jemalloc"


def test_a_pool_the_user_chose_is_kept() -> None:
    assert _pool_in_a_fresh_process(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
