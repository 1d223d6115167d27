"""The Arrow memory pool the usage readers allocate from: jemalloc, not pyarrow's default mimalloc.

The file reader allocates and frees a batch's worth of Arrow buffers a million rows at a time.
pyarrow's default pool (mimalloc) hands freed memory back to the kernel and faults it in again at
the next batch; where page faults are dear (a virtual machine with transparent huge pages on
``madvise``, as on our 2-core machine) that kernel time outweighed the reading itself: 10^7 events
read in 5.12 s (2.8 s user, 3.7 s system) with mimalloc, 1.79 s (2.6 s user, 0.5 s system) with
jemalloc, at the same peak memory (786 and 822 MB).

jemalloc is told to hand freed pages back at once (``jemalloc_set_decay_ms(0)``): with its default
time-based decay, how much freed memory it kept depended on how fast the reading went — a fast
read of 10^8 events peaked at 4.8 GB instead of 1.5 GB. With 0 the peak does not depend on speed
(10^8 events: 1.43 GB; 10^7 events: 2.68 s against mimalloc's 4.28 s on the same machine).
``ARROW_DEFAULT_MEMORY_POOL`` set by the user still wins; a pyarrow built without jemalloc keeps
its default.
"""

from __future__ import annotations

import os

import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"  # pyarrow's own setting, read when it is imported


def use_steady_memory_pool() -> str:
    """Make jemalloc the process's default Arrow pool (unless the user chose one); returns the pool in use."""
    if not os.environ.get(POOL_VARIABLE):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
            pa.jemalloc_set_decay_ms(0)  # freed pages go back at once: the peak does not depend on speed
        except NotImplementedError:  # no jemalloc in this pyarrow build (e.g. Windows)
            pass
    return pa.default_memory_pool().backend_name
