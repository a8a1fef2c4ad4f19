"""The case stage: requests become cases, identity is proven by a reply challenge, the clock is kept.

Everything here works on the database session it is given and sends nothing.
What the bot should send as a result comes back as `Outgoing` intents (a
challenge mail, a confirmation, a notice to the owner); the caller renders them
and puts them in the outbox, then calls `record_mail_out` with the Message-ID
the outbox gave, so the case's thread knows the mail.

The rules, from the issue and UK GDPR as the ICO explains it:

* A request opens a case; a follow-up, or a second request from the same
  address while a case is open, joins it (`open_or_join`).
* A new case is answered with a challenge: an unguessable token for the
  subject and a short code for the body. A reply counts when it is matched to
  the challenge (In-Reply-To / References naming one of our mails, or the
  token in the subject), comes from the address the request came from, and
  contains the code anywhere in its text, quotes included: replying is the
  proof. Wrong codes from the right address count towards `max_attempts`;
  after that the case waits for the owner. Replies from other addresses never
  count, not even as attempts, so a stranger cannot lock a case.
* The statutory clock starts on the day of receipt in the business's time
  zone, or, where identity had to be confirmed first, on the day the
  confirmation arrived; mailbot.deadline does the calendar.
* Every state change goes through mailbot.casework.transition and writes a
  CaseEvent; the audit trail is append-only (the database refuses updates).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from mailbot import clock, deadline
from mailbot.casework import CaseError, State, is_open, state_of, transition
from mailbot.config import Config, IdentityConfig
from mailbot.errors import NotFound
from mailbot.models import Case, CaseEvent, CaseMessage, Challenge, Message

BOT = "bot"
REQUESTER = "requester"

# Labels of the classifier that are not rights (mailbot.classifier.model); kept
# here as strings so the case stage does not import spaCy.
_FOLLOW_UP = "follow_up"
_NONE = "none"

_TOKEN_BYTES = 16  # secrets.token_urlsafe(16): 22 characters, 128 bits
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")
_CODE_DIGITS = 6
# People type codes as "123 456" or "123-456"; join digit groups before searching.
_DIGIT_GAP = re.compile(r"(?<=\d)[ \-\u00a0](?=\d)")
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


class EventKind(StrEnum):
    """What a line of the audit trail records."""

    STATE_CHANGE = "state_change"
    MAIL_IN = "mail_in"
    MAIL_OUT = "mail_out"
    APPROVAL = "approval"
    IDENTITY = "identity"
    NOTE = "note"


class IdentityMethod(StrEnum):
    """How a requester's identity was confirmed."""

    REPLY_CODE = "reply_code"
    MANUAL = "manual"


OutgoingKind = Literal[
    "ack_challenge",         # to the requester: we got it, reply with this code
    "challenge_reminder",    # to the requester: the code has not come back yet
    "identity_confirmed",    # to the requester: confirmed, the clock runs, due date
    "identity_wrong_code",   # to the requester: the reply did not carry the code
    "identity_locked",       # to the requester: too many tries, a person will look at it
    "identity_expired",      # to the requester: the code had expired
    "clarification",         # to the requester: a question; the clock stops until they answer
    "extension",             # to the requester: the deadline is extended, with reasons
    "complaint_ack",         # to the requester: a complaint about their data was received
    "refusal",               # to the requester: we will not act on it, with reasons (`reason`)
    "case_closed",           # to the requester: the case is closed (`reason` says why)
    "response_access",       # to the requester: the answer to each right (mailbot.responses)
    "response_rectification",
    "response_erasure",
    "response_restriction",
    "response_objection",
    "response_portability",
    "response_withdraw_consent",
    "owner_new_case",        # to the owner: a new case was opened
    "owner_notice",          # to the owner: something needs their eyes (see `reason`)
]
Outcome = Literal["verified", "wrong_code", "wrong_sender", "expired", "locked", "no_match", "not_pending"]
Action = Literal["opened", "joined", "identity_reply", "ignored", "already_handled"]


# The decision detail of a possible request left for the daily digest ([owner] possible_requests).
POSSIBLE_REQUEST_DIGESTED = "possibly a request; listed in the owner's next daily digest"


@dataclass(frozen=True)
class CasePolicy:
    """What the case stage needs from the configuration."""

    nation: str = "england-and-wales"
    timezone: str = "Europe/London"
    identity: IdentityConfig = IdentityConfig()
    own_addresses: frozenset[str] = frozenset()
    owner_email: str = ""
    reference_prefix: str = "AK"
    possible_requests: str = "notice"  # "digest": no notice per mail; the daily digest lists them

    @classmethod
    def from_config(cls, config: Config) -> CasePolicy:
        """The policy of a loaded configuration."""
        own = {config.bot.address.lower(), config.owner.email.lower()}
        if config.business.contact_email:
            own.add(config.business.contact_email.lower())
        return cls(
            nation=config.business.nation,
            timezone=config.business.timezone,
            identity=config.identity,
            own_addresses=frozenset(own),
            owner_email=config.owner.email,
            reference_prefix=reference_prefix(config.business.name),
            possible_requests=config.owner.possible_requests,
        )


