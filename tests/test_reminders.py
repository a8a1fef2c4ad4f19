"""Deadline reminders, challenge reminders and the digest: each goes out once, whatever the clock does."""

from __future__ import annotations

import email.policy
from datetime import date, datetime, timedelta, timezone
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot import cases, clock
from mailbot.casework import State
from mailbot.config import Config, parse_config
from mailbot.db import Database
from mailbot.models import Case, Challenge, JobRun, OutboxMessage, QuarantineEntry, Reminder
from mailbot.reminders import ReminderReport, run_challenges, send_deadline_reminders, send_digest, stage

LONDON = timezone(timedelta(hours=1))  # BST: every date in these tests is in summer time


def make_config(tmp_path: Path, **schedule: Any) -> Config:
    """A config whose schedule can be varied per test."""
    return parse_config({
        "mailbox": {"source": "maildir", "path": str(tmp_path)},
        "bot": {"address": "privacy@ak3dstudio.com", "name": "AK3D Studio"},
        "owner": {"email": "andrei@ak3dstudio.com"},
        "business": {"name": "AK3D Studio"},
        "schedule": schedule,
    }, tmp_path / "mailbot.toml")


def add_case(db: Database, *, started: date, due: date, state: State = State.VERIFIED,
             reference: str = "AK-2026-0001") -> int:
    """A case whose clock runs, straight into the database."""
    now = clock.now()
    with db.session() as session:
        case = Case(reference=reference, requester_address="eleanor.price@example.co.uk",
                    requester_name="Eleanor Price", rights="access", subject="My data", state=state.value,
                    received_at=now, clock_started_on=started, paused_days=0, due_on=due, extended=False,
                    created_at=now, updated_at=now)
        session.add(case)
        session.flush()
        return case.id


def at(fake: clock.FakeClock, day: date, hour: int = 9, minute: int = 30) -> None:
    """Move the fake clock to day at hour:minute London time."""
    fake.set(datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON))


def reminders_in_outbox(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(OutboxMessage.subject).where(
            OutboxMessage.kind == "owner_deadline_reminder").order_by(OutboxMessage.id)))


def offsets(report: ReminderReport) -> list[int]:
    return [r.offset for r in report.sent]


def test_stage_is_the_latest_threshold_passed() -> None:
    days = (14, 7, 3, 1)
    assert stage(20, days) is None
    assert stage(14, days) == 14
    assert stage(10, days) == 14
    assert stage(7, days) == 7
    assert stage(2, days) == 3
    assert stage(0, days) == 1
    assert stage(-4, days) == -4


def test_whole_life_each_reminder_once(database: Database, fake_clock: clock.FakeClock, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    start, due = date(2026, 5, 4), date(2026, 6, 4)
    add_case(database, started=start, due=due)
    sent: dict[date, list[int]] = {}
    day = start
    while day <= date(2026, 6, 8):
        for hour in (7, 9, 12, 18):  # several passes a day; before 09:00 nothing is due
            at(fake_clock, day, hour)
            got = offsets(send_deadline_reminders(database, config))
            if got:
                sent.setdefault(day, []).extend(got)
        day += timedelta(days=1)
    assert sent == {
        date(2026, 5, 21): [14], date(2026, 5, 28): [7], date(2026, 6, 1): [3], date(2026, 6, 3): [1],
        date(2026, 6, 5): [-1], date(2026, 6, 6): [-2], date(2026, 6, 7): [-3], date(2026, 6, 8): [-4],
    }
    subjects = reminders_in_outbox(database)
    assert len(subjects) == 8
    assert subjects[0] == "Reminder: AK-2026-0001 is due in 14 days"
    assert subjects[-1].startswith("OVERDUE: AK-2026-0001")
    # Answered: no more reminders.
    with database.session() as session:
        session.get_one(Case, 1).state = State.RESPONDED.value
    at(fake_clock, date(2026, 6, 9))
    assert send_deadline_reminders(database, config).sent == ()


def test_restart_in_the_middle_changes_nothing(database: Database, fake_clock: clock.FakeClock,
                                               tmp_path: Path) -> None:
    config = make_config(tmp_path)
    add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4))
    at(fake_clock, date(2026, 5, 28), 9, 0)
    assert offsets(send_deadline_reminders(database, config)) == [7]
    # A new process: a new engine on the same database, same day, later.
    again = Database(database.url)
    try:
        at(fake_clock, date(2026, 5, 28), 9, 5)
        assert send_deadline_reminders(again, config).sent == ()
        at(fake_clock, date(2026, 5, 29))
        assert send_deadline_reminders(again, config).sent == ()
        at(fake_clock, date(2026, 6, 1))
        assert offsets(send_deadline_reminders(again, config)) == [3]
    finally:
        again.dispose()
    assert len(reminders_in_outbox(database)) == 2


