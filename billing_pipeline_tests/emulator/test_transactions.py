"""The emulator's bank transactions: Qonto's listing rules, the admin API and ``emulator transfer``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from billing_pipeline.emulator.seed import MAIN_IBAN, SECOND_IBAN
from billing_pipeline.emulator.testing import RunningEmulator, running_emulator


def test_a_listing_needs_an_account_and_known_filters(api: httpx.Client, emulator: RunningEmulator) -> None:
    emulator.transfer("12.00", reference="F-2026-00001")
    missing = api.get("/v2/transactions")
    bad_status = api.get("/v2/transactions", params={"iban": MAIN_IBAN, "status[]": "settled"})
    invoicing_style = api.get("/v2/transactions", params={"iban": MAIN_IBAN, "filter[side]": "credit"})
    other_account = api.get("/v2/transactions", params={"iban": SECOND_IBAN})
    unknown_account = api.get("/v2/transactions", params={"bank_account_id": "nope"})

    assert missing.status_code == 422 and missing.json()["errors"][0]["code"] == "missing_parameter"
    assert bad_status.status_code == 422 and bad_status.json()["errors"][0]["source"] == {"parameter": "status[]"}
    assert invoicing_style.status_code == 422  # transactions take plain names, not filter[...]
    assert other_account.json()["transactions"] == []  # the transfer landed on the main account
    assert unknown_account.status_code == 404


def test_money_fields_balance_and_admin_validation(api: httpx.Client, emulator: RunningEmulator) -> None:
    emulator.transfer("100.10", counterparty="Acme SAS")
    emulator.transfer("0.10", side="debit", label="Frais")
    [debit, credit] = api.get("/v2/transactions", params={"iban": MAIN_IBAN, "sort_by": "updated_at:desc"}).json()[
        "transactions"
    ]
    refused = httpx.post(f"{emulator.base_url}/_emulator/transactions", json={"amount": "1.001"})

    assert credit["amount"] == 100.1 and credit["amount_cents"] == 10010 and credit["settled_balance_cents"] == 10010
    assert credit["label"] == "Acme SAS" and credit["operation_type"] == "income"
    assert debit["side"] == "debit" and debit["settled_balance_cents"] == 10000
    assert refused.status_code == 422


def test_emulator_transfer_prints_the_id_and_a_running_server_sees_it(tmp_path: Path) -> None:
    state = tmp_path / "emulator.sqlite"
    with running_emulator(render_delay_s=0, state_path=state) as emulator:
        result = subprocess.run(
            [sys.executable, "-m", "billing_pipeline.cli", "emulator", "transfer", "--state", str(state),
             "--amount", "42.50", "--reference", "F-2026-00007", "--counterparty", "Alpha Conseil",
             "--iban", "FR7630006000011234567890189", "--settled-at", "2026-11-20T10:00:00+01:00"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        listed = httpx.get(
            f"{emulator.base_url}/v2/transactions",
            params={"iban": MAIN_IBAN},
            headers={"Authorization": emulator.api_key},
        ).json()["transactions"]
        invalid = subprocess.run(
            [sys.executable, "-m", "billing_pipeline.cli", "emulator", "transfer", "--state", str(state),
             "--amount", "-1"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert [t["id"] for t in listed] == [result.stdout.strip()]
    assert listed[0]["amount_cents"] == 4250 and listed[0]["reference"] == "F-2026-00007"
    assert listed[0]["settled_at"] == "2026-11-20T09:00:00.000Z"
    assert listed[0]["transfer"]["counterparty_account_number"] == "FR7630006000011234567890189"
    assert invalid.returncode == 2 and "invalid transfer" in invalid.stderr
