"""Dense integer codes for the customer ids and metrics of usage rows, checked against the known values.

Codes are handed out as values are met and never change, so arrays indexed by code (sums,
aggregation kinds, span lookups) stay valid across batches, files and tables.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.usage_columns import plain_strings


class Codes:
    """Dense integer codes for customer ids or metrics, checked against the known values."""

    def __init__(self, known: Collection[str] | None) -> None:
        self.known = None if known is None else frozenset(known)
        self.code_of: dict[str, int] = {}
        self.values: list[str] = []
        # the last dictionary and its codes: the row groups of a file usually share one
        self._last: tuple[pa.Array, np.ndarray] | None = None

    def accepts(self, value: str | None) -> bool:
        """Whether rows with this value pass the checks of ``encode`` (present, and known if a list is given)."""
        if value is None or not str(value).strip():
            return False
        return self.known is None or value in self.known

    def encode(self, column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(codes, missing mask, unknown mask) for a column of ids."""
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(plain_strings(column))
        if self._last is not None and self._last[0].equals(column.dictionary):
            mapping = self._last[1]  # codes never change once given
        else:
            mapping = self._mapping(column.dictionary)
            self._last = (column.dictionary, mapping)
        indices = column.indices.fill_null(len(mapping) - 1).to_numpy(zero_copy_only=False)
        codes = mapping[indices]
        return codes, codes == -1, codes == -2

    def _mapping(self, values: pa.Array) -> np.ndarray:
        """Code of each dictionary entry (-1 missing, -2 unknown), and -1 for nulls at the end."""
        dictionary = values.to_pylist()
        mapping = np.empty(len(dictionary) + 1, dtype=np.int32)
        for position, value in enumerate(dictionary):
            if value is None or not str(value).strip():
                mapping[position] = -1
            elif self.known is not None and value not in self.known:
                mapping[position] = -2
            else:
                code = self.code_of.get(value)
                if code is None:
                    code = self.code_of[value] = len(self.values)
                    self.values.append(value)
                mapping[position] = code
        mapping[-1] = -1  # null entries
        return mapping
