"""Contract tests for bank transactions and mark_as_paid: the client over loopback HTTP against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing_pipeline.emulator.testing import RunningEmulator, running_emulator
from billing_pipeline.qonto import QontoClient, QontoValidationError
from billing_pipeline.qonto.transactions import Transaction

from .test_contract_emulator import FAST, config_for
from .test_credit_notes_contract import finalized


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(render_delay_s=0) as running:
        yield running


def client_for(emulator: RunningEmulator) -> QontoClient:
    return QontoClient(config_for(emulator), retry_policy=FAST)


async def _all(qonto: QontoClient, **filters: object) -> list[Transaction]:
    account = (await qonto.get_organization()).main_account()
    return [t async for t in qonto.iter_transactions(bank_account_id=account.id, **filters)]


async def test_transactions_with_their_fields_filters_sort_and_pages(emulator: RunningEmulator) -> None:
    base = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for n in range(5):
        settled_at = (base + timedelta(days=n)).isoformat()
        emulator.transfer(f"{n + 1}0.05", reference=f"F-2026-0000{n}", counterparty=f"Payer {n}", settled_at=settled_at)
    emulator.transfer("7.00", side="debit", label="Qonto fees", settled_at=base.isoformat())
    emulator.transfer("8.00", status="pending", reference="F-2026-00009")
    async with client_for(emulator) as qonto:
        everything = await _all(qonto, per_page=2)  # three pages
        credits = await _all(qonto, side="credit", status=["completed"], sort_by="settled_at:asc")
        window = await _all(
            qonto, side="credit", settled_at_from=base + timedelta(days=1), settled_at_to=base + timedelta(days=2)
        )
        account = (await qonto.get_organization()).main_account()
        by_iban = await qonto.list_transactions(iban=account.iban, side="debit")
        with pytest.raises(ValueError, match="bank_account_id or iban"):
            await qonto.list_transactions()

    assert len(everything) == 7
    assert [t.reference for t in credits] == [f"F-2026-0000{n}" for n in range(5)]
    first = credits[0]
    assert first.amount == Decimal("10.05") and str(first.amount) == "10.05"  # exact, from amount_cents
    assert first.side == "credit" and first.status == "completed" and first.operation_type == "income"
    assert first.clean_counterparty_name == "Payer 0" and first.currency == "EUR"
    assert first.settled_at == base and first.updated_at is not None
    assert first.transfer is not None and first.transfer.counterparty_account_number == "FR7630006000011234567890189"
    assert [t.reference for t in window] == ["F-2026-00002", "F-2026-00001"]  # settled_at:desc by default
    assert [t.label for t in by_iban.items] == ["Qonto fees"]


async def test_mark_as_paid_sets_paid_at_and_amount_paid_and_is_safe_to_repeat(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as qonto:
        invoice = await finalized(qonto)
        assert invoice.issue_date is not None
        day = invoice.issue_date + timedelta(days=1)
        # the answer of the first call is lost: the call is repeated (Qonto only updates paid_at)
        emulator.queue_fault("lost_response", "POST", r"/mark_as_paid$")
        paid = await qonto.mark_client_invoice_paid(invoice.id, day)
        again = await qonto.mark_client_invoice_paid(invoice.id, day + timedelta(days=1))
        with pytest.raises(QontoValidationError):
            await qonto.mark_client_invoice_paid(invoice.id, datetime.now(UTC).date() + timedelta(days=400))

    assert paid.status == "paid" and paid.paid_at is not None
    assert paid.paid_at.date() == day
    assert paid.amount_paid is not None and invoice.total_amount is not None
    assert paid.amount_paid.value == invoice.total_amount.value
    assert again.status == "paid" and again.paid_at is not None and again.paid_at.date() == day + timedelta(days=1)
