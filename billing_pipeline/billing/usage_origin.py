"""Where a stream of usage rows comes from, and how a problem about one of its rows names it."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import pyarrow as pa

from billing_pipeline.billing.problems import ProblemLog


@dataclass
class UsageOrigin:
    """Where a stream of usage rows comes from (a file, a table), as problems name it.

    ``row_number`` turns a 0-based record index of the stream into the ``row`` of a problem;
    ``noun`` is how a message names such a row ("line", "record", "row").
    """

    label: str
    rows: int = 0

    @property
    def noun(self) -> str:
        return "record"

    def row_number(self, record: int, log: ProblemLog) -> int:
        """The 1-based position of a record in the stream."""
        return record + 1

    def located(self, record: int, value: object, log: ProblemLog) -> tuple[int | None, object]:
        """The ``row`` and ``value`` of a problem about a record whose offending value is ``value``."""
        return self.row_number(record, log), value

    def where(self, record: int, log: ProblemLog) -> str:
        """A record as another problem's message names it (the first copy of a repeated event)."""
        return f"{self.label} {self.noun} {self.row_number(record, log)}"

    @property
    def rereadable(self) -> bool:
        """Whether ``reread`` can serve the stream's batches a second time (a file can, a cursor cannot)."""
        return False

    def reread(self, starts: Collection[int], log: ProblemLog) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(first record, batch) for the batches that start at ``starts``, cut exactly as the first
        time (others may come too); a failure is reported to ``log`` and ends the iteration."""
        raise NotImplementedError