@dataclass(frozen=True)
class Outgoing:
    """A mail the bot should send because of a case decision; the caller renders and queues it.

    Message-IDs are in header form (with angle brackets). `subject_tag` must
    appear in the subject: for challenge mails it carries the token that
    matches a reply whose threading headers were lost.
    """

    kind: OutgoingKind
    case_id: int | None  # None only for an owner notice about a message that has no case
    case_reference: str
    to: str
    subject_tag: str
    reply_to_message_id: str | None = None
    references: tuple[str, ...] = ()
    challenge_id: int | None = None
    code: str | None = None
    expires_at: datetime | None = None
    attempts_left: int | None = None
    due_on: date | None = None
    # owner_notice: unanswerable | uncertain | wrong_sender | locked | expired | follow_up |
    # clarification_received | reopened | possible_request | cannot_draft; extension, refusal: the
    # reasons; case_closed: why (answered | withdrawn | expired | refused | no_reply).
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True)
class RequestSignal:
    """What the classifier said about a message, as far as cases care."""

    is_request: bool
    rights: tuple[str, ...] = ()
    follow_up: bool = False
    uncertain: bool = False

    @classmethod
    def from_json(cls, text: str | None) -> RequestSignal:
        """Read the classifier's JSON (None or unreadable: not a request, uncertain)."""
        if not text:
            return cls(is_request=False)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return cls(is_request=False, uncertain=True)
        if not isinstance(data, dict):
            return cls(is_request=False, uncertain=True)
        labels = [str(x) for x in data.get("labels") or []]
        return cls(
            is_request=bool(data.get("is_request")),
            rights=tuple(sorted({x for x in labels if x not in (_FOLLOW_UP, _NONE)})),
            follow_up=_FOLLOW_UP in labels,
            uncertain=bool(data.get("uncertain")),
        )


@dataclass(frozen=True)
class ChallengeResult:
    """What a reply did to a challenge. A result other than "verified" never advances the case."""

    outcome: Outcome
    case_id: int | None = None
    case_reference: str | None = None
    challenge_id: int | None = None
    attempts_left: int | None = None
    outgoing: tuple[Outgoing, ...] = ()


@dataclass(frozen=True)
class CaseDecision:
    """What the case stage did with one incoming message."""

    action: Action
    case_id: int | None = None
    case_reference: str | None = None
    challenge: ChallengeResult | None = None
    outgoing: tuple[Outgoing, ...] = ()
    detail: str = ""


# -- the audit trail ------------------------------------------------------


@event.listens_for(CaseEvent, "before_update")
def _refuse_event_update(_mapper: object, _conn: object, target: CaseEvent) -> None:
    raise CaseError(f"audit line {target.id} cannot be changed: the case trail is append-only")


@event.listens_for(CaseEvent, "before_delete")
def _refuse_event_delete(_mapper: object, _conn: object, target: CaseEvent) -> None:
    raise CaseError(f"audit line {target.id} cannot be deleted: the case trail is append-only")


