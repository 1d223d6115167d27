"""``move`` and ``refresh`` on a toy table: the machine decides, a refusal writes nothing, the database
stamps the time, error text is cut at one limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from billing_pipeline.ledger import (
    DB_NOW,
    ERROR_TEXT_LIMIT,
    IllegalTransition,
    LedgerConflict,
    LedgerEngine,
    move,
    refresh,
    write_transaction,
)
from billing_pipeline_tests.ledger.conftest import (
    FAKE_DB_TIME,
    TOY,
    Toy,
    freeze_database_clock,
    key,
    race_two_writers,
    row,
    toys,
)

FROZEN = datetime.fromisoformat(FAKE_DB_TIME).replace(tzinfo=UTC)


def _open(ledger: LedgerEngine, **values: object) -> None:
    move(ledger.engine, toys, key(), TOY, Toy.OPEN, values, insert={"label": "first"})


def test_insert_then_allowed_moves_return_the_previous_state(ledger: LedgerEngine) -> None:
    assert move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"note": "n"}, insert={"label": "L"}) is None
    assert move(ledger.engine, toys, key(), TOY, Toy.PAID, {"amount": Decimal("27.60")}) is Toy.OPEN
    stored = row(ledger.engine)
    assert stored is not None
    assert (stored["state"], stored["label"], stored["note"], stored["amount"]) == ("paid", "L", "n", Decimal("27.60"))


def test_insert_only_values_are_not_written_on_update(ledger: LedgerEngine) -> None:
    _open(ledger)
    move(ledger.engine, toys, key(), TOY, Toy.OPEN, insert={"label": "second"})
    assert row(ledger.engine)["label"] == "first"  # type: ignore[index]


def test_a_refused_move_leaves_the_row_unchanged(ledger: LedgerEngine) -> None:
    _open(ledger, note="kept")
    move(ledger.engine, toys, key(), TOY, Toy.VOID)
    before = row(ledger.engine)
    with pytest.raises(IllegalTransition, match=r"toy \[owner=o, number=1\] is void: it cannot become paid"):
        move(ledger.engine, toys, key(), TOY, Toy.PAID, {"note": "overwritten", "last_error": "x"})
    assert row(ledger.engine) == before


def test_a_move_the_machine_refuses_on_no_row_inserts_nothing(ledger: LedgerEngine) -> None:
    with pytest.raises(IllegalTransition, match="not in the ledger: it cannot become paid"):
        move(ledger.engine, toys, key(), TOY, Toy.PAID, insert={"label": "L"})
    assert row(ledger.engine) is None


def test_conflict_refuses_a_second_row_and_writes_nothing(ledger: LedgerEngine) -> None:
    _open(ledger)
    move(ledger.engine, toys, key(), TOY, Toy.PAID)
    before = row(ledger.engine)
    with pytest.raises(LedgerConflict, match=r"already exists \(paid\)"):
        move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"note": "again"}, conflict=True)
    assert row(ledger.engine) == before


def test_also_from_and_create(ledger: LedgerEngine) -> None:
    with pytest.raises(IllegalTransition, match="not in the ledger"):
        move(ledger.engine, toys, key(), TOY, Toy.OPEN, insert={"label": "L"}, create=False)
    assert row(ledger.engine) is None
    _open(ledger)
    move(ledger.engine, toys, key(), TOY, Toy.VOID)
    assert move(ledger.engine, toys, key(), TOY, Toy.OPEN, also_from={Toy.VOID}) is Toy.VOID


def test_updated_at_and_db_now_values_come_from_the_database_clock(ledger: LedgerEngine) -> None:
    freeze_database_clock(ledger.engine)
    move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"intent_at": DB_NOW}, insert={"label": "L", "seen_at": DB_NOW})
    stored = row(ledger.engine)
    assert stored is not None
    # SQLite hands back naive UTC datetimes
    assert stored["updated_at"] == stored["intent_at"] == stored["seen_at"] == FROZEN.replace(tzinfo=None)
    assert ledger.now() == FROZEN


def test_db_now_reads_the_database_inside_the_writing_transaction(ledger: LedgerEngine) -> None:
    # the real clock this time: the stamp lies between two readings of the database's clock
    before = ledger.now()
    _open(ledger, intent_at=DB_NOW)
    after = ledger.now()
    stamped = row(ledger.engine)["intent_at"].replace(tzinfo=UTC)  # type: ignore[index]
    assert before <= stamped <= after


def test_datetimes_are_stored_as_the_same_instant_in_utc(ledger: LedgerEngine) -> None:
    paris = datetime(2026, 11, 25, 8, 28, 46, tzinfo=timezone(timedelta(hours=1)))
    _open(ledger, seen_at=paris)
    assert row(ledger.engine)["seen_at"].replace(tzinfo=UTC) == paris  # type: ignore[index]


def test_error_text_is_cut_at_the_one_limit(ledger: LedgerEngine) -> None:
    _open(ledger, last_error="e" * (ERROR_TEXT_LIMIT + 500), note="n" * (ERROR_TEXT_LIMIT + 500))
    stored = row(ledger.engine)
    assert stored is not None
    assert stored["last_error"] == "e" * ERROR_TEXT_LIMIT
    assert len(stored["note"]) == ERROR_TEXT_LIMIT + 500  # only the declared error column is cut
    move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"note": "x" * 5000}, error_column="note")
    assert row(ledger.engine)["note"] == "x" * ERROR_TEXT_LIMIT  # type: ignore[index]
    assert ERROR_TEXT_LIMIT == 4000


def test_state_and_key_are_never_values(ledger: LedgerEngine) -> None:
    with pytest.raises(ValueError, match=r"toys.state is written by move itself"):
        move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"state": "paid"}, insert={"label": "L"})
    with pytest.raises(ValueError, match=r"toys\.updated_at is written by move itself"):
        move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"updated_at": FROZEN}, insert={"label": "L"})
    with pytest.raises(ValueError, match=r"toys.owner is written by move itself"):
        move(ledger.engine, toys, key(), TOY, Toy.OPEN, insert={"label": "L", "owner": "p"})
    with pytest.raises(ValueError, match="given both as a value and as an insert-only value"):
        move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"label": "L"}, insert={"label": "M"})
    with pytest.raises(ValueError, match="toys has no column nothing"):
        move(ledger.engine, toys, key(), TOY, Toy.OPEN, {"nothing": 1}, insert={"label": "L"})
    with pytest.raises(ValueError, match="has no column owners"):
        move(ledger.engine, toys, {"owners": "o"}, TOY, Toy.OPEN, insert={"label": "L"})
    assert row(ledger.engine) is None


def test_a_state_written_by_a_newer_release_is_named(ledger: LedgerEngine) -> None:
    _open(ledger)
    with ledger.engine.begin() as connection:
        connection.execute(sa.update(toys).values(state="refunded"))
    with pytest.raises(IllegalTransition, match="holds 'refunded', which is not a toy state"):
        move(ledger.engine, toys, key(), TOY, Toy.VOID)


def test_a_move_joins_the_callers_transaction(ledger: LedgerEngine) -> None:
    with pytest.raises(RuntimeError, match="after the move"), ledger.engine.begin() as connection:
        move(connection, toys, key(), TOY, Toy.OPEN, insert={"label": "L"})
        move(connection, toys, key("o", 2), TOY, Toy.OPEN, insert={"label": "L"})
        raise RuntimeError("after the move")
    assert row(ledger.engine) is None and row(ledger.engine, "o", 2) is None  # all or nothing


def test_a_move_on_an_idle_connection_commits_its_own_transaction(ledger: LedgerEngine) -> None:
    with ledger.engine.connect() as connection:
        move(connection, toys, key(), TOY, Toy.OPEN, insert={"label": "L"})
    assert row(ledger.engine) is not None  # not rolled back when the connection closed


def test_write_transaction_commits_several_moves_at_once(ledger: LedgerEngine) -> None:
    with write_transaction(ledger.engine) as connection:
        move(connection, toys, key("a"), TOY, Toy.OPEN, insert={"label": "L"})
        move(connection, toys, key("a"), TOY, Toy.PAID)
    assert row(ledger.engine, "a")["state"] == "paid"  # type: ignore[index]


def test_two_writers_cannot_both_take_the_same_transition(ledger: LedgerEngine) -> None:
    _open(ledger)
    assert race_two_writers(ledger.engine) == ["paid", "refused"]
    assert row(ledger.engine)["note"] == "first"  # type: ignore[index]


def test_refresh_writes_facts_without_a_move(ledger: LedgerEngine) -> None:
    _open(ledger)
    move(ledger.engine, toys, key(), TOY, Toy.PAID)
    before = row(ledger.engine)
    freeze_database_clock(ledger.engine)
    long_error = "r" * (ERROR_TEXT_LIMIT + 1)
    assert refresh(ledger.engine, toys, key(), TOY, {"seen_at": DB_NOW, "last_error": long_error},
                   states={Toy.PAID, Toy.ARCHIVED}) is Toy.PAID  # fmt: skip
    after = row(ledger.engine)
    assert after is not None and before is not None
    assert after["seen_at"] == FROZEN.replace(tzinfo=None)
    assert after["last_error"] == "r" * ERROR_TEXT_LIMIT
    # updated_at dates the last move: a refresh leaves it and the state alone
    assert (after["state"], after["updated_at"]) == ("paid", before["updated_at"])


def test_refresh_outside_its_states_is_refused_and_writes_nothing(ledger: LedgerEngine) -> None:
    with pytest.raises(IllegalTransition, match=r"toy \[owner=o, number=1\] is not in the ledger: its facts"):
        refresh(ledger.engine, toys, key(), TOY, {"note": "x"}, states={Toy.PAID})
    _open(ledger, note="kept")
    before = row(ledger.engine)
    with pytest.raises(IllegalTransition, match="is open: its facts are refreshed only when archived, paid"):
        refresh(ledger.engine, toys, key(), TOY, {"note": "x"}, states={Toy.PAID, Toy.ARCHIVED})
    assert row(ledger.engine) == before
    with pytest.raises(ValueError, match=r"toys\.state is written by move itself"):
        refresh(ledger.engine, toys, key(), TOY, {"state": "paid"}, states={Toy.OPEN})
    with pytest.raises(TypeError, match="refresh state 'open' is not a Toy"):
        refresh(ledger.engine, toys, key(), TOY, {"note": "x"}, states={"open"})  # type: ignore[arg-type]


def test_a_move_needs_a_key_and_a_table_of_states(ledger: LedgerEngine) -> None:
    with pytest.raises(ValueError, match="a move on toys needs the row's key"):
        move(ledger.engine, toys, {}, TOY, Toy.OPEN, insert={"label": "L"})
    stateless = sa.Table("stateless", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    with pytest.raises(ValueError, match="stateless has no 'state' column"):
        move(ledger.engine, stateless, {"id": 1}, TOY, Toy.OPEN)
