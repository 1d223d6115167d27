"""Write ``fixtures/ledger_release_a86cc62.sql``: a ledger as the release before versioning leaves it.

How it was made: at commit a86cc62 (the last release without ``ledger_schema_version``), from a
checkout of that commit::

    PYTHONPATH=<checkout of a86cc62> python -m billing_pipeline_tests.ledger.make_release_fixture

It opens a fresh SQLite ledger with that release's ``Ledger`` class, fills EVERY table through its
public ``record_*`` methods only (so the rows are what that code really writes: its timestamps, its
decimal strings, its JSON), and dumps the database as SQL text (``sqlite3.iterdump``). The migration
tests load the dump into a temporary SQLite file and upgrade it. Re-running it on later code would
no longer describe that release: run it only on a86cc62 (it imports ``billing_pipeline.invoicing``,
which later commits move).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from billing_pipeline.invoicing.ledger_delivery import DeliveryChannel, DeliveryState
from billing_pipeline.invoicing.ledger_payments import (
    Allocation,
    CountedTransaction,
    ReminderState,
    TransactionOutcome,
)
from billing_pipeline.invoicing.ledger_schema import ExpectedLine
from billing_pipeline.invoicing.references import InvoiceReference

from billing_pipeline.invoicing.ledger import Ledger, PlannedContent

RELEASE = "a86cc62"
FIXTURE = Path(__file__).parent / "fixtures" / f"ledger_release_{RELEASE}.sql"
TABLES = (
    "client_links",
    "correction_records",
    "delivery_records",
    "invoice_records",
    "payment_allocations",
    "payment_cursor",
    "payment_markings",
    "payment_reminders",
    "payment_transactions",
)

MENTIONS = {"legal_capital_share": "10 000 EUR", "late_payment_penalties": "3 times the legal rate"}


def _content(customer: str, net: str, lines: int = 2) -> PlannedContent:
    net_total = Decimal(net)
    vat_total = (net_total * Decimal("0.2")).quantize(Decimal("0.01"))
    per_line = (net_total / lines).quantize(Decimal("0.01"))
    expected = tuple(
        ExpectedLine(
            title=f"API calls — tier {index + 1}",
            quantity=Decimal("1000"),
            unit_price=per_line / 1000,
            vat_rate=Decimal("0.2"),
            net_amount=per_line,
            description=f"usage of {customer}",
            unit="unit",
        )
        for index in range(lines)
    )
    return PlannedContent(
        digest=f"{customer}-{net}".encode().hex().ljust(64, "0")[:64],
        net_total=net_total,
        vat_total=vat_total,
        total=net_total + vat_total,
        lines=expected,
        buyer_siren="552100554" if customer == "acme" else None,
        mentions=MENTIONS,
    )


def _finalize(ledger: Ledger, ref: InvoiceReference, invoice_id: str, client_id: str, number: str, net: str) -> None:
    ledger.record_invoice_intent(ref, client_id)
    ledger.record_draft(ref, invoice_id=invoice_id, client_id=client_id, content=_content(ref.customer_id, net))
    ledger.record_finalized(
        ref, invoice_id=invoice_id, client_id=client_id, number=number,
        finalized_at=datetime(2026, 11, 3, 9, 30, 12, tzinfo=UTC), attachment_id=None,
    )  # fmt: skip
    ledger.record_attachment(
        ref, attachment_id=f"att-{invoice_id}", finalized_at=datetime(2026, 11, 3, 9, 30, 12, tzinfo=UTC),
        number=number,
    )  # fmt: skip


def fill(ledger: Ledger) -> None:
    """Every table, every state, through the release's public methods."""
    # -- client_links: linked (with and without identifiers), still creating
    ledger.record_client_intent("acme", "billing@acme.example", "d" * 64, vat_number="FR40552100554")
    ledger.link_client("acme", "cl-acme", "billing@acme.example", "d" * 64, vat_number="FR40552100554",
                       tax_identification_number="55210055400013")  # fmt: skip
    for customer in ("globex", "initech", "umbrella", "hooli", "stark"):
        ledger.record_client_intent(customer, f"ap@{customer}.example", customer.encode().hex().ljust(64, "0"))
        ledger.link_client(customer, f"cl-{customer}", f"ap@{customer}.example", customer.encode().hex().ljust(64, "0"))
    ledger.record_client_intent("wayne", "finance@wayne.example", "e" * 64)  # lost create: still creating

    # -- invoice_records: every state
    period = "2026-10"
    ledger.record_invoice_intent(InvoiceReference.of("wayne", period), "cl-wayne")  # creating
    draft = InvoiceReference.of("initech", period)
    ledger.record_invoice_intent(draft, "cl-initech")
    ledger.record_draft(draft, invoice_id="inv-initech-10", client_id="cl-initech", content=_content("initech", "80"))
    finalized = InvoiceReference.of("globex", period)
    _finalize(ledger, finalized, "inv-globex-10", "cl-globex", "F-2026-0102", "1250.50")
    ledger.record_checked(finalized)
    stored = InvoiceReference.of("acme", period)
    _finalize(ledger, stored, "inv-acme-10", "cl-acme", "F-2026-0101", "23.00")
    ledger.record_stored(stored, file_path="invoices/2026-10/F-2026-0101.pdf", sha256="a" * 64)
    rejected = InvoiceReference.of("umbrella", period)
    _finalize(ledger, rejected, "inv-umbrella-10", "cl-umbrella", "F-2026-0103", "310.00")
    ledger.record_rejected(rejected, problems="BR-CO-15: total with VAT 372.00 ≠ 372.01 " + "x" * 4100)
    canceled = InvoiceReference.of("hooli", period)
    _finalize(ledger, canceled, "inv-hooli-10", "cl-hooli", "F-2026-0104", "99.99")
    ledger.record_canceled(canceled, invoice_id="inv-hooli-10", number="F-2026-0104", reason="canceled in Qonto")
    abandoned = InvoiceReference.of("stark", period)
    ledger.record_invoice_intent(abandoned, "cl-stark")
    ledger.record_abandoned(abandoned, reason="customer no longer planned for 2026-10")
    previous = InvoiceReference.of("acme", "2026-09")
    _finalize(ledger, previous, "inv-acme-09", "cl-acme", "F-2026-0090", "27.60")
    ledger.record_stored(previous, file_path="invoices/2026-09/F-2026-0090.pdf", sha256="b" * 64)

    # -- correction_records: creating, issued, stored, rejected
    corrections = [
        (stored, "inv-acme-10", "F-2026-0101", "AV-2026-0001", "-27.60"),
        (finalized, "inv-globex-10", "F-2026-0102", "AV-2026-0002", "-1500.60"),
        (rejected, "inv-umbrella-10", "F-2026-0103", "AV-2026-0003", "-372.00"),
    ]
    for ref, invoice_id, number, note_number, total in corrections:
        reference = f"{ref}/avoir/{number}"
        ledger.record_correction_intent(
            reference, customer_id=ref.customer_id, period=ref.period.key, kind="credit_note",
            corrects_invoice_id=invoice_id, corrects_number=number,
        )  # fmt: skip
        ledger.record_correction_issued(
            reference, qonto_id=f"cn-{invoice_id}", number=note_number, total=total,
            attachment_id=f"att-cn-{invoice_id}", finalized_at=datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
        )  # fmt: skip
    ledger.record_correction_stored(f"{stored}/avoir/F-2026-0101", file_path="credit_notes/AV-2026-0001.pdf",
                                    sha256="c" * 64)  # fmt: skip
    ledger.record_correction_rejected(f"{rejected}/avoir/F-2026-0103", problems="attachment is not a Factur-X PDF")
    ledger.record_correction_intent(
        f"{previous}/avoir/F-2026-0090", customer_id="acme", period="2026-09", kind="credit_note",
        corrects_invoice_id="inv-acme-09", corrects_number="F-2026-0090",
    )  # fmt: skip

    # -- delivery_records: every state
    def intent(invoice_id: str, ref: InvoiceReference, number: str, channel: DeliveryChannel) -> None:
        recipients = [] if channel == DeliveryChannel.EINVOICE else [f"ap@{ref.customer_id}.example"]
        ledger.record_delivery_intent(
            invoice_id, reference=str(ref), customer_id=ref.customer_id, period=ref.period.key, number=number,
            channel=channel, recipients=recipients,
        )  # fmt: skip

    events = [{"status_code": "202", "occurred_at": "2026-11-04T10:00:00+01:00", "label": "received"}]
    intent("inv-acme-10", stored, "F-2026-0101", DeliveryChannel.EINVOICE)
    ledger.record_delivery_submitted("inv-acme-10")
    ledger.record_delivery_progress("inv-acme-10", DeliveryState.RECEIVED, einvoicing_status="received", events=events)
    intent("inv-acme-09", previous, "F-2026-0090", DeliveryChannel.EINVOICE)
    ledger.record_delivery_submitted("inv-acme-09")  # submitted, travelling
    intent("inv-globex-10", finalized, "F-2026-0102", DeliveryChannel.EMAIL)
    ledger.record_delivery_sent("inv-globex-10")
    intent("inv-umbrella-10", rejected, "F-2026-0103", DeliveryChannel.EMAIL)
    ledger.record_delivery_unknown("inv-umbrella-10", reason="read timeout after 30 s: did the email leave?")
    intent("inv-hooli-10", canceled, "F-2026-0104", DeliveryChannel.EMAIL)
    ledger.record_delivery_failed("inv-hooli-10", reason="Qonto 422: client has no email")
    ledger.record_delivery_resolved("inv-hooli-10", left=False, by="jane@ops.example")  # resend
    for invoice_id, to, status in (
        ("inv-x-refused", DeliveryState.REFUSED, "refused"),
        ("inv-x-disputed", DeliveryState.DISPUTED, "disputed"),
    ):
        ledger.record_delivery_intent(
            invoice_id, reference="BP-2026-10-initech", customer_id="initech", period=period, number=None,
            channel=DeliveryChannel.EINVOICE, recipients=[],
        )  # fmt: skip
        ledger.record_delivery_submitted(invoice_id)
        ledger.record_delivery_progress(invoice_id, to, einvoicing_status=status, events=events, reason=status)
    ledger.record_delivery_intent(
        "inv-x-sending", reference="BP-2026-10-wayne", customer_id="wayne", period=period, number=None,
        channel=DeliveryChannel.EMAIL, recipients=["finance@wayne.example", "ceo@wayne.example"],
    )  # fmt: skip

    # -- payments: counted (completing -> marking, then marked / marking with error), unmatched, completion
    ledger.record_transaction(
        CountedTransaction(
            transaction_id="tx-0001", outcome=TransactionOutcome.COUNTED, amount=Decimal("27.60"),
            settled_on=date(2026, 10, 15), label="VIR ACME SEPA", reference="F-2026-0090", counterparty="ACME SAS",
            allocations=(Allocation(transaction_id="tx-0001", invoice_id="inv-acme-09", invoice_number="F-2026-0090",
                                    amount=Decimal("27.60")),),
            completes=(("inv-acme-09", "F-2026-0090", date(2026, 10, 15)),),
        )
    )  # fmt: skip
    ledger.record_marked("inv-acme-09")
    ledger.record_transaction(
        CountedTransaction(
            transaction_id="tx-0002", outcome=TransactionOutcome.COUNTED, amount=Decimal("1500.60"),
            settled_on=date(2026, 11, 12), label="GLOBEX PAYMENT F-2026-0102", reference=None, counterparty="Globex",
            allocations=(
                Allocation(transaction_id="tx-0002", invoice_id="inv-globex-10", invoice_number="F-2026-0102",
                           amount=Decimal("1500.60")),
            ),
            completes=(("inv-globex-10", "F-2026-0102", date(2026, 11, 12)),),
        )
    )  # fmt: skip
    ledger.record_marking_error("inv-globex-10", "Qonto 503 while marking paid " + "y" * 2100)
    ledger.record_transaction(
        CountedTransaction(
            transaction_id="tx-0003", outcome=TransactionOutcome.COUNTED, amount=Decimal("100.00"),
            settled_on=date(2026, 11, 13), label="UMBRELLA PARTIAL", counterparty="Umbrella Corp",
            allocations=(Allocation(transaction_id="tx-0003", invoice_id="inv-umbrella-10",
                                    invoice_number="F-2026-0103", amount=Decimal("100.00")),),
        )
    )  # fmt: skip
    ledger.record_transaction(
        CountedTransaction(
            transaction_id="tx-0004", outcome=TransactionOutcome.UNMATCHED, amount=Decimal("42.00"),
            settled_on=None, label="UNKNOWN SENDER", counterparty="M. Dupont",
            reason="no open invoice of 42.00 EUR and no invoice number in the label",
        )
    )  # fmt: skip
    ledger.record_completion("inv-acme-10", "F-2026-0101", date(2026, 11, 21), completed_by="cn-inv-acme-10")
    ledger.set_payment_cursor("transactions_updated_at", "2026-11-13T08:00:00.123456+00:00")

    # -- payment_reminders: every state
    ledger.move_reminder("inv-umbrella-10", 7, ReminderState.SKIPPED, invoice_number="F-2026-0103")
    reminders = [
        ("inv-umbrella-10", 14, ReminderState.SENT, None),
        ("inv-globex-10", 7, ReminderState.UNKNOWN, "read timeout after 30 s"),
        ("inv-acme-10", 7, ReminderState.FAILED, "Qonto 422: invoice already paid"),
    ]
    for invoice_id, days, final, error in reminders:
        number = {"inv-umbrella-10": "F-2026-0103", "inv-globex-10": "F-2026-0102"}.get(invoice_id, "F-2026-0101")
        ledger.move_reminder(invoice_id, days, ReminderState.SENDING, invoice_number=number,
                             recipients=f"ap@{invoice_id.split('-')[1]}.example")  # fmt: skip
        ledger.move_reminder(invoice_id, days, final, invoice_number=number, error=error)
    ledger.move_reminder("inv-globex-10", 14, ReminderState.SENDING, invoice_number="F-2026-0102",
                         recipients="ap@globex.example")  # fmt: skip


def _check_every_table_filled(database: Path) -> None:
    connection = sqlite3.connect(database)
    try:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if names != set(TABLES):
            raise SystemExit(f"the release's tables are {sorted(names)}, this script knows {sorted(TABLES)}")
        empty = [name for name in TABLES if not connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]]
    finally:
        connection.close()
    if empty:
        raise SystemExit(f"tables left empty: {', '.join(empty)}")


def dump(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return "\n".join(connection.iterdump()) + "\n"
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURE)
    out = parser.parse_args().out
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "ledger.sqlite"
        ledger = Ledger(f"sqlite:///{database}")
        fill(ledger)
        ledger.dispose()
        _check_every_table_filled(database)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dump(database))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
