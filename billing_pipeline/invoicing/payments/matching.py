"""Match credit transfers to invoices — pure, no Dagster, no HTTP (the pass is in ``payments.py``).

A transfer is matched by the invoice numbers found in its reference and label, then *confirmed*;
anything that does not confirm is reported as unmatched with its reason, never guessed:

* **Numbers.** Our numbers look like ``F-2026-00012``; payers retype them (``f 2026 00012``,
  ``F.2026.12``, ``F202600012``): the ``F-year-sequence`` pattern is read with any spaces, dashes, dots,
  underscores or slashes between the parts, in any case, the sequence padded to five digits. Numbers
  of any other shape (chosen by a person in Qonto) are found verbatim once case and separators are
  removed. Several numbers in one transfer pay several invoices. A number that looks like ours but
  is no invoice of the organization makes the whole transfer unmatched (it may be a typo for another).
* **Counterparty.** When both the payer's name and the client's name are known, they must share a
  significant word (legal forms and accents ignored); otherwise the transfer is unmatched — unless it
  is a **third party's payment**: its reference (the structured remittance field the payer fills in,
  not the bank's label) carries exactly one invoice number, nothing else points to another invoice,
  and the amount is exactly what remains due on it. Parent companies and accountants pay this way;
  an exact amount quoted deliberately is not a coincidence, whereas any other amount from a stranger
  (partial, over, several invoices) is left to a person. It is counted like the client's payment
  and reported with the payer's name.
* **Amount.** One invoice: any amount counts — less than what remains is a partial payment
  (instalments accumulate), more is an overpayment (the excess is reported). Several invoices: the
  amount must equal the sum of what remains on each (any other split would be a guess).
* **Due** = total − credit notes − transfers already counted. A canceled invoice (a person's
  cancellation, or a credit note for its full amount) is never paid: a transfer to it is unmatched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from billing_pipeline.invoicing.payments.records import Allocation, CountedTransaction, TransactionOutcome

ZERO = Decimal("0.00")
_SEPARATORS = r"[\s\-._/]*"
_OUR_NUMBER = re.compile(rf"(?<![A-Z])F{_SEPARATORS}(\d{{4}}){_SEPARATORS}(\d{{1,5}})(?!\d)")
_STRIP = re.compile(r"[\s\-._/]+")
_LEGAL_FORMS = frozenset(
    "SA SAS SASU SARL EURL SCI SNC SCOP SELARL GMBH AG KG UG LTD LIMITED INC LLC LLP PLC BV NV SPRL SRL SPA "
    "CO CIE ET DE DU DES LA LE LES THE AND OF".split()
)


def normalized(text: str) -> str:
    """Upper case without spaces, dashes, dots, underscores or slashes."""
    return _STRIP.sub("", text.upper())


def our_numbers(text: str) -> list[str]:
    """``F-<year>-<5 digits>`` numbers written in any of the usual ways, canonical and in order."""
    found = [f"F-{year}-{int(sequence):05d}" for year, sequence in _OUR_NUMBER.findall(text.upper())]
    return list(dict.fromkeys(found))


def _words(name: str) -> set[str]:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return {w for w in re.split(r"[^A-Z0-9]+", ascii_name.upper()) if len(w) >= 2 and w not in _LEGAL_FORMS}


def names_agree(payer: str | None, client: str | None) -> bool:
    """True unless both names are known and share no significant word."""
    if not payer or not client:
        return True
    payer_words, client_words = _words(payer), _words(client)
    if not payer_words or not client_words:
        return True
    return bool(payer_words & client_words)


@dataclass(frozen=True)
class BankCredit:
    """A completed credit transaction, as the matcher needs it (built once from Qonto's object)."""

    transaction_id: str
    amount: Decimal
    settled_on: date | None
    currency: str = "EUR"
    label: str | None = None
    reference: str | None = None
    counterparty: str | None = None

    @property
    def text(self) -> str:
        return " ".join(part for part in (self.reference, self.label) if part)


@dataclass
class OpenInvoice:
    """A finalized invoice and what is known of its payments; ``counted`` grows as transfers count."""

    invoice_id: str
    number: str
    total: Decimal
    credited: Decimal = ZERO
    counted: Decimal = ZERO
    status: str = "unpaid"
    client_name: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    client_id: str | None = None
    client_email: str | None = None

    @property
    def due(self) -> Decimal:
        return max(ZERO, self.total - self.credited)

    @property
    def remaining(self) -> Decimal:
        return self.due - self.counted

    @property
    def excess(self) -> Decimal:
        return max(ZERO, self.counted - self.due)

    @property
    def canceled(self) -> bool:
        return self.status == "canceled" or self.due == ZERO


@dataclass
class Matcher:
    """Decides what each credit transfer pays, in the order given (settlement order)."""

    invoices: list[OpenInvoice]
    _by_number: dict[str, OpenInvoice] = field(init=False)

    def __post_init__(self) -> None:
        self._by_number = {normalized(i.number): i for i in self.invoices if i.number}

    def invoice(self, number: str) -> OpenInvoice | None:
        return self._by_number.get(normalized(number))

    def _referenced(self, text: str) -> tuple[list[OpenInvoice], list[str]]:
        compact = normalized(text)
        found: dict[str, OpenInvoice] = {}
        unknown: list[str] = []
        for number in our_numbers(text):
            invoice = self.invoice(number)
            if invoice is None:
                unknown.append(number)
            else:
                found[invoice.invoice_id] = invoice
        for key, invoice in self._by_number.items():
            # numbers of another shape, verbatim (a following digit would make it another number)
            at = compact.find(key)
            while at >= 0:
                after = compact[at + len(key) : at + len(key) + 1]
                if not (after.isdigit() and key[-1:].isdigit()):
                    found.setdefault(invoice.invoice_id, invoice)
                    break
                at = compact.find(key, at + 1)
        return list(found.values()), unknown

    def match(self, credit: BankCredit) -> CountedTransaction:
        """The decision for one transfer; a counted one updates the invoices' ``counted``."""
        invoices, unknown = self._referenced(credit.text)
        reason = self._refusal(credit, invoices, unknown)
        if reason is not None:
            return self._unmatched(credit, reason)
        # past the refusals, a payer who is not the client can only be a third party paying exactly
        third_party = credit.counterparty if not self._payer_is_client(credit, invoices) else None
        if len(invoices) == 1:
            shares = [(invoices[0], credit.amount)]
        else:
            shares = [(invoice, invoice.remaining) for invoice in invoices]
        allocations, completes = [], []
        for invoice, share in shares:
            was_open = invoice.remaining > ZERO
            invoice.counted += share
            allocations.append(Allocation(transaction_id=credit.transaction_id, invoice_id=invoice.invoice_id,
                                          invoice_number=invoice.number, amount=share))  # fmt: skip
            if was_open and invoice.remaining <= ZERO and credit.settled_on is not None:
                paid_at = max(credit.settled_on, invoice.issue_date or credit.settled_on)
                completes.append((invoice.invoice_id, invoice.number, paid_at))
        return CountedTransaction(
            transaction_id=credit.transaction_id, outcome=TransactionOutcome.COUNTED, amount=credit.amount,
            settled_on=credit.settled_on, label=credit.label, reference=credit.reference,
            counterparty=credit.counterparty, allocations=tuple(allocations), completes=tuple(completes),
            paid_by_third_party=third_party,
        )  # fmt: skip

    def _refusal(self, credit: BankCredit, invoices: list[OpenInvoice], unknown: list[str]) -> str | None:
        if credit.currency.upper() != "EUR":
            return f"currency {credit.currency}: invoices are in EUR"
        if unknown:
            return f"no invoice numbered {', '.join(unknown)}"
        if not invoices:
            return "no invoice number in the reference or the label"
        numbers = ", ".join(i.number for i in invoices)
        canceled = [i.number for i in invoices if i.canceled]
        if canceled:
            return f"invoice {', '.join(canceled)} is canceled (credited in full or canceled in Qonto)"
        if not self._payer_is_client(credit, invoices):
            clients = ", ".join(sorted({i.client_name or "?" for i in invoices}))
            not_client = f"payer {credit.counterparty!r} is not the client of {numbers} ({clients})"
            if len(invoices) > 1:
                return not_client  # a stranger's transfer for several invoices is never a third party's payment
            why_not = self._not_a_third_party_payment(credit, invoices[0])
            if why_not is not None:
                return f"{not_client}; {why_not}"
        if len(invoices) > 1:
            settled = [i.number for i in invoices if i.remaining <= ZERO]
            if settled:
                return f"one transfer for {numbers}, but {', '.join(settled)} is already paid"
            expected = sum((i.remaining for i in invoices), ZERO)
            if credit.amount != expected:
                return f"one transfer of {credit.amount} for {numbers}, which have {expected} left to pay"
        return None

    @staticmethod
    def _payer_is_client(credit: BankCredit, invoices: list[OpenInvoice]) -> bool:
        return any(names_agree(credit.counterparty, i.client_name) for i in invoices)

    def _not_a_third_party_payment(self, credit: BankCredit, invoice: OpenInvoice) -> str | None:
        """Why a transfer from someone other than the client is not ``invoice``'s payment, or None when
        it is: the number in the reference (a label is the bank's text, often the payer's own name and
        words, so a number there alone is weaker evidence) and exactly the amount still due."""
        in_reference, _ = self._referenced(credit.reference or "")
        if [i.invoice_id for i in in_reference] != [invoice.invoice_id]:
            return "a third party's transfer counts only with the invoice number in its reference"
        if credit.amount != invoice.remaining:
            due = max(ZERO, invoice.remaining)
            return f"a third party's transfer counts only for exactly what is still due ({due})"
        return None

    @staticmethod
    def _unmatched(credit: BankCredit, reason: str) -> CountedTransaction:
        return CountedTransaction(
            transaction_id=credit.transaction_id, outcome=TransactionOutcome.UNMATCHED, amount=credit.amount,
            settled_on=credit.settled_on, label=credit.label, reference=credit.reference,
            counterparty=credit.counterparty, reason=reason,
        )  # fmt: skip


def apply_allocations(invoices: Iterable[OpenInvoice], allocations: Iterable[Allocation]) -> None:
    """Fold the ledger's earlier allocations into ``counted`` (instalments accumulate across passes)."""
    by_id = {i.invoice_id: i for i in invoices}
    for allocation in allocations:
        invoice = by_id.get(allocation.invoice_id)
        if invoice is not None:
            invoice.counted += allocation.amount
