"""What a ``UsageReader`` keeps of the valid in-period rows until duplicates are resolved.

Finding repeated ``event_id``s needs every row, but only the rows whose id repeats are ever looked
at again. So only the 64-bit hash of each id is kept for every row (8 bytes a row, in blocks of
64 MB: blocks that large are given back to the system as soon as they are freed); the content of
a row (its id, customer and metric codes, quantity, instant) is kept for the first
``MEMORY_BUDGET`` bytes of rows, and beyond that only if its origin cannot be read a second time
(a SQL cursor). The other batches are read again from their file for the few rows whose hash
repeats (``UsageOrigin.reread``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# Content kept in memory before batches are left in their files to be read again if needed:
# about 52 bytes a row (ids of 22 characters), so the first ~6 M rows of a period cost no second
# read; at 10^8 rows the peak is then ~1.7 GB (hashes 0.8 GB, this, one batch being decoded).
MEMORY_BUDGET = 320 << 20
HASH_BLOCK = 1 << 23  # hashes a block (64 MB, above the allocator's largest mmap threshold)
CONTENT = ("event_id", "customer", "metric", "quantity", "instant")


@dataclass
class KeptBatch:
    """The valid in-period rows of one batch of an origin: where they are, their id hashes, maybe their content."""

    origin: int
    start: int  # record of the batch's first row (kept or not)
    size: int  # rows in the batch
    kept: np.ndarray | None  # packed bits over the batch's rows, None when every row was kept
    count: int  # kept rows
    rows: pa.RecordBatch | None  # CONTENT of the kept rows, when kept in memory

    def offsets(self, local: np.ndarray) -> np.ndarray:
        """Positions in the batch of the kept rows number ``local`` (0 = the first kept row)."""
        if self.kept is None:
            return local
        return np.flatnonzero(np.unpackbits(self.kept, count=self.size))[local]


class KeptStore:
    """Kept batches in reading order."""

    def __init__(self, memory_budget: int | None = None) -> None:
        self.batches: list[KeptBatch] = []
        self.count = 0
        self.hash_blocks: list[np.ndarray] = []  # the kept rows' id hashes, in reading order
        self._budget = MEMORY_BUDGET if memory_budget is None else memory_budget
        self._in_memory = 0

    def add(
        self,
        origin: int,
        start: int,
        kept: np.ndarray,
        hashes: np.ndarray,
        content: list[pa.Array],
        *,
        rereadable: bool,
    ) -> None:
        """``kept``: which rows of the batch (starting at record ``start``) were kept; ``content``: theirs."""
        rows = pa.RecordBatch.from_arrays(content, names=list(CONTENT))
        if rereadable and self._in_memory + rows.nbytes > self._budget:
            rows = None
        else:
            self._in_memory += rows.nbytes
        count = len(hashes)
        bits = None if count == len(kept) else np.packbits(kept)
        self.batches.append(KeptBatch(origin, start, len(kept), bits, count, rows))
        done = 0
        while done < count:
            used = self.count % HASH_BLOCK
            if used == 0:
                self.hash_blocks.append(np.empty(HASH_BLOCK, dtype=np.uint64))
            step = min(count - done, HASH_BLOCK - used)
            self.hash_blocks[-1][used : used + step] = hashes[done : done + step]
            done += step
            self.count += step

    def pop_hashes(self) -> Iterator[np.ndarray]:
        """The hashes, block by block in reading order, each block dropped by the store once given."""
        blocks, self.hash_blocks = self.hash_blocks, []
        left = self.count
        while blocks:
            block = blocks.pop(0)
            yield block[: min(left, HASH_BLOCK)]
            left -= HASH_BLOCK
            del block
