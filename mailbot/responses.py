"""The draft stage: a verified case gets an answer to each right it exercises.

Once identity is settled (by the reply code or by the owner), `prepare` asks
for one ``response_<right>`` message per right on the case; mailbot.workflow
renders each and puts it in the outbox as a draft (or queues it, per
``[responses]``). `settle` then keeps the case's state in step with those
answers, and is called whenever one of them is queued, approved or rejected:

* an answer still waiting for the owner: ``awaiting_approval``;
* none waiting and at least one released in this round: ``responded``;
* none waiting and every one rejected: back to ``verified`` (or
  ``extended``) with a note that the owner answers by hand, or asks for new
  drafts with ``mailbot cases respond N``.

A round starts when the case last entered ``verified`` or ``extended``: a
case reopened by a new request gets new answers, and old ones do not count.
A complaint has no ``response_`` message: it is acknowledged when it arrives
and answered by the owner.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import cases, clock
from mailbot.casework import State, state_of
from mailbot.models import Case, CaseEvent, OutboxMessage

PREFIX = "response_"
# Rights answered by a response_<right> message; a complaint is answered by hand.
ANSWERED = ("access", "rectification", "erasure", "restriction", "objection", "portability", "withdraw_consent")

_DRAFT, _CANCELLED = "draft", "cancelled"
_WORKING = (State.VERIFIED, State.EXTENDED)


def is_response(kind: str) -> bool:
    """True for the kinds of message that answer a right."""
    return kind.startswith(PREFIX)


def kinds_for(case: Case) -> tuple[str, ...]:
    """The response kinds a case calls for, in the order of ANSWERED."""
    rights = set(cases.rights_of(case))
    return tuple(PREFIX + right for right in ANSWERED if right in rights)


def waiting(session: Session, case: Case) -> list[OutboxMessage]:
    """The case's answers waiting for the owner's approval, oldest first."""
    return list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.case_id == case.id, OutboxMessage.state == _DRAFT,
                                    OutboxMessage.kind.startswith(PREFIX)).order_by(OutboxMessage.id)
    ))


def released_this_round(session: Session, case: Case) -> list[OutboxMessage]:
    """The case's answers queued or sent since the round began (approved or sent without a draft)."""
    start = round_started(session, case)
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.case_id == case.id, OutboxMessage.kind.startswith(PREFIX),
                                    OutboxMessage.state.notin_((_DRAFT, _CANCELLED))).order_by(OutboxMessage.id)
    )
    return [r for r in rows if start is None or (r.queued_at or r.created_at) >= start]


def round_started(session: Session, case: Case) -> datetime | None:
    """When the case last entered verified or extended (None if it never did)."""
    return session.scalar(
        select(CaseEvent.at).where(
            CaseEvent.case_id == case.id, CaseEvent.to_state.in_([s.value for s in _WORKING])
        ).order_by(CaseEvent.id.desc()).limit(1)
    )


def wanted(session: Session, case: Case) -> bool:
    """True when the case is ready for its answers and has none yet this round.

    False while the owner's attention is asked (e.g. after a rejection): the
    owner then answers by hand or asks again with `mailbot cases respond N`.
    """
    return (state_of(case.state) in _WORKING and not case.owner_attention and bool(kinds_for(case))
            and cases.writable(case) and not waiting(session, case) and not released_this_round(session, case))


def plan(session: Session, case: Case) -> tuple[cases.Outgoing, ...]:
    """The answers a verified case still needs, as intents for the outbox; changes nothing."""
    here = state_of(case.state)
    if here is State.AWAITING_APPROVAL:
        raise cases.CaseError(f"the answers of case {case.reference} are drafted and wait for your approval "
                              f"(mailbot drafts list)")
    if here not in _WORKING:
        raise cases.CaseError(
            f"case {case.reference} is {here.value}; answers are drafted for a verified or extended case "
            f"(mailbot cases show {case.id})"
        )
    if not cases.writable(case):
        raise cases.CaseError(f"case {case.reference} has no address to answer; answer the requester another way")
    pending = {row.kind for row in waiting(session, case)}
    return tuple(cases.requester_mail(case, k)  # type: ignore[arg-type]
                 for k in kinds_for(case) if k not in pending)


def prepare(session: Session, case: Case, intents: tuple[cases.Outgoing, ...], *, actor: str = cases.BOT,
            now: datetime | None = None) -> tuple[cases.Outgoing, ...]:
    """Record on the case that the planned answers are being drafted; returns intents."""
    if intents:
        case.owner_attention = None
        cases.add_event(session, case, cases.EventKind.NOTE, actor=actor, now=now or clock.now(),
                        detail=f"answers prepared: {', '.join(i.kind.removeprefix(PREFIX) for i in intents)}")
    return intents


def settle(session: Session, case: Case, *, actor: str = cases.BOT, now: datetime | None = None) -> State:
    """Move the case to the state its answers call for (see the module docstring); returns the state."""
    when = now or clock.now()
    here = state_of(case.state)
    session.flush()
    if waiting(session, case):
        if here in _WORKING:
            cases.change_state(session, case, State.AWAITING_APPROVAL, actor=actor, now=when,
                               detail="the answers wait for the owner's approval (the clock keeps running)")
        return state_of(case.state)
    if here not in (State.AWAITING_APPROVAL, *_WORKING):
        return here
    if released_this_round(session, case):
        cases.change_state(session, case, State.RESPONDED, actor=actor, now=when, detail="the answers were sent")
    elif here is State.AWAITING_APPROVAL:
        back = State.EXTENDED if case.extended else State.VERIFIED
        cases.change_state(session, case, back, actor=actor, now=when,
                           detail="every drafted answer was rejected; the owner answers")
        case.owner_attention = (f"the drafted answers were rejected: answer by hand, or draft them again "
                                f"with: mailbot cases respond {case.id}")
    return state_of(case.state)


def cancel_waiting(session: Session, case: Case, why: str, *, actor: str,
                   now: datetime | None = None) -> list[OutboxMessage]:
    """Cancel the case's answers still waiting for approval (the case was refused or withdrawn)."""
    when = now or clock.now()
    rows = waiting(session, case)
    for row in rows:
        row.state = _CANCELLED
        row.next_attempt_at = None
        row.decided_at = when
        row.decision_note = f"cancelled by {actor}: {why}"
        cases.record_approval(session, case, f"draft {row.id} ({row.kind}) cancelled: {why}", actor=actor, now=when)
    return rows


__all__ = [
    "ANSWERED",
    "cancel_waiting",
    "is_response",
    "kinds_for",
    "plan",
    "prepare",
    "released_this_round",
    "round_started",
    "settle",
    "wanted",
    "waiting",
]
