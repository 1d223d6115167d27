"""State machines are validated when declared and refuse every move in the same words."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from billing_pipeline.ledger import IllegalTransition, LedgerConflict, StateMachine
from billing_pipeline_tests.ledger.conftest import TOY, Toy


class Other(StrEnum):
    OPEN = "open"  # equal to Toy.OPEN as text: must still be refused as a Toy state


def test_a_target_of_another_enum_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match=re.escape("target <Other.OPEN: 'open'> is not a Toy")):
        StateMachine("bad", Toy, {Other.OPEN: {None}})  # type: ignore[dict-item]


def test_a_source_that_is_not_a_state_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match="open is reached from 'opne', which is not a Toy"):
        StateMachine("bad", Toy, {Toy.OPEN: {None, "opne"}})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="which is not a Toy"):
        StateMachine("bad", Toy, {Toy.OPEN: {None, Other.OPEN}})  # type: ignore[arg-type]


def test_a_final_state_nothing_leads_to_is_refused() -> None:
    with pytest.raises(ValueError, match=r"final state.*archived cannot be reached"):
        # archived only from paid, and paid only from itself: a cycle never entered
        StateMachine(
            "bad", Toy, {Toy.OPEN: {None}, Toy.PAID: {Toy.PAID}, Toy.ARCHIVED: {Toy.PAID}}, final={Toy.ARCHIVED}
        )
    with pytest.raises(ValueError, match=re.escape("final state <Other.OPEN: 'open'> is not a Toy")):
        StateMachine("bad", Toy, {Toy.OPEN: {None}}, final={Other.OPEN})  # type: ignore[arg-type]


def test_states_must_be_a_strenum() -> None:
    with pytest.raises(TypeError, match="must be a StrEnum"):
        StateMachine("bad", str, {})  # type: ignore[type-var]


def test_reachable_follows_the_declared_transitions() -> None:
    assert TOY.reachable() == frozenset(Toy)
    partial = StateMachine("partial", Toy, {Toy.OPEN: {None}, Toy.PAID: {Toy.OPEN}, Toy.ARCHIVED: {Toy.VOID}})
    assert partial.reachable() == {Toy.OPEN, Toy.PAID}


def test_the_declaration_cannot_be_changed_afterwards() -> None:
    with pytest.raises(TypeError):
        TOY.transitions[Toy.PAID] = frozenset({None})  # type: ignore[index]


def test_allowed_moves_pass() -> None:
    TOY.check(None, Toy.OPEN, key={"owner": "o"})
    TOY.check(Toy.OPEN, Toy.PAID)
    TOY.check(Toy.PAID, Toy.ARCHIVED)


def test_one_message_names_machine_key_current_and_target() -> None:
    with pytest.raises(IllegalTransition) as refused:
        TOY.check(Toy.ARCHIVED, Toy.OPEN, key={"owner": "acme", "number": 7})
    assert str(refused.value) == "toy [owner=acme, number=7] is archived: it cannot become open"
    assert (refused.value.machine, refused.value.current, refused.value.to) == ("toy", Toy.ARCHIVED, Toy.OPEN)
    with pytest.raises(IllegalTransition) as absent:
        TOY.check(None, Toy.PAID, key="BP-2026-10-acme")
    assert str(absent.value) == "toy [BP-2026-10-acme] is not in the ledger: it cannot become paid"


def test_conflict_is_raised_for_an_existing_row_only() -> None:
    with pytest.raises(LedgerConflict) as conflict:
        TOY.check(Toy.PAID, Toy.OPEN, key={"owner": "acme"}, conflict=True)
    assert str(conflict.value) == "toy [owner=acme] already exists (paid): it cannot become open"
    # no row at all is not a conflict: the history is what is wrong
    with pytest.raises(IllegalTransition, match="not in the ledger"):
        TOY.check(None, Toy.ARCHIVED, key={"owner": "acme"}, conflict=True)


def test_also_from_widens_one_call_only() -> None:
    TOY.check(Toy.VOID, Toy.OPEN, also_from={Toy.VOID})
    with pytest.raises(IllegalTransition):
        TOY.check(Toy.VOID, Toy.OPEN)
    with pytest.raises(TypeError, match="also_from state 'void' is not a Toy"):
        TOY.check(Toy.VOID, Toy.OPEN, also_from={"void"})  # type: ignore[arg-type]


def test_create_false_refuses_the_insert_the_machine_would_allow() -> None:
    TOY.check(None, Toy.OPEN)
    with pytest.raises(IllegalTransition, match="not in the ledger: it cannot become open"):
        TOY.check(None, Toy.OPEN, create=False)
    TOY.check(Toy.OPEN, Toy.OPEN, create=False)


def test_a_state_of_another_machine_is_refused() -> None:
    with pytest.raises(TypeError, match="target 'open' is not a Toy"):
        TOY.check(Toy.OPEN, "open")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=re.escape("current state <Other.OPEN: 'open'> is not a Toy")):
        TOY.check(Other.OPEN, Toy.OPEN)  # type: ignore[arg-type]


def test_a_stored_state_the_code_does_not_know_is_named() -> None:
    assert TOY.state("paid") is Toy.PAID and TOY.state(None) is None
    with pytest.raises(IllegalTransition, match=r"toy \[owner=o\] holds 'refunded', which is not a toy state"):
        TOY.state("refunded", key={"owner": "o"})
