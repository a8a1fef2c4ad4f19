"""Cases: opening and joining, the reply challenge, the clock, the audit trail, the cases CLI."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mailbot import cases
from mailbot.casework import CaseError, InvalidTransition, State
from mailbot.cli import cases as cases_cli
from mailbot.clock import FakeClock
from mailbot.config import IdentityConfig
from mailbot.db import Database
from mailbot.deadline import DeadlineError
from mailbot.models import Case, CaseEvent, CaseMessage, Challenge, Message

OWNER = "andrei@ak3dstudio.com"
ALICE = "alice@example.org"
POLICY = cases.CasePolicy(
    identity=IdentityConfig(code_ttl_days=14, reminder_after_days=7, max_attempts=5),
    own_addresses=frozenset({OWNER}),
    owner_email=OWNER,
)
REQUEST = {"is_request": True, "labels": ["access"], "scores": {}, "language": "en",
           "uncertain": False, "details": {}}
NOT_REQUEST = {"is_request": False, "labels": ["none"], "scores": {}, "language": "en",
               "uncertain": False, "details": {}}
UTC = timezone.utc


@pytest.fixture
def session(database: Database, fake_clock: FakeClock) -> Iterator[Session]:
    """One session per test; committed as the service would, so triggers and constraints run."""
    with database.session() as s:
        yield s


def mail(
    session: Session,
    *,
    sender: str | None = ALICE,
    subject: str = "Subject access request",
    body: str = "Please send me a copy of all personal data you hold about me.",
    new_text: str | None = None,
    in_reply_to: str | None = None,
    references: str = "",
    classification: dict[str, object] | None = None,
    at: datetime | None = None,
) -> Message:
    """Record an accepted incoming message as intake would (Message-IDs without angle brackets)."""
    from mailbot import clock

    msg = Message(
        dedupe_key=uuid.uuid4().hex, source="test", ref=uuid.uuid4().hex[:8], uidvalidity=1, marked=True,
        received_at=at or clock.now(), status="accepted", message_id=f"{uuid.uuid4().hex}@example.org",
        in_reply_to=in_reply_to, references=references, from_address=sender, from_name="Alice Example",
        to_addresses=OWNER, subject=subject, size=len(body), content_hash=uuid.uuid4().hex,
        body_text=body, new_text=body if new_text is None else new_text, defects="",
        classification=json.dumps(classification if classification is not None else REQUEST),
    )
    session.add(msg)
    session.flush()
    return msg


def open_case(session: Session) -> tuple[Case, Challenge, cases.Outgoing]:
    """A request from Alice, answered with a challenge whose mail went out as <ch-N@ak3dstudio.com>."""
    decision = cases.open_or_join(session, mail(session), policy=POLICY)
    assert decision.action == "opened"
    case = session.get(Case, decision.case_id)
    assert case is not None
    challenge = cases.active_challenge(case)
    assert challenge is not None
    out = decision.outgoing[0]
    cases.record_mail_out(session, case, f"<ch-{challenge.id}@ak3dstudio.com>", kind=out.kind, to=out.to,
                          challenge_id=challenge.id)
    return case, challenge, out


def reply(session: Session, challenge: Challenge, body: str, *, sender: str = ALICE,
          thread: bool = True, subject: str = "Re: Confirm your request", **kw: object) -> Message:
    """A reply to the challenge mail, threaded by In-Reply-To unless thread=False."""
    parent = f"ch-{challenge.id}@ak3dstudio.com"
    return mail(session, sender=sender, subject=subject, body=body, classification=NOT_REQUEST,
                in_reply_to=parent if thread else None, references=parent if thread else "", **kw)


def kinds(case: Case) -> list[str]:
    return [e.kind for e in case.events]


# -- opening a case ---------------------------------------------------------


def test_a_request_opens_a_case_and_answers_with_a_challenge(session: Session) -> None:
    case, challenge, out = open_case(session)
    assert case.reference == "AK-2026-0001"
    assert case.state == State.AWAITING_IDENTITY
    assert case.requester_address == ALICE and case.rights == "access"
    assert case.clock_started_on is None and case.due_on is None  # the clock waits for identity
    assert len(challenge.token) >= 22 and challenge.code.isdigit() and len(challenge.code) == 6
    assert challenge.expires_at - challenge.sent_at == timedelta(days=14)
    assert challenge.message_id == f"ch-{challenge.id}@ak3dstudio.com"  # stored without <>
    assert out.kind == "ack_challenge" and out.to == ALICE and out.code == challenge.code
    assert challenge.token in out.subject_tag and case.reference in out.subject_tag
    assert out.reply_to_message_id == f"<{case.root_message_id}>"
    assert kinds(case) == ["state_change", "mail_in", "state_change", "identity", "mail_out"]
    second = cases.open_or_join(session, mail(session, sender="bob@example.net"), policy=POLICY)
    assert second.case_reference == "AK-2026-0002"


def test_the_same_message_twice_is_handled_once(session: Session) -> None:
    msg = mail(session)
    first = cases.open_or_join(session, msg, policy=POLICY)
    again = cases.open_or_join(session, msg, policy=POLICY)
    assert again.action == "already_handled" and again.case_id == first.case_id
    assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_ordinary_mail_and_screened_mail_open_nothing(session: Session) -> None:
    assert cases.open_or_join(session, mail(session, classification=NOT_REQUEST), policy=POLICY).action == "ignored"
    screened = mail(session)
    screened.status = "screened"
    assert cases.open_or_join(session, screened, policy=POLICY).action == "ignored"
    assert session.scalar(select(func.count()).select_from(Case)) == 0


@pytest.mark.parametrize("sender, why", [
    (OWNER, "our own address"), (None, "no sender address"), ("not an address", "not a valid address"),
])
def test_a_request_that_cannot_be_answered_goes_to_the_owner(session: Session, sender: str | None, why: str) -> None:
    decision = cases.open_or_join(session, mail(session, sender=sender), policy=POLICY)
    case = session.get(Case, decision.case_id)
    assert case is not None and case.state == State.NEW
    assert why in (case.owner_attention or "")
    assert case.challenges == []
    # The clock runs from receipt (Mon 4 May 2026) while the owner decides: due Thu 4 June.
    assert case.clock_started_on == date(2026, 5, 4) and case.due_on == date(2026, 6, 4)
    assert [o.kind for o in decision.outgoing] == ["owner_notice"]
    assert decision.outgoing[0].to == OWNER and decision.outgoing[0].reason == "unanswerable"


# -- the reply challenge ------------------------------------------------------


def test_the_code_in_a_threaded_reply_confirms_identity_and_starts_the_clock(
    session: Session, fake_clock: FakeClock
) -> None:
    case, challenge, _ = open_case(session)
    fake_clock.set(datetime(2026, 5, 6, 10, 0, tzinfo=UTC))  # Wednesday
    # The code is only in the quoted part: replying is the proof.
    msg = reply(session, challenge, f"Yes, that was me.\n\n> Your code is {challenge.code}\n",
                new_text="Yes, that was me.")
    decision = cases.open_or_join(session, msg, policy=POLICY)
    assert decision.action == "identity_reply" and decision.challenge is not None
    assert decision.challenge.outcome == "verified"
    assert case.state == State.VERIFIED
    assert case.identity_method == "reply_code" and ALICE in (case.identity_detail or "")
    assert challenge.verified_at is not None and challenge.method == "reply_code"
    # Clock starts on the confirmation day, 6 May; 6 June 2026 is a Saturday: due Monday 8 June.
    assert case.clock_started_on == date(2026, 5, 6)
    assert case.due_on == date(2026, 6, 8)
    [confirmed] = decision.outgoing
    assert confirmed.kind == "identity_confirmed" and confirmed.to == ALICE
    assert confirmed.due_on == date(2026, 6, 8) and confirmed.reply_to_message_id == f"<{msg.message_id}>"
    assert session.get(CaseMessage, msg.id).role == "identity_reply"  # type: ignore[union-attr]


def test_the_token_in_the_subject_matches_a_reply_that_lost_its_thread(
    session: Session, fake_clock: FakeClock
) -> None:
    case, challenge, out = open_case(session)
    # 00:30 BST on Monday 11 May is still Sunday 10 May in UTC: the business's day counts.
    fake_clock.set(datetime(2026, 5, 10, 23, 30, tzinfo=UTC))
    msg = reply(session, challenge, f"code: {challenge.code[:3]} {challenge.code[3:]}", thread=False,
                subject=f"Re: {out.subject_tag} Confirm your request")
    result = cases.check_reply(session, msg, policy=POLICY)
    assert result.outcome == "verified" and result.case_id == case.id
    assert case.clock_started_on == date(2026, 5, 11) and case.due_on == date(2026, 6, 11)


def test_a_wrong_code_counts_an_attempt_and_changes_nothing_else(session: Session) -> None:
    case, challenge, _ = open_case(session)
    wrong = "000000" if challenge.code != "000000" else "111111"
    result = cases.check_reply(session, reply(session, challenge, f"my code is {wrong}"), policy=POLICY)
    assert result.outcome == "wrong_code" and result.attempts_left == 4
    assert case.state == State.AWAITING_IDENTITY and challenge.attempts == 1
    assert case.clock_started_on is None and case.identity_method is None
    [out] = result.outgoing
    assert out.kind == "identity_wrong_code" and out.attempts_left == 4 and out.to == ALICE


def test_a_longer_number_containing_the_code_is_not_the_code(session: Session) -> None:
    case, challenge, _ = open_case(session)
    result = cases.check_reply(session, reply(session, challenge, f"order 9{challenge.code}9"), policy=POLICY)
    assert result.outcome == "wrong_code" and case.state == State.AWAITING_IDENTITY


def test_a_reply_from_another_address_never_counts(session: Session) -> None:
    case, challenge, _ = open_case(session)
    msg = reply(session, challenge, f"code {challenge.code}", sender="mallory@example.net")
    decision = cases.open_or_join(session, msg, policy=POLICY)
    assert decision.action == "identity_reply"  # not a new case
    assert decision.challenge is not None and decision.challenge.outcome == "wrong_sender"
    assert case.state == State.AWAITING_IDENTITY and challenge.attempts == 0
    assert [(o.kind, o.to, o.reason) for o in decision.outgoing] == [("owner_notice", OWNER, "wrong_sender")]
    assert case.events[-1].actor == "mallory@example.net"
    assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_a_forged_reply_without_token_or_thread_does_not_verify(session: Session) -> None:
    case, challenge, _ = open_case(session)
    msg = mail(session, subject="Re: Confirm your request", body=f"code {challenge.code}",
               classification=NOT_REQUEST)
    assert cases.check_reply(session, msg, policy=POLICY).outcome == "no_match"
    decision = cases.open_or_join(session, msg, policy=POLICY)
    assert decision.action == "joined" and decision.case_id == case.id  # a follow-up, nothing more
    assert case.state == State.AWAITING_IDENTITY and case.identity_method is None


def test_five_wrong_codes_lock_the_case_for_the_owner(session: Session) -> None:
    case, challenge, _ = open_case(session)
    wrong = "000000" if challenge.code != "000000" else "111111"
    outcomes = [cases.check_reply(session, reply(session, challenge, wrong), policy=POLICY) for _ in range(5)]
    assert [r.outcome for r in outcomes] == ["wrong_code"] * 4 + ["locked"]
    assert challenge.locked_at is not None and case.owner_attention
    assert {o.kind for o in outcomes[-1].outgoing} == {"identity_locked", "owner_notice"}
    # Even the right code no longer counts; the case waits for the owner.
    late = cases.check_reply(session, reply(session, challenge, challenge.code), policy=POLICY)
    assert late.outcome == "locked" and case.state == State.AWAITING_IDENTITY and challenge.attempts == 5


def test_a_new_code_lifts_the_lock_and_the_old_code_stops_counting(session: Session) -> None:
    case, first, _ = open_case(session)
    for _ in range(5):
        cases.check_reply(session, reply(session, first, "no code"), policy=POLICY)
    second, out = cases.resend_challenge(session, case, policy=POLICY, actor=OWNER)
    assert out.kind == "ack_challenge" and out.code == second.code and case.owner_attention is None
    assert cases.active_challenge(case) is second and second.token != first.token
    if first.code != second.code:
        old = cases.check_reply(session, reply(session, first, first.code), policy=POLICY)
        assert old.outcome == "wrong_code"
    ok = cases.check_reply(session, reply(session, first, second.code), policy=POLICY)
    assert ok.outcome == "verified" and case.state == State.VERIFIED


def test_a_reminder_is_due_once_after_seven_days(session: Session, fake_clock: FakeClock) -> None:
    case, challenge, _ = open_case(session)
    fake_clock.advance(timedelta(days=6, hours=23))
    assert cases.remind_challenges(session, policy=POLICY) == ()
    fake_clock.advance(timedelta(hours=1))
    [out] = cases.remind_challenges(session, policy=POLICY)
    assert out.kind == "challenge_reminder" and out.code == challenge.code and out.to == ALICE
    assert out.reply_to_message_id == f"<ch-{challenge.id}@ak3dstudio.com>"
    assert challenge.reminded_at == fake_clock.now()
    assert cases.remind_challenges(session, policy=POLICY) == ()


def test_an_unanswered_code_expires_the_case(session: Session, fake_clock: FakeClock) -> None:
    case, challenge, _ = open_case(session)
    fake_clock.advance(timedelta(days=13, hours=23))
    assert cases.expire_challenges(session) == ()
    assert case.state == State.AWAITING_IDENTITY
    fake_clock.advance(timedelta(hours=1))
    [notice] = cases.expire_challenges(session, policy=POLICY)
    assert case.state == State.EXPIRED and notice.reason == "expired"
    late = cases.open_or_join(session, reply(session, challenge, challenge.code), policy=POLICY)
    assert late.challenge is not None and late.challenge.outcome == "expired"
    assert case.state == State.EXPIRED and case.identity_method is None
    # Expired is not open: a new request from Alice is a new case.
    again = cases.open_or_join(session, mail(session), policy=POLICY)
    assert again.action == "opened" and again.case_id != case.id


def test_a_right_reply_after_expiry_expires_the_case_even_before_the_job_runs(
    session: Session, fake_clock: FakeClock
) -> None:
    case, challenge, _ = open_case(session)
    fake_clock.advance(timedelta(days=15))
    result = cases.check_reply(session, reply(session, challenge, challenge.code), policy=POLICY)
    assert result.outcome == "expired" and case.state == State.EXPIRED
    assert [o.kind for o in result.outgoing] == ["identity_expired"]


def test_the_owner_can_verify_by_hand_and_the_method_is_recorded(session: Session, fake_clock: FakeClock) -> None:
    case, challenge, _ = open_case(session)
    with pytest.raises(CaseError, match="--note"):
        cases.verify_manually(session, case, "  ", OWNER, policy=POLICY)
    fake_clock.set(datetime(2026, 5, 12, 14, 0, tzinfo=UTC))
    [out] = cases.verify_manually(session, case, "phoned the number on order 1042", OWNER, policy=POLICY)
    assert out.kind == "identity_confirmed" and out.due_on == date(2026, 6, 12)
    assert case.state == State.VERIFIED and case.identity_method == "manual"
    assert case.identity_detail == "phoned the number on order 1042"
    assert challenge.method == "manual" and case.clock_started_on == date(2026, 5, 12)
    assert case.events[-2].actor == OWNER and case.events[-2].to_state == State.VERIFIED
    with pytest.raises(CaseError, match="already confirmed"):
        cases.verify_manually(session, case, "again", OWNER, policy=POLICY)


# -- joining ------------------------------------------------------------------


def test_follow_ups_and_second_requests_join_the_open_case(session: Session) -> None:
    case, challenge, _ = open_case(session)
    by_sender = cases.open_or_join(
        session, mail(session, body="Also please delete my account.",
                      classification={**REQUEST, "labels": ["erasure"]}), policy=POLICY)
    assert by_sender.action == "joined" and by_sender.case_id == case.id
    assert case.rights == "access,erasure"
    assert [o.reason for o in by_sender.outgoing] == ["follow_up"]
    # A reply in the thread joins even from another address (e.g. the requester's other account).
    by_thread = cases.open_or_join(
        session, mail(session, sender="alice.work@example.com", classification=NOT_REQUEST,
                      in_reply_to=case.root_message_id), policy=POLICY)
    assert by_thread.action == "joined" and by_thread.case_id == case.id
    assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_after_a_case_is_closed_a_new_request_is_a_new_case(session: Session) -> None:
    case, challenge, _ = open_case(session)
    cases.verify_manually(session, case, "known customer", OWNER, policy=POLICY)
    cases.change_state(session, case, State.RESPONDED, actor=OWNER, detail="answered")
    cases.change_state(session, case, State.CLOSED, actor=OWNER)
    assert case.closed_at is not None
    decision = cases.open_or_join(session, mail(session, in_reply_to=case.root_message_id), policy=POLICY)
    assert decision.action == "opened" and decision.case_id != case.id


# -- the clock ----------------------------------------------------------------


def verified_case(session: Session, fake_clock: FakeClock) -> Case:
    case, challenge, _ = open_case(session)
    fake_clock.set(datetime(2026, 5, 6, 10, 0, tzinfo=UTC))
    cases.check_reply(session, reply(session, challenge, challenge.code), policy=POLICY)
    assert case.due_on == date(2026, 6, 8)
    return case


def test_clarification_stops_the_clock_and_the_reply_restarts_it(session: Session, fake_clock: FakeClock) -> None:
    case = verified_case(session, fake_clock)
    fake_clock.set(datetime(2026, 5, 8, 9, 0, tzinfo=UTC))
    out = cases.ask_clarification(session, case, "Which account do you mean?", actor=OWNER, policy=POLICY)
    assert out.kind == "clarification" and case.state == State.AWAITING_CLARIFICATION
    fake_clock.set(datetime(2026, 5, 13, 9, 0, tzinfo=UTC))
    decision = cases.open_or_join(session, mail(session, body="The one with alice@example.org.",
                                                classification=NOT_REQUEST, in_reply_to=case.root_message_id),
                                  policy=POLICY)
    assert decision.action == "joined" and decision.outgoing[0].reason == "clarification_received"
    # Stopped 8 -> 13 May: 5 days. 6 June + 5 = Thursday 11 June.
    assert case.state == State.VERIFIED and case.paused_days == 5 and case.due_on == date(2026, 6, 11)


def test_extension_before_the_due_date_moves_it_three_months_from_the_start(
    session: Session, fake_clock: FakeClock
) -> None:
    case = verified_case(session, fake_clock)
    with pytest.raises(CaseError, match="reasons"):
        cases.extend(session, case, "", actor=OWNER, policy=POLICY)
    fake_clock.set(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    out = cases.extend(session, case, "The request covers ten years of orders.", actor=OWNER, policy=POLICY)
    # 6 August 2026 is a Thursday.
    assert case.state == State.EXTENDED and case.extended and case.due_on == date(2026, 8, 6)
    assert out.kind == "extension" and out.due_on == date(2026, 8, 6) and "ten years" in out.reason
    with pytest.raises(CaseError, match="already extended"):
        cases.extend(session, case, "again", actor=OWNER, policy=POLICY)


def test_extension_after_the_due_date_is_refused_and_changes_nothing(
    session: Session, fake_clock: FakeClock
) -> None:
    case = verified_case(session, fake_clock)
    events = len(case.events)
    fake_clock.set(datetime(2026, 6, 9, 9, 0, tzinfo=UTC))
    with pytest.raises(DeadlineError, match="too late"):
        cases.extend(session, case, "complex", actor=OWNER, policy=POLICY)
    assert case.state == State.VERIFIED and not case.extended and len(case.events) == events


def test_impossible_transitions_are_refused_without_a_trace(session: Session) -> None:
    case, _, _ = open_case(session)
    events = len(case.events)
    with pytest.raises(InvalidTransition, match="awaiting_identity to responded"):
        cases.change_state(session, case, State.RESPONDED, actor=OWNER)
    with pytest.raises(InvalidTransition):
        cases.ask_clarification(session, case, "what?", actor=OWNER, policy=POLICY)
    with pytest.raises(CaseError, match="no running clock"):
        cases.extend(session, case, "complex", actor=OWNER, policy=POLICY)
    assert case.state == State.AWAITING_IDENTITY and len(case.events) == events


# -- the audit trail ------------------------------------------------------------


def test_the_audit_trail_records_every_step_in_order(session: Session, fake_clock: FakeClock) -> None:
    case = verified_case(session, fake_clock)
    cases.record_approval(session, case, "draft 3 approved", actor=OWNER)
    cases.add_note(session, case, "called back", actor=OWNER)
    steps = [(e.kind, e.actor, e.from_state, e.to_state) for e in case.events]
    assert steps == [
        ("state_change", "bot", None, "new"),
        ("mail_in", "requester", None, None),
        ("state_change", "bot", "new", "awaiting_identity"),
        ("identity", "bot", None, None),
        ("mail_out", "bot", None, None),
        ("mail_in", "requester", None, None),
        ("identity", "requester", None, None),
        ("state_change", "requester", "awaiting_identity", "verified"),
        ("approval", OWNER, None, None),
        ("note", OWNER, None, None),
    ]
    assert all(e.at.tzinfo is not None for e in case.events)
    assert case.events[4].message_ref == f"ch-{cases.active_challenge(case).id}@ak3dstudio.com"  # type: ignore[union-attr]


def test_the_audit_trail_cannot_be_rewritten(database: Database, fake_clock: FakeClock) -> None:
    with database.session() as s:
        case, _, _ = open_case(s)
        case_id = case.id
    with database.session() as s:
        ev = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)).first()
        assert ev is not None
        ev.detail = "rewritten"
        with pytest.raises(CaseError, match="append-only"):
            s.flush()
        s.rollback()
    # Not even by hand: the database refuses the UPDATE itself.
    with pytest.raises(DBAPIError, match="append-only"):
        with database.session() as s:
            s.execute(text("UPDATE case_events SET detail = 'rewritten'"))
    with database.session() as s:
        assert "rewritten" not in {e.detail for e in s.scalars(select(CaseEvent))}


# -- the CLI --------------------------------------------------------------------


def run_cli(config_path: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    cases_cli.register(sub)
    args = parser.parse_args(["--config", str(config_path), *argv])
    return int(args.func(args))


def test_the_cases_commands(sqlite_database: Database, fake_clock: FakeClock, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables fold long cells at 80 columns
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[mailbox]\nsource = "maildir"\npath = "{tmp_path}"\n'
        f'[database]\nurl = "{sqlite_database.url}"\n'
        f'[bot]\naddress = "{OWNER}"\n[owner]\nemail = "{OWNER}"\n'
        '[business]\nname = "AK3D Studio"\n',
        encoding="utf-8",
    )
    with sqlite_database.session() as s:
        case, _, _ = open_case(s)
    assert run_cli(config, "cases", "list") == 0
    out = capsys.readouterr().out
    assert "AK-2026-0001" in out and ALICE in out and "awaiting_identity" in out
    fake_clock.set(datetime(2026, 5, 6, 10, 0, tzinfo=UTC))
    assert run_cli(config, "cases", "verify", "AK-2026-0001", "--note", "known customer") == 0
    assert "due 2026-06-08" in capsys.readouterr().out
    assert run_cli(config, "cases", "show", "1") == 0
    out = capsys.readouterr().out
    assert "manual" in out and "known customer" in out and "due 2026-06-08" in out
    assert run_cli(config, "cases", "log", "1") == 0
    out = capsys.readouterr().out
    assert "verified" in out and OWNER in out
    assert run_cli(config, "cases", "list") == 0
    assert "33" in capsys.readouterr().out  # 6 May to 8 June


def test_a_case_knows_its_messages(session: Session) -> None:
    case, challenge, _ = open_case(session)
    answer = reply(session, challenge, challenge.code)
    cases.open_or_join(session, answer, policy=POLICY)
    [request] = cases.messages_of(session, case, "request")
    assert request.message_id == case.root_message_id
    assert [m.id for m in cases.messages_of(session, case)] == [request.id, answer.id]
