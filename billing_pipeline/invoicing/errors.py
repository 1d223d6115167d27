"""Typed failures of the invoicing layer, each naming the customer it concerns.

Steps work on every customer of a period concurrently; when several fail, every failure is kept
(``CustomerFailures``) instead of raising the first and dropping the others, so that a finance
person sees the whole list in one place (the Dagster layer turns it into one ``Failure``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


class InvoicingError(RuntimeError):
    """An invoicing problem about one customer (or the whole period when ``customer_id`` is None)."""

    def __init__(self, message: str, *, customer_id: str | None = None, action: str | None = None) -> None:
        super().__init__(message)
        self.customer_id = customer_id
        self.action = action  # what a person should do about it, when there is something to do

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} — {self.action}" if self.action else message


class UnresolvedCreate(InvoicingError):
    """A create had an unknown outcome and the object is not visible in Qonto yet: re-run the step."""


class InvoiceMissingInQonto(InvoicingError):
    """The ledger records a numbered invoice that Qonto does not know (404): never re-created blindly."""


class DraftDeletedInQonto(InvoicingError):
    """A draft the pipeline was about to finalize is gone from Qonto (a person deleted it)."""


class DraftEditedInQonto(InvoicingError):
    """A person changed a draft in Qonto: it is not finalized at an amount the plan does not have."""


class ForeignClient(InvoicingError):
    """A Qonto object we would adopt belongs to another customer's client."""


class CustomerFailures(InvoicingError):
    """Several customers of one step failed; every one of them is listed."""

    def __init__(self, step: str, failures: Sequence[BaseException]) -> None:
        self.step = step
        self.failures = list(failures)
        lines = [f"- {_who(error)}: {error}" for error in self.failures]
        super().__init__(f"{step}: {len(self.failures)} failure(s)\n" + "\n".join(lines))

    def customers(self) -> list[str]:
        return sorted({getattr(error, "customer_id", None) or "(period)" for error in self.failures})


def _who(error: BaseException) -> str:
    customer = getattr(error, "customer_id", None)
    return f"customer {customer}" if customer else type(error).__name__


def successes_or_raise(step: str, results: Iterable[T | BaseException]) -> list[T]:
    """The results of ``gather(..., return_exceptions=True)``; raise every failure at once, if any."""
    values: list[T] = []
    failures: list[BaseException] = []
    for result in results:
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # KeyboardInterrupt, CancelledError: not ours to collect
            failures += result.failures if isinstance(result, CustomerFailures) else [result]
        else:
            values.append(result)
    if len(failures) == 1 and isinstance(failures[0], InvoicingError):
        raise failures[0]
    if failures:
        raise CustomerFailures(step, failures)
    return values
