"""The matcher and third-party payers (issue 23): a transfer whose reference carries exactly one invoice
number and whose amount is exactly what remains due pays that invoice whoever sent it; any other
transfer from someone who is not the client still goes to a person, with its reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing_pipeline.invoicing.payments.matching import BankCredit, Matcher, OpenInvoice, apply_allocations
from billing_pipeline.invoicing.payments.records import Allocation, TransactionOutcome
from billing_pipeline.invoicing.payments.service import MatchedRow, PaymentReport, UnmatchedRow

DAY = date(2026, 11, 20)
CLIENT = "Alpha Conseil SAS"
ACCOUNTANT = "Cabinet Comptable Durand"


def _invoice(number: str = "F-2026-00012", total: str = "120.00") -> OpenInvoice:
    return OpenInvoice(
        invoice_id=f"id-{number}", number=number, total=Decimal(total), client_name=CLIENT, issue_date=date(2026, 11, 3)
    )


def _credit(
    amount: str, reference: str | None = None, label: str | None = None, counterparty: str | None = ACCOUNTANT
) -> BankCredit:
    return BankCredit(
        transaction_id=f"tx-{amount}-{reference}-{label}-{counterparty}", amount=Decimal(amount), settled_on=DAY,
        reference=reference, label=label, counterparty=counterparty,
    )  # fmt: skip


def test_a_third_party_paying_exactly_what_is_due_pays_the_invoice_and_is_named() -> None:
    invoice = _invoice()
    decision = Matcher([invoice]).match(_credit("120.00", reference="Facture F 2026 00012", label="VIR DURAND"))

    assert decision.outcome == TransactionOutcome.COUNTED
    assert decision.paid_by_third_party == ACCOUNTANT
    assert [(a.invoice_number, a.amount) for a in decision.allocations] == [("F-2026-00012", Decimal("120.00"))]
    assert decision.completes == (("id-F-2026-00012", "F-2026-00012", DAY),)
    assert invoice.remaining == 0


def test_what_remains_due_after_the_clients_instalment_is_what_a_third_party_must_pay() -> None:
    invoice = _invoice()
    matcher = Matcher([invoice])
    first = matcher.match(_credit("20.00", reference="F-2026-00012", counterparty="ALPHA CONSEIL"))
    assert first.paid_by_third_party is None  # the client's own payment is not a third party's

    rest = matcher.match(_credit("100.00", reference="F-2026-00012"))
    assert rest.outcome == TransactionOutcome.COUNTED and rest.paid_by_third_party == ACCOUNTANT
    assert [c[0] for c in rest.completes] == ["id-F-2026-00012"]


def test_earlier_passes_count_toward_what_remains_due() -> None:
    invoice = _invoice()
    apply_allocations([invoice], [Allocation(transaction_id="t0", invoice_id=invoice.invoice_id,
                                             invoice_number=invoice.number, amount=Decimal("20.00"))])  # fmt: skip
    whole = Matcher([invoice]).match(_credit("120.00", reference="F-2026-00012"))
    assert whole.outcome == TransactionOutcome.UNMATCHED and "(100.00)" in (whole.reason or "")


def test_a_third_partys_partial_or_overpayment_goes_to_review_with_its_reason() -> None:
    for amount in ("100.00", "125.00"):
        invoice = _invoice()
        decision = Matcher([invoice]).match(_credit(amount, reference="F-2026-00012"))
        assert decision.outcome == TransactionOutcome.UNMATCHED, amount
        assert decision.reason == (
            f"payer {ACCOUNTANT!r} is not the client of F-2026-00012 ({CLIENT}); "
            "a third party's transfer counts only for exactly what is still due (120.00)"
        )
        assert decision.allocations == () and decision.completes == () and invoice.counted == 0


def test_a_third_partys_second_payment_of_a_paid_invoice_is_not_an_overpayment() -> None:
    invoice = _invoice()
    matcher = Matcher([invoice])
    assert matcher.match(_credit("120.00", reference="F-2026-00012", counterparty=CLIENT)).completes
    again = matcher.match(_credit("120.00", reference="F-2026-00012"))
    assert again.outcome == TransactionOutcome.UNMATCHED and "still due (0.00)" in (again.reason or "")
    assert invoice.excess == 0


def test_a_number_only_in_the_label_is_not_enough_from_a_third_party() -> None:
    # the contract names the reference: the label is the bank's text (often the payer's own words)
    for reference in (None, "Honoraires novembre"):
        decision = Matcher([_invoice()]).match(
            _credit("120.00", reference=reference, label="VIR CABINET COMPTABLE DURAND F-2026-00012")
        )
        assert decision.outcome == TransactionOutcome.UNMATCHED, reference
        assert "not the client" in (decision.reason or "") and "in its reference" in (decision.reason or "")
    # from the client, the label is enough (as before)
    client = Matcher([_invoice()]).match(_credit("120.00", label="VIR ALPHA F-2026-00012", counterparty=CLIENT))
    assert client.outcome == TransactionOutcome.COUNTED and client.paid_by_third_party is None


def test_the_number_in_both_reference_and_label_is_one_number() -> None:
    decision = Matcher([_invoice()]).match(_credit("120.00", reference="F-2026-00012", label="DURAND F2026 00012"))
    assert decision.outcome == TransactionOutcome.COUNTED and decision.paid_by_third_party == ACCOUNTANT


def test_several_numbers_from_a_third_party_are_unchanged_even_at_the_exact_sum() -> None:
    reason = f"payer {ACCOUNTANT!r} is not the client of F-2026-00012, F-2026-00013 ({CLIENT})"
    for reference, label in (("F-2026-00012 F-2026-00013", None), ("F-2026-00012", "F-2026-00013")):
        a, b = _invoice("F-2026-00012", "120.00"), _invoice("F-2026-00013", "30.00")
        decision = Matcher([a, b]).match(_credit("150.00", reference=reference, label=label))
        assert decision.outcome == TransactionOutcome.UNMATCHED and decision.reason == reason, (reference, label)
        assert a.counted == b.counted == 0


def test_an_unknown_payer_name_is_no_third_party() -> None:
    decision = Matcher([_invoice()]).match(_credit("100.00", reference="F-2026-00012", counterparty=None))
    assert decision.outcome == TransactionOutcome.COUNTED and decision.paid_by_third_party is None


@given(
    total_cents=st.integers(min_value=1, max_value=50_000),
    earlier_cents=st.integers(min_value=0, max_value=60_000),
    exact=st.booleans(),
    other_cents=st.integers(min_value=1, max_value=60_000),
    where=st.sampled_from(["reference", "label", "both"]),
    second_number=st.booleans(),
)
def test_a_third_party_is_matched_only_to_exactly_what_remains_on_the_one_number_in_its_reference(
    total_cents: int, earlier_cents: int, exact: bool, other_cents: int, where: str, second_number: bool
) -> None:
    invoice = _invoice(total=str(Decimal(total_cents).scaleb(-2)))
    other = _invoice("F-2026-00013", "30.00")
    if earlier_cents:
        apply_allocations([invoice], [Allocation(transaction_id="t0", invoice_id=invoice.invoice_id,
                                                 invoice_number=invoice.number,
                                                 amount=Decimal(earlier_cents).scaleb(-2))])  # fmt: skip
    remaining = invoice.remaining
    amount = remaining if exact and remaining > 0 else Decimal(other_cents).scaleb(-2)
    reference = "F-2026-00012" if where in ("reference", "both") else None
    label = "F 2026 00012" if where in ("label", "both") else None
    if second_number:
        label = f"{label or ''} F-2026-00013"

    decision = Matcher([invoice, other]).match(_credit(str(amount), reference=reference, label=label))

    payable = where != "label" and not second_number and amount == remaining
    assert (decision.outcome == TransactionOutcome.COUNTED) == payable
    if payable:
        assert decision.paid_by_third_party == ACCOUNTANT
        assert [(a.invoice_id, a.amount) for a in decision.allocations] == [(invoice.invoice_id, remaining)]
        assert [c[0] for c in decision.completes] == [invoice.invoice_id] and invoice.remaining == 0
    else:
        assert decision.allocations == () and invoice.remaining == remaining and other.counted == 0
        assert "not the client" in (decision.reason or "")


def test_the_json_names_the_third_party_in_an_extra_key_and_keeps_the_clients_rows_as_they_were() -> None:
    report = PaymentReport(
        matched=[
            MatchedRow(transaction_id="t1", invoice_numbers=["F-2026-00012"], amount="120.00"),
            MatchedRow(transaction_id="t2", invoice_numbers=["F-2026-00013"], amount="30.00",
                       paid_by_third_party=ACCOUNTANT),
        ],
        unmatched=[UnmatchedRow(transaction_id="t3", amount="1.00", label=None, reference=None, reason="why")],
    )  # fmt: skip
    assert report.contract_json() == {
        "matched": [
            {"transaction_id": "t1", "invoice_numbers": ["F-2026-00012"], "amount": "120.00"},
            {"transaction_id": "t2", "invoice_numbers": ["F-2026-00013"], "amount": "30.00",
             "paid_by_third_party": ACCOUNTANT},
        ],
        "partial": [],
        "overpaid": [],
        "unmatched": [{"transaction_id": "t3", "amount": "1.00", "label": None, "reference": None}],
    }  # fmt: skip
