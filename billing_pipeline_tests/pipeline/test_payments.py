"""Payments end to end through Dagster against the emulator (issue 14): transfers on the main account
are matched to finalized invoices, fully paid ones marked paid with the settlement date."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import dagster as dg

from billing_pipeline.defs.resources import BillingResource
from billing_pipeline_tests.pipeline.conftest import PipelineWorld
from billing_pipeline_tests.pipeline.payments_world import (
    bill,
    invoices_by_id,
    paris_day,
    run_payments,
    settled_days_ago,
    total,
)
from billing_pipeline_tests.pipeline.small_world import Person


def _report(result: dg.ExecuteInProcessResult) -> dict:
    return result.output_for_node("payments").contract_json()


def test_by_reference_by_reformatted_label_a_debit_and_an_unknown_number(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200, "gamma": 300})
    alpha, beta, gamma = invoices["alpha"], invoices["beta"], invoices["gamma"]
    when = settled_days_ago(world, 1)
    by_reference = world.emulator.transfer(
        str(total(alpha)), reference=alpha["number"], counterparty="ALPHA CONSEIL", settled_at=when
    )
    # the payer retyped the number in lower case with spaces, in the label only
    by_label = world.emulator.transfer(
        str(total(beta)), label=f"VIR SEPA BETA LOGISTIQUE {beta['number'].replace('-', ' ').lower()}",
        settled_at=when,
    )  # fmt: skip
    debit = world.emulator.transfer(str(total(gamma)), side="debit", reference=gamma["number"], settled_at=when)
    unknown = world.emulator.transfer("10.00", reference="F-2026-99999", counterparty="Someone")

    report = _report(run_payments(world, instance))

    qonto = invoices_by_id(world)
    assert qonto[alpha["id"]]["status"] == "paid"
    assert qonto[alpha["id"]]["paid_at"] == paris_day(when).isoformat()
    assert qonto[alpha["id"]]["amount_paid"]["value"] == alpha["total_amount"]["value"]
    assert qonto[beta["id"]]["status"] == "paid"
    assert qonto[beta["id"]]["paid_at"] == paris_day(when).isoformat()
    assert qonto[gamma["id"]]["status"] == "unpaid"  # a debit quoting its number pays nothing
    assert sorted(m["transaction_id"] for m in report["matched"]) == sorted([by_reference["id"], by_label["id"]])
    assert {m["transaction_id"]: m["invoice_numbers"] for m in report["matched"]}[by_label["id"]] == [beta["number"]]
    assert report["unmatched"] == [
        {"transaction_id": unknown["id"], "amount": "10.00", "label": "Someone", "reference": "F-2026-99999"}
    ]
    assert debit["id"] not in str(report)
    assert report["partial"] == [] and report["overpaid"] == []

    # a re-run counts nothing twice and marks nothing again
    updated = {i: qonto[i]["updated_at"] for i in (alpha["id"], beta["id"])}
    again = _report(run_payments(world, instance))
    assert again == {"matched": [], "partial": [], "overpaid": [], "unmatched": []}
    qonto = invoices_by_id(world)
    assert {i: qonto[i]["updated_at"] for i in updated} == updated


def test_instalments_under_and_overpayment_and_one_transfer_for_two_invoices(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200, "gamma": 300})
    alpha, beta, gamma = invoices["alpha"], invoices["beta"], invoices["gamma"]
    first_day, second_day = settled_days_ago(world, 2), settled_days_ago(world, 1)
    half = (total(alpha) / 2).quantize(Decimal("0.01"))
    world.emulator.transfer(str(half), reference=f"{alpha['number']} acompte", settled_at=first_day)
    world.emulator.transfer(str(total(beta) - Decimal("10.00")), reference=beta["number"], settled_at=first_day)
    world.emulator.transfer(str(total(gamma) + Decimal("5.00")), reference=gamma["number"], settled_at=first_day)

    first = _report(run_payments(world, instance))

    qonto = invoices_by_id(world)
    assert qonto[alpha["id"]]["status"] == "unpaid"
    assert qonto[beta["id"]]["status"] == "unpaid"
    assert qonto[gamma["id"]]["status"] == "paid" and qonto[gamma["id"]]["paid_at"] == paris_day(first_day).isoformat()
    assert {p["invoice_number"]: (p["paid"], p["remaining"]) for p in first["partial"]} == {
        alpha["number"]: (str(half), str(total(alpha) - half)),
        beta["number"]: (str(total(beta) - Decimal("10.00")), "10.00"),
    }
    assert first["overpaid"] == [{"invoice_number": gamma["number"], "excess": "5.00"}]

    # the second instalment completes alpha, marked paid on that transfer's settlement date
    rest = total(alpha) - half
    world.emulator.transfer(str(rest), label=f"solde {alpha['number']}", settled_at=second_day)
    second = _report(run_payments(world, instance))
    qonto = invoices_by_id(world)
    assert qonto[alpha["id"]]["status"] == "paid"
    assert qonto[alpha["id"]]["paid_at"] == paris_day(second_day).isoformat()  # the completing transfer's date
    assert [m["invoice_numbers"] for m in second["matched"]] == [[alpha["number"]]]
    assert second["partial"] == []


def test_one_transfer_for_two_invoices_and_an_ambiguous_split(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200, "gamma": 300})
    alpha, beta, gamma = invoices["alpha"], invoices["beta"], invoices["gamma"]
    when = settled_days_ago(world, 1)
    both = world.emulator.transfer(
        str(total(alpha) + total(beta)), reference=f"Factures {alpha['number']} et {beta['number']}", settled_at=when
    )
    # two numbers but an amount that pays neither exactly: reported, never split by a guess
    ambiguous = world.emulator.transfer("1.00", reference=f"{gamma['number']} {alpha['number']}", settled_at=when)

    report = _report(run_payments(world, instance))

    qonto = invoices_by_id(world)
    assert qonto[alpha["id"]]["status"] == qonto[beta["id"]]["status"] == "paid"
    assert qonto[gamma["id"]]["status"] == "unpaid"
    assert report["matched"] == [
        {"transaction_id": both["id"], "invoice_numbers": [alpha["number"], beta["number"]],
         "amount": str(total(alpha) + total(beta))}
    ]  # fmt: skip
    assert [u["transaction_id"] for u in report["unmatched"]] == [ambiguous["id"]]


def test_a_lost_ledger_is_rebuilt_without_marking_again_or_reporting_overpayments(
    world: PipelineWorld, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200})
    alpha, beta = invoices["alpha"], invoices["beta"]
    when = settled_days_ago(world, 1)
    world.emulator.transfer(str(total(alpha)), reference=alpha["number"], settled_at=when)
    world.emulator.transfer("4.00", reference=beta["number"], settled_at=when)
    run_payments(world, instance)
    paid = invoices_by_id(world)[alpha["id"]]

    # the ledger is gone (a new state folder): every transfer is examined again
    billing = BillingResource(data_dir=str(world.data_dir), invoices_dir=str(world.invoices_dir),
                              state_dir=str(tmp_path / "new-state"), timezone="Europe/Paris")  # fmt: skip
    lost = dataclasses.replace(world, billing=billing)
    rebuilt = _report(run_payments(lost, instance))

    assert {m["invoice_numbers"][0] for m in rebuilt["matched"]} == {alpha["number"], beta["number"]}
    assert rebuilt["overpaid"] == []  # alpha's transfer is the one that paid it, not a second payment
    assert rebuilt["partial"] == [{"invoice_number": beta["number"], "paid": "4.00", "remaining": str(total(beta) - 4)}]
    again = invoices_by_id(world)[alpha["id"]]
    assert (again["paid_at"], again["updated_at"]) == (paid["paid_at"], paid["updated_at"])  # not marked again


def test_a_credit_note_completes_a_partly_paid_invoice_and_metadata_are_tables(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    invoices = bill(world, instance, {"alpha": 100})
    alpha = invoices["alpha"]
    when = settled_days_ago(world, 2)
    world.emulator.transfer(str(total(alpha) - Decimal("12.00")), reference=alpha["number"], settled_at=when)
    first = run_payments(world, instance)
    assert invoices_by_id(world)[alpha["id"]]["status"] == "unpaid"
    [materialization] = first.asset_materializations_for_node("payments")
    partial = materialization.metadata["partial"]
    assert isinstance(partial, dg.TableMetadataValue)
    # typed columns; amounts carry their currency (a bare "12.00" reads as anything in the UI)
    assert [(c.name, c.type) for c in partial.schema.columns] == [
        ("invoice_number", "string"), ("paid", "money"), ("remaining", "money")
    ]  # fmt: skip
    assert partial.records[0].data == {
        "invoice_number": alpha["number"], "paid": f"{total(alpha) - 12} EUR", "remaining": "12.00 EUR"
    }  # fmt: skip
    assert materialization.metadata["matched_total"].value == f"{total(alpha) - 12} EUR"

    # a person credits 12.00 (10.00 + 20 % VAT): what was paid now covers what is due
    person = Person(world)
    line = {"title": "Geste", "quantity": "1", "unit_price": {"value": "10.00", "currency": "EUR"}, "vat_rate": "0.2"}
    try:
        person.http.post("/v2/credit_notes", json={
            "invoice_id": alpha["id"], "issue_date": alpha["issue_date"], "currency": "EUR", "items": [line],
        }).raise_for_status()  # fmt: skip
    finally:
        person.close()
    second = run_payments(world, instance)

    qonto = invoices_by_id(world)[alpha["id"]]
    assert qonto["status"] == "paid" and qonto["paid_at"] == paris_day(when).isoformat()
    [aged] = second.asset_materializations_for_node("receivables")
    assert aged.metadata["open_invoices"].value == 0
    assert aged.metadata["total_outstanding"].value == "0.00 EUR"


def test_a_third_party_paying_exactly_by_reference_pays_and_anything_else_goes_to_review(
    world: PipelineWorld, instance: dg.DagsterInstance
) -> None:
    invoices = bill(world, instance, {"alpha": 100, "beta": 200, "gamma": 300})
    alpha, beta, gamma = invoices["alpha"], invoices["beta"], invoices["gamma"]
    when = settled_days_ago(world, 2)
    accountant = "Cabinet Comptable"
    exact = world.emulator.transfer(
        str(total(alpha)), reference=alpha["number"], counterparty=accountant, settled_at=when
    )
    partial = world.emulator.transfer(
        str(total(beta) - Decimal("10.00")), reference=beta["number"], counterparty=accountant, settled_at=when
    )
    # the exact amount, but the number only in the label: the contract names the reference
    label_only = world.emulator.transfer(
        str(total(gamma)), label=f"VIR CABINET COMPTABLE {gamma['number']}", counterparty=accountant, settled_at=when
    )
    both = world.emulator.transfer(
        str(total(beta) + total(gamma)), reference=f"{beta['number']} {gamma['number']}", counterparty=accountant,
        settled_at=when,
    )  # fmt: skip

    first = run_payments(world, instance)
    report = first.output_for_node("payments")

    qonto = invoices_by_id(world)
    assert qonto[alpha["id"]]["status"] == "paid" and qonto[alpha["id"]]["paid_at"] == paris_day(when).isoformat()
    assert qonto[beta["id"]]["status"] == qonto[gamma["id"]]["status"] == "unpaid"
    assert report.contract_json()["matched"] == [
        {"transaction_id": exact["id"], "invoice_numbers": [alpha["number"]], "amount": str(total(alpha)),
         "paid_by_third_party": accountant}
    ]  # fmt: skip
    reasons = {row.transaction_id: row.reason for row in report.unmatched}
    assert set(reasons) == {partial["id"], label_only["id"], both["id"]}
    not_client = f"payer {accountant!r} is not the client of"
    assert reasons[partial["id"]] == (
        f"{not_client} {beta['number']} (Beta Logistique SARL); "
        f"a third party's transfer counts only for exactly what is still due ({total(beta)})"
    )
    assert reasons[label_only["id"]].startswith(f"{not_client} {gamma['number']}")
    assert reasons[label_only["id"]].endswith("with the invoice number in its reference")
    assert reasons[both["id"]] == (
        f"{not_client} {beta['number']}, {gamma['number']} (Beta Logistique SARL, Gamma Studio SAS)"
    )  # unchanged: several invoices are never a third party's payment
    assert [u.keys() for u in report.contract_json()["unmatched"]] == [
        {"transaction_id", "amount", "label", "reference"}
    ] * 3
    assert report.partial == [] and report.overpaid == []
    [materialization] = first.asset_materializations_for_node("payments")
    assert materialization.metadata["paid_by_third_party_count"].value == 1
    assert [r.data["paid_by_third_party"] for r in materialization.metadata["matched"].records] == [accountant]
    open_items = {item.invoice_number: item.paid for item in first.output_for_node("receivables").items}
    assert open_items == {beta["number"]: 0, gamma["number"]: 0}  # alpha is no longer chased

    # a re-run counts nothing twice and marks nothing again
    updated = qonto[alpha["id"]]["updated_at"]
    again = run_payments(world, instance).output_for_node("payments").contract_json()
    assert again == {"matched": [], "partial": [], "overpaid": [], "unmatched": []}
    assert invoices_by_id(world)[alpha["id"]]["updated_at"] == updated