def add_event(
    session: Session,
    case: Case,
    kind: EventKind,
    *,
    actor: str,
    detail: str = "",
    from_state: str | None = None,
    to_state: str | None = None,
    message_ref: str | None = None,
    message: Message | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    """Append one line to the case's audit trail."""
    when = now or clock.now()
    if message is not None and message_ref is None:
        message_ref = _norm_id(message.message_id)
    row = CaseEvent(
        case=case, at=when, kind=kind.value, actor=actor, from_state=from_state, to_state=to_state,
        message_ref=_norm_id(message_ref), message_row_id=message.id if message is not None else None,
        detail=detail,
    )
    session.add(row)
    case.updated_at = when
    return row


def change_state(
    session: Session,
    case: Case,
    target: State,
    *,
    actor: str,
    detail: str = "",
    message: Message | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    """Move the case to target (InvalidTransition if the state machine forbids it) and log it."""
    when = now or clock.now()
    before = state_of(case.state)
    after = transition(before, target)
    case.state = after.value
    if after is State.CLOSED:
        case.closed_at = when
    return add_event(session, case, EventKind.STATE_CHANGE, actor=actor, detail=detail,
                     from_state=before.value, to_state=after.value, message=message, now=when)


def add_note(session: Session, case: Case, text: str, *, actor: str, now: datetime | None = None) -> CaseEvent:
    """The owner's (or the bot's) free-text note on a case."""
    if not text.strip():
        raise CaseError("a note needs some text")
    return add_event(session, case, EventKind.NOTE, actor=actor, detail=text.strip(), now=now)


def record_approval(session: Session, case: Case, detail: str, *, actor: str,
                    now: datetime | None = None) -> CaseEvent:
    """Log that actor approved (or rejected) something on the case, e.g. a draft."""
    return add_event(session, case, EventKind.APPROVAL, actor=actor, detail=detail, now=now)


def record_mail_out(
    session: Session,
    case: Case,
    message_id: str,
    *,
    kind: str,
    to: str,
    challenge_id: int | None = None,
    actor: str = BOT,
    now: datetime | None = None,
) -> CaseEvent:
    """Log a mail the outbox queued for the case; replies to it then find the case by thread.

    With challenge_id, the Message-ID is also stored on that challenge, which
    is how a reply's In-Reply-To is matched to it.
    """
    if challenge_id is not None:
        challenge = session.get(Challenge, challenge_id)
        if challenge is None or challenge.case_id != case.id:
            raise CaseError(f"challenge {challenge_id} does not belong to case {case.reference}")
        challenge.message_id = _norm_id(message_id)
    return add_event(session, case, EventKind.MAIL_OUT, actor=actor, detail=f"{kind} to {to}",
                     message_ref=message_id, now=now)


# -- incoming mail ----------------------------------------------------------


def open_or_join(
    session: Session,
    message: Message,
    classification: RequestSignal | None = None,
    *,
    policy: CasePolicy,
    now: datetime | None = None,
) -> CaseDecision:
    """Decide what one recorded message means for the cases: open, join, identity reply, or nothing.

    classification defaults to the classifier JSON stored on the message.
    Calling it twice for the same message does nothing the second time.
    """
    when = now or clock.now()
    if message.status != "accepted":
        return CaseDecision("ignored", detail=f"message {message.id} is {message.status}, not a case matter")
    if message.id is None:
        session.flush()
    linked = session.get(CaseMessage, message.id)
    if linked is not None:
        case = session.get(Case, linked.case_id)
        assert case is not None
        return CaseDecision("already_handled", case.id, case.reference,
                            detail=f"message {message.id} already belongs to case {case.reference}")
    signal = classification or RequestSignal.from_json(message.classification)

    challenge = _challenge_for(session, message)
    if challenge is not None:
        result = _answer_challenge(session, challenge, message, policy, when)
        if result.outcome != "not_pending":
            return CaseDecision("identity_reply", result.case_id, result.case_reference, result,
                                result.outgoing, detail=result.outcome)
        # Identity is settled on that case: the reply is an ordinary follow-up.
        return _join(session, challenge.case, message, signal, policy, when)

    case = _thread_case(session, message) or _open_case_of(session, message.from_address)
    if case is not None:
        return _join(session, case, message, signal, policy, when)
    if signal.is_request:
        return _open(session, message, signal, policy, when)
    if signal.uncertain or signal.follow_up:
        if policy.possible_requests == "digest":
            return CaseDecision("ignored", detail=POSSIBLE_REQUEST_DIGESTED)
        notice = _owner_notice_without_case(
            message, policy, "possible_request",
            "the classifier could not tell whether this is a request and no open case matches it",
        )
        return CaseDecision("ignored", outgoing=(notice,) if notice else (),
                            detail="possibly a request; the owner is told")
    return CaseDecision("ignored", detail="not a request and no open case")


def check_reply(session: Session, message: Message, *, policy: CasePolicy,
                now: datetime | None = None) -> ChallengeResult:
    """Match message to a challenge and judge it; "no_match" (and no change) when it answers none."""
    if message.id is not None and session.get(CaseMessage, message.id) is not None:
        raise CaseError(f"message {message.id} was already handled; a reply is judged once")
    challenge = _challenge_for(session, message)
    if challenge is None:
        return ChallengeResult("no_match")
    return _answer_challenge(session, challenge, message, policy, now or clock.now())


# -- the challenge ----------------------------------------------------------


def issue_challenge(
    session: Session,
    case: Case,
    *,
    policy: CasePolicy,
    actor: str = BOT,
    message_id: str | None = None,
    now: datetime | None = None,
) -> Challenge:
    """Create a challenge for the case, moving a new case to awaiting_identity (its clock waits).

    message_id is the Message-ID of the challenge mail when the caller already
    knows it; otherwise pass it later to `record_mail_out(challenge_id=...)`.
    """
    when = now or clock.now()
    here = state_of(case.state)
    if here is State.NEW:
        if not case.requester_address or answerable_problem(case.requester_address, policy):
            raise CaseError(
                f"case {case.reference} has no address a challenge could be sent to; "
                f"confirm identity by hand: mailbot cases verify {case.id} --note \"...\""
            )
        change_state(session, case, State.AWAITING_IDENTITY, actor=actor, now=when,
                     detail="identity must be confirmed before the clock starts")
        # The clock starts when the confirmation arrives, not on receipt.
        case.clock_started_on = None
        case.due_on = None
    elif here is not State.AWAITING_IDENTITY:
        raise CaseError(f"case {case.reference} is {here.value}; a challenge is sent only to a new case "
                        "or one awaiting identity")
    ttl = timedelta(days=policy.identity.code_ttl_days)
    challenge = Challenge(
        case=case,
        token=secrets.token_urlsafe(_TOKEN_BYTES),
        code=f"{secrets.randbelow(10 ** _CODE_DIGITS):0{_CODE_DIGITS}d}",
        message_id=_norm_id(message_id),
        sent_at=when,
        expires_at=when + ttl,
        attempts=0,
    )
    session.add(challenge)
    session.flush()
    add_event(session, case, EventKind.IDENTITY, actor=actor, now=when,
              detail=f"code issued (challenge {challenge.id}), valid until {_local(when + ttl, policy)}")
    return challenge


def resend_challenge(session: Session, case: Case, *, policy: CasePolicy, actor: str,
                     now: datetime | None = None) -> tuple[Challenge, Outgoing]:
    """A fresh code and token for a case awaiting identity (also lifts a lock); the old code stops counting."""
    if state_of(case.state) is not State.AWAITING_IDENTITY:
        raise CaseError(f"case {case.reference} is {case.state}; only a case awaiting identity gets a new code")
    challenge = issue_challenge(session, case, policy=policy, actor=actor, now=now)
    if case.owner_attention:
        case.owner_attention = None
    return challenge, challenge_mail(case, challenge)


def challenge_mail(case: Case, challenge: Challenge) -> Outgoing:
    """The ack_challenge intent for a challenge: the code for the body, the token for the subject."""
    assert case.requester_address is not None
    return Outgoing(
        kind="ack_challenge", case_id=case.id, case_reference=case.reference, to=case.requester_address,
        subject_tag=challenge_subject_tag(case, challenge),
        reply_to_message_id=_header_id(case.root_message_id),
        challenge_id=challenge.id, code=challenge.code, expires_at=challenge.expires_at,
    )


def challenge_subject_tag(case: Case, challenge: Challenge) -> str:
    """What a challenge mail's subject must contain: the case reference and the token."""
    return f"[{case.reference} {challenge.token}]"


def active_challenge(case: Case) -> Challenge | None:
    """The newest challenge of the case: the only one whose code counts."""
    return case.challenges[-1] if case.challenges else None


def verify_manually(
    session: Session,
    case: Case,
    note: str,
    actor: str,
    *,
    policy: CasePolicy,
    now: datetime | None = None,
) -> tuple[Outgoing, ...]:
    """The owner confirms identity by hand (note says how); the clock starts today if it waited."""
    when = now or clock.now()
    if not note.strip():
        raise CaseError("say how you confirmed the requester's identity: --note \"...\"")
    if case.identity_method:
        raise CaseError(f"identity on case {case.reference} was already confirmed ({case.identity_method})")
    waited = state_of(case.state) is State.AWAITING_IDENTITY
    change_state(session, case, State.VERIFIED, actor=actor, now=when,
                 detail=f"identity confirmed by hand: {note.strip()}")
    challenge = active_challenge(case)
    if challenge is not None and challenge.verified_at is None:
        challenge.verified_at = when
        challenge.method = IdentityMethod.MANUAL.value
    case.identity_method = IdentityMethod.MANUAL.value
    case.identity_detail = note.strip()
    case.identity_confirmed_at = when
    case.owner_attention = None
    if waited or case.clock_started_on is None:
        case.clock_started_on = local_day(when, policy)
    _update_due(case, policy)
    add_event(session, case, EventKind.IDENTITY, actor=actor, now=when,
              detail=f"identity confirmed by hand; clock started {case.clock_started_on}, due {case.due_on}")
    if case.requester_address and not answerable_problem(case.requester_address, policy):
        return (requester_mail(case, "identity_confirmed", due_on=case.due_on),)
    return ()


def remind_challenges(session: Session, *, policy: CasePolicy,
                      now: datetime | None = None) -> tuple[Outgoing, ...]:
    """Reminders for codes not answered after `reminder_after_days`; each challenge is reminded once."""
    when = now or clock.now()
    after = timedelta(days=policy.identity.reminder_after_days)
    out: list[Outgoing] = []
    for case in _awaiting_identity(session):
        ch = active_challenge(case)
        if (ch is None or ch.reminded_at is not None or ch.locked_at is not None
                or ch.sent_at + after > when or ch.expires_at <= when):
            continue
        ch.reminded_at = when
        add_event(session, case, EventKind.IDENTITY, actor=BOT, now=when,
                  detail=f"reminder due: code not answered since {_local(ch.sent_at, policy)}")
        out.append(Outgoing(
            kind="challenge_reminder", case_id=case.id, case_reference=case.reference,
            to=case.requester_address or "", subject_tag=challenge_subject_tag(case, ch),
            reply_to_message_id=_header_id(ch.message_id or case.root_message_id),
            challenge_id=ch.id, code=ch.code, expires_at=ch.expires_at,
        ))
    return tuple(out)


def expire_challenges(session: Session, now: datetime | None = None, *,
                      policy: CasePolicy | None = None) -> tuple[Outgoing, ...]:
    """Move cases whose code expired unanswered to `expired`; locked cases keep waiting for the owner."""
    when = now or clock.now()
    out: list[Outgoing] = []
    for case in _awaiting_identity(session):
        ch = active_challenge(case)
        if ch is None or ch.locked_at is not None or ch.expires_at > when:
            continue
        change_state(session, case, State.EXPIRED, actor=BOT, now=when,
                     detail=f"identity not confirmed: code expired {ch.expires_at:%Y-%m-%d %H:%M} UTC")
        if policy is not None and policy.owner_email:
            out.append(owner_notice(case, policy, "expired",
                                     "the requester never returned the code; the case expired"))
    return tuple(out)


# -- the clock ----------------------------------------------------------------


def ask_clarification(session: Session, case: Case, question: str, *, actor: str, policy: CasePolicy,
                      now: datetime | None = None) -> Outgoing:
    """Stop the clock to ask the requester what they mean; the question goes out as a "clarification"."""
    when = now or clock.now()
    if not question.strip():
        raise CaseError("a clarification needs the question to ask")
    change_state(session, case, State.AWAITING_CLARIFICATION, actor=actor, now=when,
                 detail=f"clarification asked, clock stopped: {question.strip()}")
    case.paused_on = local_day(when, policy)
    return requester_mail(case, "clarification", detail=question.strip())


def resume_clarification(session: Session, case: Case, *, actor: str, policy: CasePolicy,
                         message: Message | None = None, now: datetime | None = None) -> CaseEvent:
    """The requester answered: restart the clock and push the due date by the days it stood still."""
    when = now or clock.now()
    if state_of(case.state) is not State.AWAITING_CLARIFICATION or case.paused_on is None:
        raise CaseError(f"case {case.reference} is {case.state}, not awaiting clarification")
    answered = message.received_at if message is not None else when
    days = deadline.count_paused_days(
        [deadline.Pause(asked=case.paused_on, answered=answered)], timezone=policy.timezone)
    target = State.EXTENDED if case.extended else State.VERIFIED
    case.paused_days += days
    case.paused_on = None
    _update_due(case, policy)
    return change_state(session, case, target, actor=actor, message=message, now=when,
                        detail=f"clarification received, clock restarted after {days} day(s); due {case.due_on}")


def extend(session: Session, case: Case, reasons: str, *, actor: str, policy: CasePolicy,
           now: datetime | None = None) -> Outgoing:
    """Take the two-month extension (only before the due date passes); returns the notice with the reasons."""
    when = now or clock.now()
    if not reasons.strip():
        raise CaseError("an extension needs the reasons the requester will be told")
    if case.extended:
        raise CaseError(f"case {case.reference} is already extended (due {case.due_on}); it can be extended once")
    if case.clock_started_on is None:
        raise CaseError(f"case {case.reference} has no running clock to extend")
    today = local_day(when, policy)
    # Raises DeadlineError (with the date that passed) before anything changes.
    _deadline(case, policy, extended=True, extended_on=today)
    change_state(session, case, State.EXTENDED, actor=actor, now=when,
                 detail=f"extended by two months: {reasons.strip()}")
    case.extended = True
    case.extended_on = today
    _update_due(case, policy)
    add_event(session, case, EventKind.NOTE, actor=actor, now=when, detail=f"new due date {case.due_on}")
    return requester_mail(case, "extension", due_on=case.due_on, reason=reasons.strip())


# -- the end of a case ----------------------------------------------------------

# Why a case closed, by the state it closes from (the case_closed template words each).
_CLOSED_REASON = {
    State.RESPONDED: "answered",
    State.WITHDRAWN: "withdrawn",
    State.EXPIRED: "expired",
    State.REFUSED: "refused",
    State.AWAITING_CLARIFICATION: "no_reply",
}


def refuse(session: Session, case: Case, reasons: str, *, actor: str,
           now: datetime | None = None) -> Outgoing | None:
    """Refuse the request (manifestly unfounded or excessive); returns the refusal with the reasons.

    None when the requester cannot be written to: the refusal is then only on record.
    """
    when = now or clock.now()
    if not reasons.strip():
        raise CaseError("a refusal needs the reasons the requester will be told: --reason \"...\"")
    change_state(session, case, State.REFUSED, actor=actor, now=when, detail=f"refused: {reasons.strip()}")
    case.owner_attention = None
    return requester_mail(case, "refusal", reason=reasons.strip()) if writable(case) else None


def withdraw(session: Session, case: Case, note: str, *, actor: str, now: datetime | None = None) -> CaseEvent:
    """Record that the requester withdrew the request (note says how they told us)."""
    if not note.strip():
        raise CaseError("say how the requester withdrew, e.g. --note \"phoned to say they no longer need it\"")
    case.owner_attention = None
    return change_state(session, case, State.WITHDRAWN, actor=actor, now=now,
                        detail=f"withdrawn by the requester: {note.strip()}")


def close(session: Session, case: Case, *, actor: str, notify: bool = True,
          now: datetime | None = None) -> Outgoing | None:
    """Close the case for good; returns the case_closed mail (None with notify=False or no address)."""
    when = now or clock.now()
    here = state_of(case.state)
    reason = _CLOSED_REASON.get(here)
    if reason is None:
        raise CaseError(
            f"case {case.reference} is {here.value}; close it once it is answered, refused, withdrawn, "
            f"expired or its clarification never came (mailbot cases show {case.id})"
        )
    change_state(session, case, State.CLOSED, actor=actor, now=when, detail=f"closed: {reason}")
    case.owner_attention = None
    case.paused_on = None
    return requester_mail(case, "case_closed", reason=reason) if notify and writable(case) else None


def writable(case: Case) -> bool:
    """True when the requester has an address a mail can go to."""
    return bool(case.requester_address) and _ADDRESS.match(case.requester_address or "") is not None


def deadline_of(case: Case, policy: CasePolicy) -> deadline.Deadline | None:
    """The case's deadline with its explanation; None while the clock has not started."""
    if case.clock_started_on is None:
        return None
    return _deadline(case, policy, extended=case.extended, extended_on=case.extended_on)


def days_left(case: Case, policy: CasePolicy, today: date | None = None) -> int | None:
    """Days from today (business time zone) to the due date; negative when overdue, None without one."""
    if case.due_on is None:
        return None
    return (case.due_on - (today or local_day(clock.now(), policy))).days


def local_day(moment: datetime, policy: CasePolicy) -> date:
    """The business's calendar day of an aware moment."""
    return deadline.local_day(moment, ZoneInfo(policy.timezone))


# -- looking cases up -------------------------------------------------------


def find_case(session: Session, key: str | int) -> Case:
    """The case with this number or reference (e.g. 7 or AK-2026-0007); NotFound otherwise."""
    text = str(key).strip()
    case = session.get(Case, int(text)) if text.isdigit() else session.scalar(
        select(Case).where(Case.reference == text.upper()))
    if case is None:
        raise NotFound(f"no case {text} (see: mailbot cases list)")
    return case


def list_cases(session: Session, *, open_only: bool = False) -> list[Case]:
    """Cases by number; with open_only, those a new mail could still join."""
    cases = list(session.scalars(select(Case).order_by(Case.id)))
    return [c for c in cases if is_open(c.state)] if open_only else cases


def messages_of(session: Session, case: Case, role: str | None = None) -> list[Message]:
    """The incoming messages of a case, oldest first; role narrows to request | follow_up | identity_reply."""
    query = select(Message).join(CaseMessage, CaseMessage.message_id == Message.id).where(
        CaseMessage.case_id == case.id)
    if role is not None:
        query = query.where(CaseMessage.role == role)
    return list(session.scalars(query.order_by(Message.id)))


def rights_of(case: Case) -> tuple[str, ...]:
    """The rights a case exercises."""
    return tuple(r for r in case.rights.split(",") if r)


def answerable_problem(address: str | None, policy: CasePolicy) -> str | None:
    """Why mail cannot be sent to address (None when it can)."""
    if not address:
        return "the message has no sender address"
    if not _ADDRESS.match(address):
        return f"the sender address {address!r} is not a valid address"
    if address.lower() in policy.own_addresses:
        return f"the request came from our own address {address}"
    return None


def reference_prefix(business_name: str) -> str:
    """The letters case references start with: the leading letters of the business's name."""
    match = re.match(r"[A-Za-z]+", business_name.strip())
    return match.group(0)[:4].upper() if match else "CASE"


# -- inside -----------------------------------------------------------------


def _open(session: Session, message: Message, signal: RequestSignal, policy: CasePolicy,
          now: datetime) -> CaseDecision:
    """A new case for a request; answered with a challenge, or handed to the owner."""
    address = (message.from_address or "").strip().lower() or None
    received_day = local_day(message.received_at, policy)
    case = Case(
        reference=_next_reference(session, policy.reference_prefix, received_day.year),
        requester_address=address, requester_name=message.from_name or "",
        rights=",".join(signal.rights), subject=message.subject or "", state=State.NEW.value,
        received_at=message.received_at, root_message_id=_norm_id(message.message_id),
        paused_days=0, extended=False, created_at=now, updated_at=now,
    )
    session.add(case)
    session.flush()
    add_event(session, case, EventKind.STATE_CHANGE, actor=BOT, to_state=State.NEW.value, now=now,
              detail=f"case opened: {', '.join(signal.rights) or 'rights not recognised'}")
    _link(session, case, message, "request", now)
    problem = answerable_problem(address, policy)
    if problem:
        # Nobody to challenge: the clock runs from receipt while the owner decides.
        case.clock_started_on = received_day
        _update_due(case, policy)
        case.owner_attention = f"cannot be answered: {problem}"
        add_event(session, case, EventKind.NOTE, actor=BOT, now=now,
                  detail=f"{case.owner_attention}; waiting for the owner (due {case.due_on})")
        notice = owner_notice(case, policy, "unanswerable", problem) if policy.owner_email else None
        return CaseDecision("opened", case.id, case.reference, outgoing=(notice,) if notice else (),
                            detail=case.owner_attention)
    if set(signal.rights) == {"complaint"}:
        return _open_complaint(session, case, message, signal, policy, now)
    challenge = issue_challenge(session, case, policy=policy, now=now)
    out = [challenge_mail(case, challenge)]
    if policy.owner_email:
        out.append(owner_notice(case, policy, "uncertain",
                                 "the classifier was unsure this is a request; a challenge was sent")
                   if signal.uncertain else _owner_new_case(case, policy))
    return CaseDecision("opened", case.id, case.reference, outgoing=tuple(out),
                        detail="identity challenge issued")


def _open_complaint(session: Session, case: Case, message: Message, signal: RequestSignal, policy: CasePolicy,
                    now: datetime) -> CaseDecision:
    """A complaint alone discloses nothing, so it needs no identity check: acknowledge it at once.

    The clock runs from receipt so the owner is reminded to answer it; the
    owner answers the substance by hand.
    """
    change_state(session, case, State.VERIFIED, actor=BOT, now=now,
                 detail="a complaint: acknowledged without an identity check (it discloses no personal data)")
    case.clock_started_on = local_day(message.received_at, policy)
    _update_due(case, policy)
    out = [requester_mail(case, "complaint_ack")]
    if policy.owner_email:
        out.append(owner_notice(case, policy, "uncertain",
                                 "the classifier was unsure this is a complaint; it was acknowledged")
                   if signal.uncertain else _owner_new_case(case, policy))
    return CaseDecision("opened", case.id, case.reference, outgoing=tuple(out),
                        detail=f"complaint acknowledged; due {case.due_on}")


def _join(session: Session, case: Case, message: Message, signal: RequestSignal, policy: CasePolicy,
          now: datetime) -> CaseDecision:
    """Add a follow-up (or a further request) to an open case."""
    _link(session, case, message, "follow_up", now)
    added = sorted(set(signal.rights) - set(rights_of(case)))
    if signal.is_request and added:
        case.rights = ",".join(sorted(set(rights_of(case)) | set(added)))
        add_event(session, case, EventKind.NOTE, actor=BOT, now=now, detail=f"rights added: {', '.join(added)}")
    from_requester = (message.from_address or "").lower() == (case.requester_address or "")
    here = state_of(case.state)
    out: list[Outgoing] = []
    detail = "follow-up joined the case"
    if here is State.AWAITING_CLARIFICATION and from_requester:
        resume_clarification(session, case, actor=REQUESTER, policy=policy, message=message, now=now)
        reason, detail = "clarification_received", f"clarification received; due {case.due_on}"
    elif here is State.RESPONDED and signal.is_request and from_requester:
        # A new request after our answer is a new request in law: its own month from today.
        change_state(session, case, State.VERIFIED, actor=REQUESTER, message=message, now=now,
                     detail="a new request after the response reopens the case")
        case.clock_started_on = local_day(message.received_at, policy)
        case.paused_days, case.paused_on, case.extended, case.extended_on = 0, None, False, None
        _update_due(case, policy)
        reason, detail = "reopened", f"reopened by a new request; due {case.due_on}"
    else:
        reason = "follow_up"
    if policy.owner_email:
        out.append(owner_notice(case, policy, reason, detail, message=message))
    return CaseDecision("joined", case.id, case.reference, outgoing=tuple(out), detail=detail)


def _answer_challenge(session: Session, matched: Challenge, message: Message, policy: CasePolicy,
                      now: datetime) -> ChallengeResult:
    """Judge a reply matched to a challenge; only "verified" moves the case forward."""
    case = matched.case
    here = state_of(case.state)
    if here not in (State.AWAITING_IDENTITY, State.EXPIRED):
        return ChallengeResult("not_pending", case.id, case.reference, matched.id)
    ch = active_challenge(case) or matched
    sender = (message.from_address or "").strip().lower()
    max_attempts = policy.identity.max_attempts
    _link(session, case, message, "identity_reply", now, detail="reply to the identity challenge")

    def result(outcome: Outcome, note: str, outgoing: Iterable[Outgoing], actor: str = REQUESTER) -> ChallengeResult:
        add_event(session, case, EventKind.IDENTITY, actor=actor, detail=f"{outcome}: {note}",
                  message=message, now=now)
        return ChallengeResult(outcome, case.id, case.reference, ch.id,
                               max(max_attempts - ch.attempts, 0), tuple(outgoing))

    if sender != (case.requester_address or ""):
        detail = (f"a reply to the identity challenge came from {sender or 'no address'}, "
                  f"not from {case.requester_address}; it was not counted")
        notices = [owner_notice(case, policy, "wrong_sender", detail, message)] if policy.owner_email else []
        return result("wrong_sender", f"reply from {sender or 'no address'} is not from the requester's address",
                      notices, actor=sender or "unknown")
    if here is State.EXPIRED or ch.expires_at <= message.received_at:
        outcome = result("expired", "reply arrived after the code expired; not counted",
                         [requester_mail(case, "identity_expired", reply_to=message)])
        if here is State.AWAITING_IDENTITY:
            change_state(session, case, State.EXPIRED, actor=BOT, now=now,
                         detail=f"identity not confirmed: code expired {ch.expires_at:%Y-%m-%d %H:%M} UTC")
        return outcome
    if ch.locked_at is not None:
        return result("locked", "too many wrong codes before; waiting for the owner", [])
    if _contains_code(message, ch.code):
        outcome = result("verified", "the code came back from the requester's address", [])
        _verify_by_reply(session, case, ch, message, policy, now)
        confirmed = requester_mail(case, "identity_confirmed", reply_to=message, due_on=case.due_on)
        return ChallengeResult("verified", case.id, case.reference, ch.id, outcome.attempts_left, (confirmed,))
    ch.attempts += 1
    if ch.attempts >= max_attempts:
        ch.locked_at = now
        case.owner_attention = (f"{ch.attempts} replies without the right code; confirm by hand "
                                f"(mailbot cases verify {case.id} --note ...) or send a new code")
        out = [requester_mail(case, "identity_locked", reply_to=message)]
        if policy.owner_email:
            out.append(owner_notice(case, policy, "locked", case.owner_attention, message))
        return result("locked", f"wrong code (attempt {ch.attempts} of {max_attempts}); the owner decides now", out)
    return result("wrong_code", f"wrong code (attempt {ch.attempts} of {max_attempts})",
                  [requester_mail(case, "identity_wrong_code", reply_to=message,
                                 attempts_left=max_attempts - ch.attempts)])


def _verify_by_reply(session: Session, case: Case, ch: Challenge, message: Message, policy: CasePolicy,
                     now: datetime) -> None:
    """The code came back from the right address: identity confirmed, the clock starts that day."""
    ch.verified_at = now
    ch.method = IdentityMethod.REPLY_CODE.value
    case.identity_method = IdentityMethod.REPLY_CODE.value
    case.identity_detail = (f"reply from {case.requester_address} carried the code of challenge {ch.id} "
                            f"(message {message.message_id or message.id})")
    case.identity_confirmed_at = message.received_at
    case.clock_started_on = local_day(message.received_at, policy)
    _update_due(case, policy)
    change_state(session, case, State.VERIFIED, actor=REQUESTER, message=message, now=now,
                 detail=f"identity confirmed by reply code; clock started {case.clock_started_on}, due {case.due_on}")


def _challenge_for(session: Session, message: Message) -> Challenge | None:
    """The challenge a message answers: by our Message-IDs in its thread headers, else by the subject token."""
    ids = _thread_ids(message)
    if ids:
        found = session.scalars(
            select(Challenge).where(Challenge.message_id.in_(ids)).order_by(Challenge.id.desc())
        ).first()
        if found is not None:
            return found
        # A reply to another of our mails about a pending identity (a reminder, a wrong-code notice).
        case = session.scalars(
            select(Case).join(CaseEvent, CaseEvent.case_id == Case.id).where(
                CaseEvent.kind == EventKind.MAIL_OUT.value, CaseEvent.message_ref.in_(ids),
                Case.state.in_([State.AWAITING_IDENTITY.value, State.EXPIRED.value]),
            ).order_by(CaseEvent.id.desc())
        ).first()
        if case is not None and case.challenges:
            return active_challenge(case)
    tokens = _TOKEN.findall(message.subject or "")
    if tokens:
        return session.scalars(
            select(Challenge).where(Challenge.token.in_(tokens)).order_by(Challenge.id.desc())
        ).first()
    return None


def _thread_case(session: Session, message: Message) -> Case | None:
    """The open case whose mails this message replies to or references."""
    ids = _thread_ids(message)
    if not ids:
        return None
    for case in session.scalars(
        select(Case).join(CaseEvent, CaseEvent.case_id == Case.id).where(
            CaseEvent.kind.in_([EventKind.MAIL_IN.value, EventKind.MAIL_OUT.value]),
            CaseEvent.message_ref.in_(ids),
        ).order_by(CaseEvent.id.desc())
    ):
        if is_open(case.state):
            return case
    return None


def _open_case_of(session: Session, address: str | None) -> Case | None:
    """The newest open case of a requester address."""
    if not address:
        return None
    for case in session.scalars(
        select(Case).where(Case.requester_address == address.strip().lower()).order_by(Case.id.desc())
    ):
        if is_open(case.state):
            return case
    return None


def _awaiting_identity(session: Session) -> Sequence[Case]:
    return session.scalars(
        select(Case).where(Case.state == State.AWAITING_IDENTITY.value).order_by(Case.id)
    ).all()


def _link(session: Session, case: Case, message: Message, role: str, now: datetime,
          detail: str = "") -> None:
    """Attach an incoming message to the case and log it as mail in."""
    session.add(CaseMessage(message_id=message.id, case_id=case.id, role=role, linked_at=now))
    sender = message.from_address or "no address"
    actor = REQUESTER if (message.from_address or "").lower() == (case.requester_address or "") else sender
    add_event(session, case, EventKind.MAIL_IN, actor=actor, message=message, now=now,
              detail=detail or f"{role} from {sender}: {message.subject!r}")


def _contains_code(message: Message, code: str) -> bool:
    """True when the code is anywhere in the reply, quoted text and subject included."""
    pattern = re.compile(rf"(?<!\d){re.escape(code)}(?!\d)")
    for text in (message.subject, message.new_text, message.body_text):
        if text and pattern.search(_DIGIT_GAP.sub("", text)):
            return True
    return False


def _update_due(case: Case, policy: CasePolicy) -> None:
    """Store the due date that follows from the case's clock fields."""
    found = deadline_of(case, policy)
    case.due_on = found.due if found is not None else None


def _deadline(case: Case, policy: CasePolicy, *, extended: bool, extended_on: date | None) -> deadline.Deadline:
    assert case.clock_started_on is not None
    received = local_day(case.received_at, policy)
    identity = case.clock_started_on if case.clock_started_on != received else None
    return deadline.due_date(
        case.received_at, nation=policy.nation, timezone=policy.timezone, identity_received=identity,
        paused_days=case.paused_days, extended=extended, extended_on=extended_on,
    )


def _next_reference(session: Session, prefix: str, year: int) -> str:
    """The next free reference of the year, e.g. AK-2026-0007."""
    stem = f"{prefix}-{year}-"
    numbers = [int(ref[len(stem):]) for ref in session.scalars(select(Case.reference).where(
        Case.reference.like(f"{stem}%"))) if ref[len(stem):].isdigit()]
    return f"{stem}{max(numbers, default=0) + 1:04d}"


def requester_mail(case: Case, kind: OutgoingKind, *, reply_to: Message | None = None,
                  **fields: object) -> Outgoing:
    parent = reply_to.message_id if reply_to is not None else case.root_message_id
    refs = tuple(h for h in (_header_id(case.root_message_id),) if h and h != _header_id(parent))
    return Outgoing(kind=kind, case_id=case.id, case_reference=case.reference, to=case.requester_address or "",
                    subject_tag=f"[{case.reference}]", reply_to_message_id=_header_id(parent),
                    references=refs, **fields)  # type: ignore[arg-type]


def owner_notice(case: Case, policy: CasePolicy, reason: str, detail: str,
                  message: Message | None = None) -> Outgoing:
    """A notice to the owner about the case; reason says which (see Outgoing.reason)."""
    return Outgoing(kind="owner_notice", case_id=case.id, case_reference=case.reference, to=policy.owner_email,
                    subject_tag=f"[{case.reference}]", due_on=case.due_on, reason=reason, detail=detail,
                    reply_to_message_id=None if message is None else _header_id(message.message_id))


def _owner_new_case(case: Case, policy: CasePolicy) -> Outgoing:
    """The owner's "new case" mail."""
    return Outgoing(kind="owner_new_case", case_id=case.id, case_reference=case.reference, to=policy.owner_email,
                    subject_tag=case.reference, due_on=case.due_on)


def _owner_notice_without_case(message: Message, policy: CasePolicy, reason: str, detail: str) -> Outgoing | None:
    if not policy.owner_email:
        return None
    return Outgoing(kind="owner_notice", case_id=None, case_reference="", to=policy.owner_email,
                    subject_tag=f"[message {message.id}]", reason=reason,
                    detail=f"{detail}: message {message.id} from {message.from_address}, {message.subject!r}")


def _thread_ids(message: Message) -> list[str]:
    ids = [message.in_reply_to or "", *(message.references or "").split()]
    return list(dict.fromkeys(i for i in (_norm_id(x) for x in ids) if i))


def _norm_id(value: str | None) -> str | None:
    """A Message-ID without angle brackets or spaces, as the parser stores them."""
    if value is None:
        return None
    return value.strip().strip("<>").strip() or None


def _header_id(value: str | None) -> str | None:
    """A Message-ID in header form, <...>."""
    norm = _norm_id(value)
    return f"<{norm}>" if norm else None


def _local(moment: datetime, policy: CasePolicy) -> str:
    return moment.astimezone(ZoneInfo(policy.timezone)).strftime("%Y-%m-%d %H:%M %Z")
