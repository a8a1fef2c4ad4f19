"""The life of a case: its states and the moves the law allows between them.

Pure logic: the database layer stores `State.value` and asks `transition`
before every change, so an impossible move is refused in one place.

The table `TRANSITIONS` is the whole truth; the decisions behind it:

* The statutory clock runs in `new` (it started on receipt unless we ask for
  identity), `verified`, `extended` and `awaiting_approval` (the owner's
  review counts against the deadline). It is stopped in
  `awaiting_clarification` and has not started in `awaiting_identity`.
* The requester may withdraw at any point before we have answered; we may
  refuse (manifestly unfounded or excessive) at any point before answering.
* Extension is taken once, from a running clock (`verified`, or the owner's
  review in `awaiting_approval`); there is no `extended` -> `extended`.
* A clarification reply resumes the clock in `verified`, or in `extended`
  where the case had been extended; the table allows both and the caller,
  which knows the case's history, picks.
* A clarification that never comes lets the owner close the case.
* `responded` stays open so a follow-up joins the case and reopens it
  (`verified`); `closed` is final: a later request is a new case with its
  own clock.
* `expired` (identity never confirmed), `refused` and `withdrawn` are
  outcomes that only lead to `closed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from mailbot.errors import MailbotError


class State(StrEnum):
    """Where a case stands."""

    NEW = "new"
    AWAITING_IDENTITY = "awaiting_identity"
    VERIFIED = "verified"
    AWAITING_CLARIFICATION = "awaiting_clarification"
    AWAITING_APPROVAL = "awaiting_approval"
    EXTENDED = "extended"
    RESPONDED = "responded"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    CLOSED = "closed"


class CaseError(MailbotError):
    """A case was asked to do something its state does not allow."""


class InvalidTransition(CaseError):
    """A move between two states that the state machine does not allow."""

    def __init__(self, current: State, target: State, allowed: frozenset[State]) -> None:
        self.current = current
        self.target = target
        self.allowed = allowed
        if allowed:
            options = ", ".join(sorted(s.value for s in allowed))
            hint = f"from {current.value} a case can move to: {options}"
        else:
            hint = f"{current.value} is final"
        super().__init__(f"a case cannot move from {current.value} to {target.value}; {hint}")


_S = State
TRANSITIONS: Mapping[State, frozenset[State]] = MappingProxyType({
    _S.NEW: frozenset({_S.AWAITING_IDENTITY, _S.VERIFIED, _S.REFUSED, _S.WITHDRAWN}),
    _S.AWAITING_IDENTITY: frozenset({_S.VERIFIED, _S.EXPIRED, _S.REFUSED, _S.WITHDRAWN}),
    _S.VERIFIED: frozenset({
        _S.AWAITING_CLARIFICATION, _S.AWAITING_APPROVAL, _S.EXTENDED,
        _S.RESPONDED, _S.REFUSED, _S.WITHDRAWN,
    }),
    _S.AWAITING_CLARIFICATION: frozenset({_S.VERIFIED, _S.EXTENDED, _S.REFUSED, _S.WITHDRAWN, _S.CLOSED}),
    _S.EXTENDED: frozenset({
        _S.AWAITING_CLARIFICATION, _S.AWAITING_APPROVAL, _S.RESPONDED, _S.REFUSED, _S.WITHDRAWN,
    }),
    # Back to verified/extended when the owner sends a draft back for rework.
    _S.AWAITING_APPROVAL: frozenset({_S.RESPONDED, _S.VERIFIED, _S.EXTENDED, _S.REFUSED, _S.WITHDRAWN}),
    _S.RESPONDED: frozenset({_S.CLOSED, _S.VERIFIED}),
    _S.REFUSED: frozenset({_S.CLOSED}),
    _S.WITHDRAWN: frozenset({_S.CLOSED}),
    _S.EXPIRED: frozenset({_S.CLOSED}),
    _S.CLOSED: frozenset(),
})

_CLOCK_RUNNING = frozenset({_S.NEW, _S.VERIFIED, _S.EXTENDED, _S.AWAITING_APPROVAL})
_OPEN = frozenset({
    _S.NEW, _S.AWAITING_IDENTITY, _S.VERIFIED, _S.AWAITING_CLARIFICATION,
    _S.AWAITING_APPROVAL, _S.EXTENDED, _S.RESPONDED,
})


def state_of(value: State | str) -> State:
    """The State named by value (as stored in the database); CaseError for an unknown name."""
    try:
        return State(value)
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise CaseError(f"unknown case state {value!r} (known states: {known})") from None


def allowed_targets(current: State | str) -> frozenset[State]:
    """The states a case in `current` may move to."""
    return TRANSITIONS[state_of(current)]


def can_transition(current: State | str, target: State | str) -> bool:
    """True when the move from current to target is allowed."""
    return state_of(target) in allowed_targets(current)


def transition(current: State | str, target: State | str) -> State:
    """Return target when the move is allowed; InvalidTransition naming both states otherwise."""
    here, there = state_of(current), state_of(target)
    allowed = TRANSITIONS[here]
    if there not in allowed:
        raise InvalidTransition(here, there, allowed)
    return there


def clock_running(state: State | str) -> bool:
    """True while the statutory deadline is counting down for a case in this state."""
    return state_of(state) in _CLOCK_RUNNING


def is_open(state: State | str) -> bool:
    """True while a new mail from the requester should join the case rather than start a new one."""
    return state_of(state) in _OPEN


def is_final(state: State | str) -> bool:
    """True when no move leads out of the state."""
    return not TRANSITIONS[state_of(state)]
