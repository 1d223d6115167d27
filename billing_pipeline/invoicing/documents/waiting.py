"""A period's documents waiting for their Factur-X file, as the readiness probe needs them (built by
the read model's query, ``invoicing/progress/pending.py``, or from whole lists with ``of``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from billing_pipeline.invoicing.corrections.records import CorrectionRecord
from billing_pipeline.invoicing.invoices.records import InvoiceRecord


@dataclass(frozen=True)
class PendingDocuments:
    """A period's documents waiting for their Factur-X file, as the readiness probe needs them.

    ``invoices`` (finalized, no stored file) and ``credit_notes`` (issued, no stored file) are the rows
    the probe may look at: read from the ledger, a bounded page chosen in SQL (``pending.py``); built
    with ``of`` from whole lists, all of them. The counts, the oldest finalization and the fingerprint
    always describe the whole waiting set, whatever the page holds.
    """

    invoices: list[InvoiceRecord] = field(default_factory=list)
    credit_notes: list[CorrectionRecord] = field(default_factory=list)
    invoice_count: int = 0
    credit_note_count: int = 0
    oldest_finalized_at: datetime | None = None
    fingerprint: str = ""  # changes whenever the waiting set does: the collection run's key

    @classmethod
    def of(cls, invoices: Sequence[InvoiceRecord], credit_notes: Sequence[CorrectionRecord] = ()) -> PendingDocuments:
        """The whole waiting set given as lists: the same counts and fingerprint as the ledger's query."""
        finalized = [r.finalized_at for r in invoices if r.finalized_at is not None]
        references = sorted(c.reference for c in credit_notes)
        oldest, newest = min(finalized, default=None), max(finalized, default=None)
        return cls(
            invoices=list(invoices),
            credit_notes=list(credit_notes),
            invoice_count=len(invoices),
            credit_note_count=len(credit_notes),
            oldest_finalized_at=oldest,
            fingerprint=pending_fingerprint(
                len(invoices), oldest, newest, len(references), references[0] if references else None,
                references[-1] if references else None,
            ),
        )  # fmt: skip

    @property
    def count(self) -> int:
        return self.invoice_count + self.credit_note_count


def pending_fingerprint(
    invoices: int,
    oldest: datetime | None,
    newest: datetime | None,
    credit_notes: int,
    first_note: str | None,
    last_note: str | None,
) -> str:
    """An identity of a waiting set computable by one GROUP BY (no row read): an invoice joins the set
    when finalized, with the newest finalization time; one leaves it when its file is stored, and the
    count drops. A set that changed both ways within one retry window keeps its key only if the
    newcomer was finalized no later than the newest already waiting — then its collection waits for
    the next window (readiness.RETRY_WINDOW_S) at worst, it is never lost."""
    parts = [str(invoices), _instant(oldest), _instant(newest), str(credit_notes), first_note or "", last_note or ""]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _instant(value: datetime | None) -> str:
    # SQLite hands timestamps back without their offset: everything the ledger stores is UTC
    if value is None:
        return ""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
