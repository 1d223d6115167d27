"""Collecting input problems: all of them, in one report, readable even for a broken big file."""

from __future__ import annotations

from collections import Counter

from billing_pipeline.billing.models import InputProblem

# A usage file with a systematic error (a wrong column, a bad export) can have millions of bad
# rows. Each (file, field, reason) is listed row by row this many times, then summarized by a
# count, so the report stays readable while still naming every kind of problem and its size.
ROWS_LISTED_PER_KIND = 50


class ProblemLog:
    def __init__(self, rows_listed_per_kind: int = ROWS_LISTED_PER_KIND) -> None:
        self._listed: list[InputProblem] = []
        self._per_kind: Counter[tuple[str, str | None, str]] = Counter()
        self._limit = rows_listed_per_kind

    def add(
        self,
        file: str,
        reason: str,
        *,
        row: int | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        kind = (file, field, reason)
        self._per_kind[kind] += 1
        if self._per_kind[kind] <= self._limit:
            text = None if value is None else str(value)
            self._listed.append(InputProblem(file=file, row=row, field=field, value=text, reason=reason))

    def add_unlisted(self, file: str, reason: str, *, field: str | None = None, count: int) -> None:
        """Count ``count`` more rows with a problem without listing them (they are summarized)."""
        kind = (file, field, reason)
        self._per_kind[kind] += count

    def extend(self, problems: list[InputProblem]) -> None:
        for problem in problems:
            self.add(problem.file, problem.reason, row=problem.row, field=problem.field, value=problem.value)

    def __bool__(self) -> bool:
        return bool(self._per_kind)

    def __len__(self) -> int:
        return sum(self._per_kind.values())

    @property
    def problems(self) -> list[InputProblem]:
        summaries = [
            InputProblem(
                file=file,
                field=field,
                reason=f"{count - self._limit} more rows with this problem: {reason}",
            )
            for (file, field, reason), count in self._per_kind.items()
            if count > self._limit
        ]
        return [*self._listed, *summaries]
