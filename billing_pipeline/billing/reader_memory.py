"""How the usage readers' memory is allocated: Arrow from jemalloc, NumPy without huge-page advice.

The file reader allocates and frees a batch's worth of buffers a million rows at a time, then
aggregates the kept rows in arrays of millions of integers. Where page faults are dear (a virtual
machine with transparent huge pages on ``madvise``, as on our 2-core machine) the kernel time of
faulting that memory in outweighed the reading itself. Two causes, two settings:

- **Arrow: jemalloc, not pyarrow's default mimalloc.** mimalloc hands freed memory back to the
  kernel and faults it in again at the next batch: 10^7 events read in 5.12 s (2.8 s user, 3.7 s
  system) with mimalloc, 1.79 s (2.6 s user, 0.5 s system) with jemalloc, at the same peak memory.
  jemalloc is told to hand freed pages back at once (``jemalloc_set_decay_ms(0)``): with its
  default time-based decay, how much freed memory it kept depended on how fast the reading went —
  a fast read of 10^8 events peaked at 4.8 GB instead of 1.5 GB. ``ARROW_DEFAULT_MEMORY_POOL`` set
  by the user still wins; a pyarrow built without jemalloc keeps its default.
- **NumPy: no ``MADV_HUGEPAGE``.** NumPy advises huge pages for every array of 4 MB or more; with
  the kernel's ``defrag`` on ``madvise`` each such fault may compact memory to find a 2 MB page, and
  zeroes it whole. The aggregations (``weighted_sum``, ``latest``, distinct counts: arrays of every
  kept row, made and dropped many times) spent 2.2 s of 5.5 s there: 10^7 events, six
  aggregations, 5.47 s (3.1 s user, 3.3 s system) with the advice, 3.25 s (3.2 s user, 1.5 s
  system) without; every metric summed 2.61 s against 2.04 s; same peak memory (``ru_maxrss``
  1.1 GB and 0.75 GB both ways). ``NUMPY_MADVISE_HUGEPAGE`` set by the user (NumPy's own setting,
  read when NumPy is imported) still wins.
- **glibc's malloc (NumPy's arrays): large-block thresholds where glibc ends up anyway.** glibc
  maps each block over its ``mmap`` threshold afresh (every page faulted in again) and hands back
  the heap's free top past its ``trim`` threshold. Both start low (128 kB) and rise only as large
  blocks are freed, one size at a time, up to 32 MB and 64 MB: the aggregations' arrays of every
  kept row (a dozen sizes) were mapped afresh until then. They are set there from the start — no
  more memory kept than glibc settles on by itself. 10^7 events, six aggregations and spans:
  739,000 → 643,000 page faults (sum-only: 490,000 → 474,000), peak memory 1.08 → 1.15 GB (0.74 →
  0.76 GB). ``GLIBC_TUNABLES`` naming a ``glibc.malloc`` setting, or glibc's own ``MALLOC_*_``
  variables, set by the user win; other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np
import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"  # pyarrow's own setting, read when it is imported
HUGEPAGE_VARIABLE = "NUMPY_MADVISE_HUGEPAGE"  # NumPy's own setting, read when it is imported
# glibc's largest dynamic thresholds (malloc.c: DEFAULT_MMAP_THRESHOLD_MAX on 64 bits, and twice it)
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
_GLIBC_CHOICES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def use_steady_memory() -> tuple[str, bool, bool]:
    """Apply the three settings (unless the user chose); returns (the Arrow pool in use, whether
    NumPy still advises huge pages, whether glibc's thresholds were set)."""
    if not os.environ.get(POOL_VARIABLE):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
            pa.jemalloc_set_decay_ms(0)  # freed pages go back at once: the peak does not depend on speed
        except NotImplementedError:  # no jemalloc in this pyarrow build (e.g. Windows)
            pass
    multiarray = np._core.multiarray  # NumPy >= 2 (a pyarrow >= 18 dependency's era)
    if not os.environ.get(HUGEPAGE_VARIABLE):
        multiarray._set_madvise_hugepage(False)
    return pa.default_memory_pool().backend_name, multiarray._get_madvise_hugepage(), _glibc_thresholds()


def _glibc_thresholds() -> bool:
    """glibc's mmap and trim thresholds set to ``MMAP_THRESHOLD`` and ``TRIM_THRESHOLD``; False when
    the user chose their own, or the C library is not glibc."""
    chosen = "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "") or any(map(os.environ.get, _GLIBC_CHOICES))
    if chosen or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)  # the C library this process runs on
    if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: their own malloc
        return False
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
