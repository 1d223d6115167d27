"""State machines declared once, as data, and checked the same way for every ledger table.

A machine maps each *target* state to the states a row may come *from* (``None``: no row yet, the
move inserts it). It is validated when it is built, so a typo in a transition table fails at import,
not on the day a rare transition is first taken. ``check`` is the only place that decides whether a
move is allowed and the only place that words the refusal: every table refuses in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

S = TypeVar("S", bound=StrEnum)

RowKey = Mapping[str, Any] | str


class IllegalTransition(RuntimeError):
    """A ledger write that the row's recorded history does not allow."""

    def __init__(
        self, message: str, *, machine: str | None = None, key: RowKey | None = None,
        current: StrEnum | None = None, to: StrEnum | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.machine, self.key, self.current, self.to = machine, key, current, to


class LedgerConflict(RuntimeError):
    """A write that would give a second row to what the ledger keeps one of (one invoice per customer
    and period, one Qonto client per customer…)."""

    def __init__(
        self, message: str, *, machine: str | None = None, key: RowKey | None = None,
        current: StrEnum | None = None, to: StrEnum | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.machine, self.key, self.current, self.to = machine, key, current, to


def describe_key(key: RowKey | None) -> str:
    """``[customer_id=acme, period=2026-10]``: the row, in every message, the same way."""
    if key is None:
        return "[?]"
    if isinstance(key, str):
        return f"[{key}]"
    return "[" + ", ".join(f"{column}={value}" for column, value in key.items()) + "]"


class StateMachine(Generic[S]):
    """``transitions``: target state -> the states it may be reached from (``None``: no row yet).

    ``final``: the states a row settles in (for an invoice, numbered by Qonto); each must be
    reachable from "no row", else the machine could never finish.
    """

    def __init__(
        self,
        name: str,
        states: type[S],
        transitions: Mapping[S, Iterable[S | None]],
        final: Iterable[S] = frozenset(),
    ) -> None:
        if not (isinstance(states, type) and issubclass(states, StrEnum)):
            raise TypeError(f"state machine {name}: states must be a StrEnum, not {states!r}")
        self.name = name
        self.states = states
        self.transitions: Mapping[S, frozenset[S | None]] = MappingProxyType(
            {to: frozenset(sources) for to, sources in transitions.items()}
        )
        self.final: frozenset[S] = frozenset(final)
        self._validate()

    def _validate(self) -> None:
        # a StrEnum member equals its text, so "sent" of another enum would pass an `in` test:
        # membership is checked by type, never by equality
        for to, sources in self.transitions.items():
            if not isinstance(to, self.states):
                raise ValueError(f"state machine {self.name}: target {to!r} is not a {self.states.__name__}")
            for source in sources:
                if source is not None and not isinstance(source, self.states):
                    raise ValueError(
                        f"state machine {self.name}: {to.value} is reached from {source!r}, "
                        f"which is not a {self.states.__name__}"
                    )
        for state in self.final:
            if not isinstance(state, self.states):
                raise ValueError(f"state machine {self.name}: final state {state!r} is not a {self.states.__name__}")
        unreachable = self.final - self.reachable()
        if unreachable:
            names = ", ".join(sorted(state.value for state in unreachable))
            raise ValueError(f"state machine {self.name}: final state(s) {names} cannot be reached from no row")

    def reachable(self) -> frozenset[S]:
        """Every state some sequence of moves leads to, starting from no row."""
        reached: set[S | None] = {None}
        grew = True
        while grew:
            grew = False
            for to, sources in self.transitions.items():
                if to not in reached and sources & reached:
                    reached.add(to)
                    grew = True
        return frozenset(state for state in reached if state is not None)

    def state(self, stored: str | None, *, key: RowKey | None = None) -> S | None:
        """The member a stored text stands for (``None``: no row)."""
        if stored is None:
            return None
        try:
            return self.states(stored)
        except ValueError:
            raise IllegalTransition(
                f"{self.name} {describe_key(key)} holds {stored!r}, which is not a {self.name} state "
                f"({', '.join(s.value for s in self.states)}): was it written by a newer release?",
                machine=self.name, key=key,
            ) from None  # fmt: skip

    def allowed(self, to: S, *, also_from: Iterable[S | None] = ()) -> frozenset[S | None]:
        self._member(to, "target")
        extra = frozenset(also_from)
        for source in extra:
            if source is not None:
                self._member(source, "also_from state")
        return self.transitions.get(to, frozenset()) | extra

    def check(
        self,
        current: S | None,
        to: S,
        *,
        key: RowKey | None = None,
        also_from: Iterable[S | None] = (),
        conflict: bool = False,
        create: bool = True,
    ) -> None:
        """Raise unless a row in ``current`` (``None``: no row) may become ``to``.

        ``also_from``: states this one call also accepts (an explicit re-issue of a canceled
        invoice). ``conflict``: a row that exists in a refused state is a ``LedgerConflict`` (a second
        one of something unique) rather than an illegal history. ``create=False``: this call may only
        change an existing row, even when the machine lets ``to`` be inserted.
        """
        if current is not None:
            self._member(current, "current state")
        sources = self.allowed(to, also_from=also_from)
        if not create:
            sources -= {None}
        if current in sources:
            return
        shown = current.value if current is not None else "not in the ledger"
        details: dict[str, Any] = {"machine": self.name, "key": key, "current": current, "to": to}
        if conflict and current is not None:
            raise LedgerConflict(
                f"{self.name} {describe_key(key)} already exists ({shown}): it cannot become {to.value}", **details
            )
        raise IllegalTransition(f"{self.name} {describe_key(key)} is {shown}: it cannot become {to.value}", **details)

    def refuse_refresh(
        self, current: S | None, states: frozenset[S], *, key: RowKey | None = None
    ) -> IllegalTransition:
        """The refusal of ``refresh`` on a row that is absent or in none of ``states``."""
        shown = current.value if current is not None else "not in the ledger"
        allowed = ", ".join(sorted(state.value for state in states))
        return IllegalTransition(
            f"{self.name} {describe_key(key)} is {shown}: its facts are refreshed only when {allowed}",
            machine=self.name, key=key, current=current,
        )  # fmt: skip

    def members(self, states: Iterable[S], what: str) -> frozenset[S]:
        found = frozenset(states)
        for state in found:
            self._member(state, what)
        return found

    def _member(self, state: object, what: str) -> None:
        if not isinstance(state, self.states):
            raise TypeError(f"state machine {self.name}: {what} {state!r} is not a {self.states.__name__}")

    def __repr__(self) -> str:
        return f"StateMachine({self.name!r}, {self.states.__name__})"
