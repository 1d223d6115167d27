"""The matcher alone: numbers found however they were typed, amounts and payers confirming, nothing guessed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing_pipeline.invoicing.payments.matching import (
    BankCredit,
    Matcher,
    OpenInvoice,
    apply_allocations,
    names_agree,
    our_numbers,
)
from billing_pipeline.invoicing.payments.records import Allocation, TransactionOutcome

DAY = date(2026, 11, 20)


def _invoice(number: str = "F-2026-00012", total: str = "120.00", **fields: object) -> OpenInvoice:
    return OpenInvoice(
        invoice_id=f"id-{number}", number=number, total=Decimal(total), client_name="Alpha Conseil SAS",
        issue_date=date(2026, 11, 3), **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def _credit(amount: str, reference: str | None = None, label: str | None = None, **fields: object) -> BankCredit:
    return BankCredit(
        transaction_id=f"tx-{amount}-{reference}-{label}", amount=Decimal(amount), settled_on=DAY,
        reference=reference, label=label, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_our_number_however_it_was_typed() -> None:
    for text in ("F-2026-00012", "f 2026 00012", "F.2026.00012", "F202600012", "ref: F_2026_12", "F-2026/00012"):
        assert our_numbers(text) == ["F-2026-00012"], text
    assert our_numbers("F-2026-00012 et F-2026-00013, F-2026-00012") == ["F-2026-00012", "F-2026-00013"]
    assert our_numbers("F-2026-000123") == []  # six digits: another number, not a truncated one
    assert our_numbers("REF2026 00012") == []  # the F of another word
    assert our_numbers("BP-2026-10-alpha") == []


@given(
    sequence=st.integers(min_value=1, max_value=99999),
    separators=st.lists(st.sampled_from(["", " ", "-", ".", "_", "/", " - "]), min_size=2, max_size=2),
    lower=st.booleans(),
    prefix=st.sampled_from(["", "VIR SEPA ", "Facture ", "paiement: "]),
    suffix=st.sampled_from(["", " merci", " ACME SAS", "."]),
)
def test_any_retyping_of_our_number_is_found(
    sequence: int, separators: list[str], lower: bool, prefix: str, suffix: str
) -> None:
    canonical = f"F-2026-{sequence:05d}"
    typed = f"F{separators[0]}2026{separators[1]}{sequence:05d}"
    text = f"{prefix}{typed.lower() if lower else typed}{suffix}"
    assert our_numbers(text) == [canonical]
    matcher = Matcher([_invoice(canonical)])
    assert matcher.match(_credit("120.00", label=text)).outcome == TransactionOutcome.COUNTED


def test_exact_payment_completes_the_invoice_on_the_settlement_date() -> None:
    matcher = Matcher([_invoice()])
    decision = matcher.match(_credit("120.00", reference="F-2026-00012"))
    assert decision.outcome == TransactionOutcome.COUNTED
    assert decision.completes == (("id-F-2026-00012", "F-2026-00012", DAY),)


def test_instalments_accumulate_and_the_last_one_completes() -> None:
    invoice = _invoice()
    matcher = Matcher([invoice])
    first = matcher.match(_credit("20.00", reference="F-2026-00012"))
    assert first.completes == () and invoice.remaining == Decimal("100.00")
    second = matcher.match(_credit("100.00", reference="F-2026-00012"))
    assert [c[0] for c in second.completes] == ["id-F-2026-00012"] and invoice.remaining == 0


def test_earlier_passes_count_through_the_ledger() -> None:
    invoice = _invoice()
    apply_allocations([invoice], [Allocation(transaction_id="t0", invoice_id=invoice.invoice_id,
                                             invoice_number=invoice.number, amount=Decimal("100.00"))])  # fmt: skip
    decision = Matcher([invoice]).match(_credit("20.00", reference="F-2026-00012"))
    assert decision.completes and invoice.remaining == 0


def test_overpayment_completes_and_shows_the_excess_then_a_second_payment_is_all_excess() -> None:
    invoice = _invoice()
    matcher = Matcher([invoice])
    assert matcher.match(_credit("125.00", reference="F-2026-00012")).completes
    assert invoice.excess == Decimal("5.00")
    again = matcher.match(_credit("120.00", reference="F-2026-00012"))
    assert again.outcome == TransactionOutcome.COUNTED and again.completes == ()  # marked once
    assert invoice.excess == Decimal("125.00")


def test_one_transfer_for_two_invoices_needs_the_exact_sum() -> None:
    a, b = _invoice("F-2026-00012", "120.00"), _invoice("F-2026-00013", "30.00")
    exact = Matcher([a, b]).match(_credit("150.00", reference="F-2026-00012 F-2026-00013"))
    assert exact.outcome == TransactionOutcome.COUNTED
    assert [(x.invoice_number, x.amount) for x in exact.allocations] == [
        ("F-2026-00012", Decimal("120.00")), ("F-2026-00013", Decimal("30.00"))
    ]  # fmt: skip
    a2, b2 = _invoice("F-2026-00012", "120.00"), _invoice("F-2026-00013", "30.00")
    split = Matcher([a2, b2]).match(_credit("100.00", reference="F-2026-00012 F-2026-00013"))
    assert split.outcome == TransactionOutcome.UNMATCHED and "150.00 left to pay" in (split.reason or "")
    assert a2.counted == b2.counted == 0


def test_unknown_number_no_number_canceled_invoice_and_other_currency_are_reported() -> None:
    matcher = Matcher([_invoice(), _invoice("F-2026-00020", credited=Decimal("120.00"))])
    cases = {
        "no invoice numbered F-2026-00099": _credit("120.00", reference="F-2026-00099"),
        # a known number next to an unknown one: the unknown may be a typo of another invoice
        "no invoice numbered F-2026-00098": _credit("120.00", reference="F-2026-00012 F-2026-00098"),
        "no invoice number": _credit("120.00", label="VIR ALPHA"),
        "is canceled": _credit("120.00", reference="F-2026-00020"),
        "currency USD": _credit("120.00", reference="F-2026-00012", currency="USD"),
    }
    for reason, credit in cases.items():
        decision = matcher.match(credit)
        assert decision.outcome == TransactionOutcome.UNMATCHED and reason in (decision.reason or ""), reason
        assert decision.allocations == ()


def test_the_payer_must_be_the_client_when_both_names_are_known() -> None:
    matcher = Matcher([_invoice()])
    # not the exact amount due: a third party's payment it is not (test_third_party.py), so not counted
    other = matcher.match(_credit("100.00", reference="F-2026-00012", counterparty="Zeta Holding GmbH"))
    assert other.outcome == TransactionOutcome.UNMATCHED and "not the client" in (other.reason or "")
    same = matcher.match(_credit("120.00", reference="F-2026-00012", counterparty="ALPHA CONSEIL"))
    assert same.outcome == TransactionOutcome.COUNTED
    assert names_agree(None, "Alpha") and names_agree("Élan SAS", "ELAN") and not names_agree("SAS Beta", "SAS Alpha")


def test_numbers_of_another_shape_are_found_verbatim() -> None:
    matcher = Matcher([_invoice("INV-77", "50.00")])
    assert matcher.match(_credit("50.00", label="payment inv 77 thanks")).outcome == TransactionOutcome.COUNTED
    assert Matcher([_invoice("INV-77", "50.00")]).match(_credit("50.00", label="INV-775")).outcome == (
        TransactionOutcome.UNMATCHED
    )


def test_a_credit_note_reduces_what_is_due() -> None:
    invoice = _invoice(credited=Decimal("20.00"))
    decision = Matcher([invoice]).match(_credit("100.00", reference="F-2026-00012"))
    assert decision.completes and invoice.excess == 0


def test_paid_at_is_never_before_the_issue_date() -> None:
    invoice = _invoice()
    early = BankCredit(
        transaction_id="t", amount=Decimal("120.00"), settled_on=date(2026, 11, 1), reference="F-2026-00012"
    )
    assert Matcher([invoice]).match(early).completes[0][2] == date(2026, 11, 3)


@given(st.lists(st.integers(min_value=1, max_value=20000), min_size=1, max_size=8))
def test_instalments_never_complete_twice_and_sum_exactly(cents: list[int]) -> None:
    invoice = _invoice(total="100.00")
    matcher = Matcher([invoice])
    completions = 0
    for n, amount in enumerate(cents):
        decision = matcher.match(
            BankCredit(
                transaction_id=f"t{n}", amount=Decimal(amount).scaleb(-2), settled_on=DAY, reference="F-2026-00012"
            )
        )
        completions += len(decision.completes)
    paid = sum((Decimal(c).scaleb(-2) for c in cents), Decimal("0"))
    assert invoice.counted == paid
    assert completions == (1 if paid >= Decimal("100.00") else 0)
    assert invoice.excess == max(Decimal("0"), paid - Decimal("100.00"))
