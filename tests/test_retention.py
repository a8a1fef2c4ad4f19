"""Retention: personal data goes after the period; the case skeleton and its audit trail stay."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from mailbot import cases, clock, workflow
from mailbot.casework import State
from mailbot.config import Config
from mailbot.db import Database
from mailbot.models import (
    AttachmentRecord,
    Case,
    CaseEvent,
    CaseMessage,
    Challenge,
    Message,
    OutboxMessage,
    QuarantineEntry,
)
from mailbot.retention import apply_retention, cutoff
from tests.test_reminders import make_config

ALICE = "alice.jones@example.org"
SUBJECT = "Subject access request from Alice Jones"


def incoming(session, *, sender: str | None = ALICE, subject: str = SUBJECT, request: bool = True) -> Message:
    """An accepted message with an attachment, recorded as intake would."""
    body = "Please send me a copy of all personal data you hold about me. Alice Jones, 4 Elm Road."
    msg = Message(
        dedupe_key=uuid.uuid4().hex, source="test", ref=uuid.uuid4().hex[:8], uidvalidity=1, marked=True,
        received_at=clock.now(), status="accepted", message_id=f"{uuid.uuid4().hex}@example.org",
        references="", from_address=sender, from_name="Alice Jones", to_addresses="privacy@ak3dstudio.com",
        subject=subject, size=len(body), content_hash=uuid.uuid4().hex, body_text=body, new_text=body,
        defects="", classification=json.dumps({"is_request": request, "labels": ["access"] if request else []}),
        attachments=[AttachmentRecord(filename="passport.jpg", content_type="image/jpeg", size=3,
                                      sha256="0" * 64, content=b"jpg")],
    )
    session.add(msg)
    session.flush()
    return msg


def closed_case(db: Database, config: Config) -> int:
    """A case that went the whole way: request, challenge mail, manual identity, answer, closed."""
    policy = cases.CasePolicy.from_config(config)
    with db.session() as session:
        decision = cases.open_or_join(session, incoming(session), policy=policy)
        workflow.queue_all(session, config, decision.outgoing)
        case = session.get_one(Case, decision.case_id)
        cases.verify_manually(session, case, "called Alice on 01632 960000", "andrei@ak3dstudio.com",
                              policy=policy)
        cases.add_note(session, case, "Alice Jones asked for her invoices too", actor="andrei@ak3dstudio.com")
        cases.change_state(session, case, State.RESPONDED, actor="andrei@ak3dstudio.com")
        cases.change_state(session, case, State.CLOSED, actor="andrei@ak3dstudio.com")
        for row in session.scalars(select(OutboxMessage)):
            row.state = "sent"
        return case.id


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def test_cutoff_is_calendar_months() -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=timezone.utc)
    assert cutoff(now, 1) == datetime(2026, 2, 28, 12, tzinfo=timezone.utc)
    assert cutoff(now, 12) == datetime(2025, 3, 31, 12, tzinfo=timezone.utc)
    assert cutoff(datetime(2026, 1, 15, tzinfo=timezone.utc), 13) == datetime(2024, 12, 15, tzinfo=timezone.utc)


def test_nothing_goes_before_the_period(database: Database, fake_clock: clock.FakeClock, config: Config) -> None:
    closed_case(database, config)
    fake_clock.advance(timedelta(days=360))
    report = apply_retention(database, config)
    assert report.cases == () and report.empty


def test_retention_removes_personal_data_and_keeps_the_skeleton(database: Database, fake_clock: clock.FakeClock,
                                                               config: Config) -> None:
    case_id = closed_case(database, config)
    with database.session() as session:
        lines_before = session.scalar(select(func.count()).select_from(CaseEvent))
        states_before = list(session.execute(select(CaseEvent.kind, CaseEvent.from_state, CaseEvent.to_state,
                                                    CaseEvent.at).order_by(CaseEvent.id)))
    fake_clock.advance(timedelta(days=370))

    dry = apply_retention(database, config, dry_run=True)
    assert [c.reference for c in dry.cases] == ["AK-2026-0001"] and dry.dry_run
    assert dry.cases[0].messages == 1 and dry.cases[0].attachments == 1
    assert "would remove" in dry.lines()[0]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1  # the dry run changed nothing

    report = apply_retention(database, config)
    assert "removed personal data" in report.lines()[0]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0
        assert session.scalar(select(func.count()).select_from(AttachmentRecord)) == 0
        assert session.scalar(select(func.count()).select_from(CaseMessage)) == 0
        case = session.get_one(Case, case_id)
        assert (case.requester_address, case.requester_name, case.subject) == (None, "", "")
        assert case.identity_detail is None and case.redacted_at is not None
        assert (case.reference, case.state, case.rights) == ("AK-2026-0001", "closed", "access")
        for ch in session.scalars(select(Challenge)):
            assert ch.code == "" and ch.token.startswith("redacted-")
        for row in session.scalars(select(OutboxMessage)):
            assert (row.to_address, row.subject, row.raw) == ("", "", b"")
            assert row.kind and row.state == "sent"
        events = list(session.scalars(select(CaseEvent).order_by(CaseEvent.id)))
    # Every audit line is still there (plus the one saying retention ran), in the same shape.
    assert len(events) == lines_before + 1
    assert [(e.kind, e.from_state, e.to_state, e.at) for e in events[:-1]] == states_before
    everything = " ".join(f"{e.actor} {e.detail} {e.message_ref}" for e in events)
    for personal in (ALICE, "Alice", "Jones", "01632", "invoices", SUBJECT):
        assert personal not in everything
    assert all(e.message_ref is None and e.message_row_id is None for e in events)
    assert "retention period" in events[-1].detail
    # A second run finds nothing.
    assert apply_retention(database, config).cases == ()


def test_the_audit_trail_still_refuses_changes(database: Database, fake_clock: clock.FakeClock,
                                               config: Config) -> None:
    closed_case(database, config)
    fake_clock.advance(timedelta(days=400))
    apply_retention(database, config)
    table = CaseEvent.__table__
    # Neither an ordinary change of a line, nor a second redaction, is allowed.
    for values in ({"detail": "rewritten"}, {"redacted_at": clock.now(), "detail": "again"}):
        with pytest.raises(DBAPIError), database.session() as session:
            session.execute(update(table).where(table.c.id == 1).values(**values))
    # An unredacted line of an open case cannot be changed either, except by the redaction shape.
    with database.session() as session:
        decision = cases.open_or_join(session, incoming(session, sender="bob@example.net"),
                                      policy=cases.CasePolicy.from_config(config))
        line = session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == decision.case_id))
    with pytest.raises(DBAPIError), database.session() as session:
        session.execute(update(table).where(table.c.id == line).values(kind="note", redacted_at=clock.now(),
                                                                        message_ref=None, message_row_id=None))
    with pytest.raises(DBAPIError), database.session() as session:
        session.execute(text("UPDATE case_events SET detail = 'x' WHERE id = :i"), {"i": line})


def test_loose_mail_and_quarantine_past_the_period_go(database: Database, fake_clock: clock.FakeClock,
                                                       config: Config) -> None:
    with database.session() as session:
        incoming(session, sender="newsletter@example.com", subject="Offers", request=False)
        session.add(QuarantineEntry(source="test", ref="9", uidvalidity=1, marked=True, received_at=clock.now(),
                                    error="unreadable", size=3, sha256="1" * 64, raw=b"???"))
    fake_clock.advance(timedelta(days=200))
    with database.session() as session:
        incoming(session, sender="recent@example.com", subject="Hello", request=False)
    fake_clock.advance(timedelta(days=200))
    report = apply_retention(database, config)
    assert sorted(x.table for x in report.loose) == ["message", "quarantine"]
    with database.session() as session:
        assert list(session.scalars(select(Message.from_address))) == ["recent@example.com"]
        assert session.scalar(select(func.count()).select_from(QuarantineEntry)) == 0


def test_a_case_with_mail_in_flight_waits(database: Database, fake_clock: clock.FakeClock, config: Config) -> None:
    case_id = closed_case(database, config)
    with database.session() as session:
        session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id)).first().state = "queued"
    fake_clock.advance(timedelta(days=400))
    report = apply_retention(database, config)
    assert report.cases[0].kept_because and "kept for now" in report.lines()[0]
    with database.session() as session:
        assert session.get_one(Case, case_id).requester_address == ALICE
