"""Integer-array helpers of the aggregations: runs, distinct values, slots, strings kept for some rows."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Names = Callable[[np.ndarray], list]  # rows -> their event_id (None for a row that has none)


class Strings:
    """Strings kept for some rows only, in row order: the rows ``rows_of()`` gives (sorted), asked for
    the first time they are needed (the event ids of the ordered kinds only break rare ties)."""

    def __init__(self, rows_of: Callable[[], np.ndarray], values: pa.Array) -> None:
        self._rows_of = rows_of
        self.values = values

    @cached_property
    def rows(self) -> np.ndarray:
        return self._rows_of()

    def _positions(self, rows: np.ndarray) -> np.ndarray | None:
        """Where ``rows`` (each one of ``self.rows``) are among them; None when they are all of them,
        in order (no copy dropped, none uncovered): then there is nothing to pick."""
        if len(rows) == len(self.rows) and np.array_equal(rows, self.rows):
            return None
        return np.searchsorted(self.rows, rows)

    def of(self, rows: np.ndarray) -> pa.Array:
        """The strings of ``rows`` (each one of ``self.rows``), in the order given."""
        positions = self._positions(rows)
        return self.values if positions is None else self.values.take(pa.array(positions))

    def codes_where(self, keep: np.ndarray) -> tuple[np.ndarray, int]:
        """(an integer per row of ``self.rows`` where ``keep`` holds, standing for its string — equal
        strings, equal integers, -1 for none —, how many integers there are): the strings encoded
        once, then picked as integers (a mask: no search for the rows)."""
        values = self.values
        if pa.types.is_dictionary(values.type):
            # a dictionary as read (``usage_files``): its entries encoded, each row's code looked up —
            # entries may repeat or go unused, so they are not the codes themselves
            entries = pc.dictionary_encode(values.dictionary)
            of_entry = np.append(entries.indices.fill_null(-1).to_numpy(zero_copy_only=False), -1)
            rows = values.indices.fill_null(len(values.dictionary)).to_numpy(zero_copy_only=False)
            return of_entry[rows[keep]].astype(np.int64), len(entries.dictionary)
        encoded = pc.dictionary_encode(values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return codes[keep].astype(np.int64), len(encoded.dictionary)


def runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, how many times each) of a sorted array — what ``np.unique(...,
    return_counts=True)`` gives, without its hash table (ten times slower here on int64)."""
    if not len(sorted_values):
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.append(True, sorted_values[1:] != sorted_values[:-1]))
    return sorted_values[starts], np.diff(np.append(starts, len(sorted_values)))


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct non-negative integers of ``values``, sorted (a bincount when they are dense)."""
    if len(values) and int(values.max()) < 4 * len(values) + (1 << 20):
        return np.flatnonzero(np.bincount(values))
    return runs(np.sort(values))[0]


def slots(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct keys, sorted; each key's index among them)."""
    if int(keys.max()) < 4 * len(keys) + (1 << 20):
        present = np.flatnonzero(np.bincount(keys))
        lookup = np.zeros(int(keys.max()) + 1, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        return present, lookup[keys]
    order = np.argsort(keys, kind="stable")
    found, counts = runs(keys[order])
    slot = np.empty(len(keys), dtype=np.int64)
    slot[order] = np.repeat(np.arange(len(found)), counts)
    return found, slot
