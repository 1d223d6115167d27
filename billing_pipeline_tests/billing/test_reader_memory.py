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


# a 24 MB array made, freed and made again: is the second one faulted in afresh?
_REMADE_ARRAY_FAULTS = (
    "import resource, numpy as np; from billing_pipeline.billing import usage, reader_memory; "
    "faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt; "
    "first = np.ones(3_000_000); del first; before = faults(); second = np.ones(3_000_000); "
    "print(faults() - before, reader_memory._glibc_thresholds())"
)


def _remade_array_faults(**env: str) -> tuple[int, str]:
    environment = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
    result = subprocess.run(
        [sys.executable, "-c", _REMADE_ARRAY_FAULTS],
        capture_output=True,
        text=True,
        check=True,
        env=environment | env,
    )
    faults, applied = result.stdout.split()
    return int(faults), applied


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's thresholds: Linux only")
def test_an_array_made_again_reuses_the_memory_of_the_last() -> None:
    """glibc's thresholds start where glibc ends up: a freed 24 MB array's pages serve the next one
    (by default glibc maps it afresh, then takes fresh heap pages: ~5,900 page faults each time)."""
    faults, applied = _remade_array_faults()
    assert applied == "True" and faults < 1000


def test_glibc_settings_the_user_chose_are_kept() -> None:
    assert _remade_array_faults(GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072")[1] == "False"
    assert _remade_array_faults(MALLOC_TRIM_THRESHOLD_="1048576")[1] == "False"
