"""Property: whatever sequence of moves is tried, the row only ever follows the declared transitions,
and a refused move leaves it exactly as it was."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_pipeline.ledger import IllegalTransition, LedgerConflict, LedgerEngine, move
from billing_pipeline_tests.ledger.conftest import TOY, Toy, row, toy_metadata, toys

_rows = itertools.count()

attempt = st.tuples(
    st.sampled_from(list(Toy)),  # target
    st.booleans(),  # conflict
    st.booleans(),  # create
    st.frozensets(st.sampled_from([None, *Toy]), max_size=2),  # also_from
    st.text(max_size=5),  # a note to write
)


@pytest.fixture(scope="module")
def shared_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEngine]:
    path: Path = tmp_path_factory.mktemp("property") / "ledger.sqlite"
    ledger = LedgerEngine(f"sqlite:///{path}", metadata=toy_metadata)
    yield ledger
    ledger.dispose()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(attempt, max_size=12))
def test_random_moves_follow_the_machine_or_change_nothing(shared_ledger: LedgerEngine, attempts: list) -> None:
    engine = shared_ledger.engine
    owner = f"row-{next(_rows)}"  # a fresh row per example, in one database
    current: Toy | None = None
    for to, conflict, create, also_from, note in attempts:
        allowed = TOY.transitions.get(to, frozenset()) | also_from
        if not create:
            allowed -= {None}
        before = row(engine, owner)
        try:
            previous = move(engine, toys, {"owner": owner, "number": 1}, TOY, to, {"note": note},
                            insert={"label": "L"}, conflict=conflict, create=create, also_from=also_from)  # fmt: skip
        except (IllegalTransition, LedgerConflict) as refused:
            assert current not in allowed
            # a conflict is only ever about an existing row
            assert isinstance(refused, LedgerConflict) == (conflict and current is not None)
            assert row(engine, owner) == before
            continue
        assert current in allowed and previous is current
        after = row(engine, owner)
        assert after is not None and (after["state"], after["note"]) == (to.value, note)
        current = to