def test_downtime_over_several_reminder_dates_gives_one_catch_up(database: Database, fake_clock: clock.FakeClock,
                                                                   tmp_path: Path) -> None:
    config = make_config(tmp_path)
    add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4))
    at(fake_clock, date(2026, 5, 20))
    assert send_deadline_reminders(database, config).sent == ()
    # Off from 20 May to 2 June: the 14-, 7- and 3-day dates pass unseen.
    at(fake_clock, date(2026, 6, 2), 10)
    report = send_deadline_reminders(database, config)
    assert [(r.offset, r.days_left) for r in report.sent] == [(3, 2)]
    assert send_deadline_reminders(database, config).sent == ()
    # Off again until well past the due date: one overdue reminder, not one per missed day.
    at(fake_clock, date(2026, 6, 12), 11)
    report = send_deadline_reminders(database, config)
    assert [(r.offset, r.days_left) for r in report.sent] == [(-8, -8)]
    at(fake_clock, date(2026, 6, 13))
    assert offsets(send_deadline_reminders(database, config)) == [-9]
    assert len(reminders_in_outbox(database)) == 3


def test_before_the_reminder_hour_nothing_is_sent(database: Database, fake_clock: clock.FakeClock,
                                                   tmp_path: Path) -> None:
    config = make_config(tmp_path, reminder_hour=14, reminder_days=[7])
    add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4))
    at(fake_clock, date(2026, 5, 28), 13, 59)
    report = send_deadline_reminders(database, config)
    assert report.day is None and "14:00" in report.waiting
    at(fake_clock, date(2026, 5, 28), 14, 0)
    assert offsets(send_deadline_reminders(database, config)) == [7]


def test_extension_starts_a_new_cycle_a_pause_does_not(database: Database, fake_clock: clock.FakeClock,
                                                       tmp_path: Path) -> None:
    config = make_config(tmp_path)
    case_id = add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4))
    at(fake_clock, date(2026, 5, 28))
    assert offsets(send_deadline_reminders(database, config)) == [7]
    # A clarification pause moved the due date by three days: the 7-day stage is not sent again.
    with database.session() as session:
        session.get_one(Case, case_id).due_on = date(2026, 6, 7)
    at(fake_clock, date(2026, 5, 29))
    assert send_deadline_reminders(database, config).sent == ()
    # Extended: a new cycle, whose stages are sent again when they come.
    with database.session() as session:
        case = session.get_one(Case, case_id)
        case.extended, case.extended_on, case.due_on = True, date(2026, 5, 29), date(2026, 8, 4)
        case.state = State.EXTENDED.value
    at(fake_clock, date(2026, 7, 28))
    assert offsets(send_deadline_reminders(database, config)) == [7]


def test_cases_without_a_running_clock_get_no_reminder(database: Database, fake_clock: clock.FakeClock,
                                                       tmp_path: Path) -> None:
    config = make_config(tmp_path)
    add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4), state=State.AWAITING_CLARIFICATION)
    add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4), state=State.RESPONDED,
             reference="AK-2026-0002")
    at(fake_clock, date(2026, 6, 10))
    assert send_deadline_reminders(database, config).sent == ()


def test_digest_once_a_day(database: Database, fake_clock: clock.FakeClock, tmp_path: Path) -> None:
    config = make_config(tmp_path, digest_hour=8)
    add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4))
    with database.session() as session:
        session.add(QuarantineEntry(source="maildir:x", ref="1", uidvalidity=1, marked=True,
                                    received_at=clock.now(), error="bad", size=3, sha256="0" * 64, raw=b"bad"))
    at(fake_clock, date(2026, 5, 10), 7)
    assert send_digest(database, config).outbox_id is None
    at(fake_clock, date(2026, 5, 10), 8, 1)
    report = send_digest(database, config)
    assert report.outbox_id is not None and (report.cases, report.quarantined) == (1, 1)
    at(fake_clock, date(2026, 5, 10), 20)
    assert send_digest(database, config).outbox_id is None
    at(fake_clock, date(2026, 5, 11), 9)
    assert send_digest(database, config).outbox_id is not None
    with database.session() as session:
        raw = session.scalars(select(OutboxMessage.raw).where(OutboxMessage.kind == "owner_daily_digest")).first()
        assert session.scalar(select(JobRun.on_day).order_by(JobRun.id)) == date(2026, 5, 10)
    assert raw is not None and b"quarantine list" in raw


