"""The case state machine: what may follow what, and what the clock does."""

from __future__ import annotations

import itertools

import pytest

from mailbot.casework import (
    TRANSITIONS,
    CaseError,
    InvalidTransition,
    State,
    allowed_targets,
    can_transition,
    clock_running,
    is_final,
    is_open,
    transition,
)
from mailbot.errors import MailbotError

S = State

# Written out by hand, independently of the module's table, so a change to
# either shows up here.
ALLOWED = {
    ("new", "awaiting_identity"), ("new", "verified"), ("new", "refused"), ("new", "withdrawn"),
    ("awaiting_identity", "verified"), ("awaiting_identity", "expired"),
    ("awaiting_identity", "withdrawn"), ("awaiting_identity", "refused"),
    ("verified", "awaiting_clarification"), ("verified", "awaiting_approval"), ("verified", "extended"),
    ("verified", "responded"), ("verified", "refused"), ("verified", "withdrawn"),
    ("awaiting_clarification", "verified"), ("awaiting_clarification", "extended"),
    ("awaiting_clarification", "refused"), ("awaiting_clarification", "withdrawn"),
    ("awaiting_clarification", "closed"),
    ("extended", "awaiting_clarification"), ("extended", "awaiting_approval"), ("extended", "responded"),
    ("extended", "refused"), ("extended", "withdrawn"),
    ("awaiting_approval", "responded"), ("awaiting_approval", "verified"), ("awaiting_approval", "extended"),
    ("awaiting_approval", "refused"), ("awaiting_approval", "withdrawn"),
    ("responded", "closed"), ("responded", "verified"),
    ("refused", "closed"), ("withdrawn", "closed"), ("expired", "closed"),
}


def test_the_states() -> None:
    assert {s.value for s in State} == {
        "new", "awaiting_identity", "verified", "awaiting_clarification", "awaiting_approval",
        "responded", "closed", "extended", "refused", "withdrawn", "expired",
    }
    assert S.VERIFIED == "verified"            # stored in the database as plain text
    assert set(TRANSITIONS) == set(State)      # every state has a row


def test_table_matches_the_written_list() -> None:
    table = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_every_allowed_transition_is_accepted(current: str, target: str) -> None:
    assert transition(current, target) is State(target)
    assert transition(State(current), State(target)) is State(target)
    assert can_transition(current, target)


REFUSED = sorted(set(itertools.product([s.value for s in State], repeat=2)) - ALLOWED)


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_every_other_transition_is_refused(current: str, target: str) -> None:
    assert not can_transition(current, target)
    with pytest.raises(InvalidTransition) as info:
        transition(current, target)
    assert info.value.current is State(current)
    assert info.value.target is State(target)


@pytest.mark.parametrize(("current", "target", "why"), [
    ("new", "responded", "an answer needs a verified requester"),
    ("awaiting_identity", "responded", "never answer before identity is confirmed"),
    ("awaiting_identity", "awaiting_approval", "no draft before identity is confirmed"),
    ("new", "extended", "no extension before the clock runs"),
    ("awaiting_identity", "extended", "no extension before the clock runs"),
    ("extended", "extended", "one extension only"),
    ("extended", "verified", "an extension cannot be undone"),
    ("responded", "withdrawn", "too late to withdraw once answered"),
    ("responded", "refused", "too late to refuse once answered"),
    ("expired", "verified", "an expired case is not revived; a new request starts a new case"),
    ("closed", "verified", "closed is final"),
    ("closed", "new", "closed is final"),
    ("verified", "verified", "staying put is not a transition"),
    ("verified", "awaiting_identity", "identity is not asked for twice"),
    ("verified", "expired", "expiry is for unconfirmed identity only"),
])
def test_impossible_transitions(current: str, target: str, why: str) -> None:
    with pytest.raises(InvalidTransition):
        transition(current, target)
    assert not can_transition(current, target), why


def test_refusal_message_names_both_states_and_the_options() -> None:
    with pytest.raises(InvalidTransition) as info:
        transition(S.RESPONDED, S.EXTENDED)
    assert str(info.value) == (
        "a case cannot move from responded to extended; "
        "from responded a case can move to: closed, verified"
    )
    assert info.value.allowed == frozenset({S.CLOSED, S.VERIFIED})
    assert isinstance(info.value, MailbotError)


def test_closed_is_final() -> None:
    assert is_final(S.CLOSED)
    assert allowed_targets(S.CLOSED) == frozenset()
    with pytest.raises(InvalidTransition, match="closed is final"):
        transition(S.CLOSED, S.VERIFIED)
    assert [s for s in State if is_final(s)] == [S.CLOSED]


@pytest.mark.parametrize("state", [S.REFUSED, S.WITHDRAWN, S.EXPIRED])
def test_outcomes_only_close(state: State) -> None:
    assert allowed_targets(state) == frozenset({S.CLOSED})
    assert not is_open(state)


def test_every_state_can_reach_closed() -> None:
    for start in State:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert S.CLOSED in seen, start


@pytest.mark.parametrize(("state", "running"), [
    (S.NEW, True),                        # from receipt, unless identity is then asked for
    (S.AWAITING_IDENTITY, False),         # starts on confirmation
    (S.VERIFIED, True),
    (S.AWAITING_CLARIFICATION, False),    # stopped
    (S.AWAITING_APPROVAL, True),          # the owner's review counts
    (S.EXTENDED, True),
    (S.RESPONDED, False),
    (S.REFUSED, False),
    (S.WITHDRAWN, False),
    (S.EXPIRED, False),
    (S.CLOSED, False),
])
def test_clock_running(state: State, running: bool) -> None:
    assert clock_running(state) is running
    assert clock_running(state.value) is running


@pytest.mark.parametrize(("state", "open_"), [
    (S.NEW, True), (S.AWAITING_IDENTITY, True), (S.VERIFIED, True), (S.AWAITING_CLARIFICATION, True),
    (S.AWAITING_APPROVAL, True), (S.EXTENDED, True), (S.RESPONDED, True),
    (S.REFUSED, False), (S.WITHDRAWN, False), (S.EXPIRED, False), (S.CLOSED, False),
])
def test_is_open(state: State, open_: bool) -> None:
    assert is_open(state) is open_


def test_clock_only_runs_in_open_states() -> None:
    assert all(is_open(s) for s in State if clock_running(s))


def test_unknown_state_name() -> None:
    with pytest.raises(CaseError, match="unknown case state 'pending'.*awaiting_identity"):
        transition("pending", "verified")
    with pytest.raises(CaseError, match="unknown case state"):
        is_open("nonsense")
