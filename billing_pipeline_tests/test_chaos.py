"""Chaos smoke: faults + SIGKILLed runs, judged from the emulator's state (`make chaos` runs many seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos_harness import run_seed


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7])
def test_chaos_seed_bills_exactly_once(tmp_path: Path, seed: int) -> None:
    outcome = run_seed(seed, tmp_path)
    assert outcome.kills >= 1, "the seed should kill at least one run"
    assert outcome.duplicates == 0
    assert outcome.duplicate_clients == 0
    assert outcome.lost == 0, outcome.notes
    assert outcome.wrong_amounts == 0
    assert outcome.invalid_files == 0
    assert outcome.duplicate_deliveries == 0, "an invoice was emailed or submitted twice"
