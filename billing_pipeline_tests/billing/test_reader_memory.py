"""The usage readers allocate Arrow memory from jemalloc and NumPy arrays without huge-page advice
(see ``billing/reader_memory.py``), unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

_SETTINGS_AFTER_IMPORT = (
    "import numpy as np, pyarrow as pa; import billing_pipeline.billing.usage; "
    "print(pa.default_memory_pool().backend_name, np._core.multiarray._get_madvise_hugepage())"
)
_CHOICES = ("ARROW_DEFAULT_MEMORY_POOL", "NUMPY_MADVISE_HUGEPAGE")


def _settings_in_a_fresh_process(**env: str) -> tuple[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in _CHOICES} | env
    result = subprocess.run(
        [sys.executable, "-c", _SETTINGS_AFTER_IMPORT], capture_output=True, text=True, check=True, env=environment
    )
    pool, advised = result.stdout.split()
    return pool, advised


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow build has no jemalloc")
def test_reading_usage_allocates_from_jemalloc() -> None:
    assert _settings_in_a_fresh_process()[0] == "jemalloc"


def test_a_pool_the_user_chose_is_kept() -> None:
    assert _settings_in_a_fresh_process(ARROW_DEFAULT_MEMORY_POOL="system")[0] == "system"


def test_reading_usage_turns_numpy_huge_page_advice_off() -> None:
    assert _settings_in_a_fresh_process()[1] == "False"


def test_numpy_huge_page_advice_the_user_asked_for_is_kept() -> None:
    assert _settings_in_a_fresh_process(NUMPY_MADVISE_HUGEPAGE="1")[1] == "True"
