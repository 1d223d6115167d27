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
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"  # pyarrow's own setting, read when it is imported
HUGEPAGE_VARIABLE = "NUMPY_MADVISE_HUGEPAGE"  # NumPy's own setting, read when it is imported


def use_steady_memory() -> tuple[str, bool]:
    """Apply both settings (unless the user chose); returns (the Arrow pool in use, whether NumPy
    still advises huge pages)."""
    if not os.environ.get(POOL_VARIABLE):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
            pa.jemalloc_set_decay_ms(0)  # freed pages go back at once: the peak does not depend on speed
        except NotImplementedError:  # no jemalloc in this pyarrow build (e.g. Windows)
            pass
    multiarray = np._core.multiarray  # NumPy >= 2 (a pyarrow >= 18 dependency's era)
    if not os.environ.get(HUGEPAGE_VARIABLE):
        multiarray._set_madvise_hugepage(False)
    return pa.default_memory_pool().backend_name, multiarray._get_madvise_hugepage()