def test_challenge_reminder_once_then_expiry(database: Database, fake_clock: clock.FakeClock,
                                             tmp_path: Path) -> None:
    config = make_config(tmp_path)
    policy = cases.CasePolicy.from_config(config)
    case_id = add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4), state=State.NEW)
    with database.session() as session:
        case = session.get_one(Case, case_id)
        case.root_message_id = "request-1@example.co.uk"
        cases.issue_challenge(session, case, policy=policy)
    fake_clock.advance(timedelta(days=config.identity.reminder_after_days, hours=1))
    first = run_challenges(database, config)
    assert first.reminded == ("AK-2026-0001",) and first.queued == 1
    assert run_challenges(database, config).reminded == ()
    fake_clock.advance(timedelta(days=config.identity.code_ttl_days))
    expired = run_challenges(database, config)
    assert expired.expired == ("AK-2026-0001",)
    with database.session() as session:
        assert session.get_one(Case, case_id).state == State.EXPIRED.value
        kinds = list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))
        assert session.scalar(select(Challenge.reminded_at)) is not None
    assert kinds.count("challenge_reminder") == 1
    assert run_challenges(database, config).expired == ()


def test_the_ledger_refuses_a_second_row(database: Database, fake_clock: clock.FakeClock, tmp_path: Path) -> None:
    from sqlalchemy.exc import IntegrityError

    config = make_config(tmp_path)
    case_id = add_case(database, started=date(2026, 5, 4), due=date(2026, 6, 4))
    at(fake_clock, date(2026, 5, 28))
    send_deadline_reminders(database, config)
    with pytest.raises(IntegrityError), database.session() as session:
        row = session.scalars(select(Reminder)).one()
        session.add(Reminder(case_id=case_id, kind=row.kind, cycle_start=row.cycle_start, extended=row.extended,
                             offset=row.offset, due_on=row.due_on, on_day=date(2026, 5, 29), sent_at=clock.now()))


def test_possible_requests_wait_for_the_digest_when_configured(
    database: Database, fake_clock: clock.FakeClock, tmp_path: Path,
) -> None:
    """[owner] possible_requests = "digest": no notice per mail; the next digest lists each one once."""
    from mailbot import workflow
    from tests.test_workflow import NOT_REQUEST, UNCERTAIN, outbox_rows, record

    config = parse_config({
        "mailbox": {"source": "maildir", "path": str(tmp_path)},
        "bot": {"address": "privacy@ak3dstudio.com", "name": "AK3D Studio"},
        "owner": {"email": "andrei@ak3dstudio.com", "possible_requests": "digest"},
        "business": {"name": "AK3D Studio"},
        "schedule": {"digest_hour": 8},
    }, tmp_path / "mailbot.toml")
    at(fake_clock, date(2026, 5, 10), 7)
    record(database, sender="rob@example.net", subject="quick q about my stuff", classification=UNCERTAIN)
    record(database, sender="sam@example.net", subject="Do you ship to Ireland?", classification=NOT_REQUEST)
    record(database, sender="andrei@ak3dstudio.com", subject="note to self", classification=UNCERTAIN)
    report = workflow.process_new(database, config)
    assert "listed in the owner's next daily digest" in str(report)
    assert outbox_rows(database) == []  # no notice per mail

    at(fake_clock, date(2026, 5, 10), 9)
    assert send_digest(database, config).outbox_id is not None
    at(fake_clock, date(2026, 5, 10), 12)
    record(database, sender="tess@example.org", subject="is this the right address for my data?",
           classification=UNCERTAIN)
    workflow.process_new(database, config)
    at(fake_clock, date(2026, 5, 11), 9)
    assert send_digest(database, config).outbox_id is not None

    with database.session() as session:
        first, second = (
            BytesParser(policy=email.policy.default).parsebytes(raw).get_body(("plain",)).get_content()
            for raw in session.scalars(select(OutboxMessage.raw).where(
                OutboxMessage.kind == "owner_daily_digest").order_by(OutboxMessage.id)).all()
        )
    assert "MAY BE REQUESTS" in first and 'from rob@example.net: "quick q about my stuff"' in first
    assert "sam@example.net" not in first and "note to self" not in first
    assert "tess@example.org" in second and "rob@example.net" not in second


def test_possible_requests_setting_is_checked(tmp_path: Path) -> None:
    from mailbot.errors import ConfigError

    with pytest.raises(ConfigError, match="possible_requests"):
        parse_config({
            "mailbox": {"source": "maildir", "path": str(tmp_path)},
            "bot": {"address": "privacy@ak3dstudio.com"},
            "owner": {"email": "andrei@ak3dstudio.com", "possible_requests": "weekly"},
            "business": {"name": "AK3D Studio"},
        }, tmp_path / "mailbot.toml")
