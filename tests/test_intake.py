"""The intake runner with an in-memory mailbox: once-only recording, crash points, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailbot import clock
from mailbot.config import Config, demo_config
from mailbot.db import Database
from mailbot.intake import Intake
from mailbot.models import MailboxState, Message, QuarantineEntry
from tests.fakes import FakeMailbox, make_mail


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return demo_config(tmp_path, tmp_path)


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_each_message_is_recorded_once_and_marked_after_commit(config: Config, database: Database) -> None:
    box = FakeMailbox()
    for n in range(7):
        box.append(make_mail(n, sender=f"user{n}@example.org"))
    report = Intake(config, database, box).run_once()
    assert report.count("accepted") == 7
    assert count(database, Message) == 7
    assert box.marked == set(range(1, 8))
    with database.session() as session:
        assert all(session.scalars(select(Message.marked)))
        state = session.scalar(select(MailboxState))
        assert (state.uidvalidity, state.last_uid) == (1000, 7)
    again = Intake(config, database, box).run_once()
    assert again.outcomes == ()
    assert count(database, Message) == 7


def test_the_same_message_delivered_twice_is_one_record(config: Config, database: Database) -> None:
    box = FakeMailbox()
    box.append(make_mail(1, received="from mx1.example.net"))
    box.append(make_mail(1, received="from mx2.example.net"))  # another route, same message
    report = Intake(config, database, box).run_once()
    assert [o.status for o in report.outcomes] == ["accepted", "duplicate"]
    assert count(database, Message) == 1


def test_killed_between_commit_and_mark_finishes_the_mark_on_restart(config: Config, database: Database) -> None:
    box = FakeMailbox(batch_size=10)
    for n in range(3):
        box.append(make_mail(n, sender=f"u{n}@example.org"))
    box.fail_mark_times = 1
    with pytest.raises(KeyboardInterrupt):
        Intake(config, database, box).run_once()
    assert count(database, Message) == 3 and box.marked == set()
    report = Intake(config, database, box).run_once()
    assert report.remarked == 3
    assert box.marked == {1, 2, 3}
    assert count(database, Message) == 3


def test_killed_before_commit_records_everything_once_on_restart(
    config: Config, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = FakeMailbox(batch_size=2)
    for n in range(4):
        box.append(make_mail(n, sender=f"u{n}@example.org"))

    import mailbot.intake as intake_module

    real = intake_module._store_cursor
    calls = {"n": 0}

    def dying_store(*args: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill inside the second batch's transaction")
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(intake_module, "_store_cursor", dying_store)
    with pytest.raises(KeyboardInterrupt):
        Intake(config, database, box).run_once()
    assert count(database, Message) == 2  # the first batch committed, the second rolled back
    monkeypatch.setattr(intake_module, "_store_cursor", real)
    Intake(config, database, box).run_once()
    assert count(database, Message) == 4
    assert box.marked == {1, 2, 3, 4}


def test_uidvalidity_change_rescans_without_recording_twice(config: Config, database: Database) -> None:
    box = FakeMailbox()
    for n in range(4):
        box.append(make_mail(n, sender=f"u{n}@example.org"))
    Intake(config, database, box).run_once()
    box.renumber()
    box.append(make_mail(9, sender="new@example.org"))
    report = Intake(config, database, box).run_once()
    assert report.count("accepted") == 1 and report.count("duplicate") == 4
    assert count(database, Message) == 5
    with database.session() as session:
        assert session.scalar(select(MailboxState.uidvalidity)) == 1001


def test_unparseable_bytes_go_to_quarantine_and_the_run_goes_on(config: Config, database: Database) -> None:
    box = FakeMailbox()
    box.append(b"")
    box.append(make_mail(1))
    report = Intake(config, database, box).run_once()
    assert [o.status for o in report.outcomes] == ["quarantined", "accepted"]
    with database.session() as session:
        entry = session.scalar(select(QuarantineEntry))
        assert entry.raw == b"" and entry.error and entry.marked
    assert box.marked == {1, 2}
    # the same bad message delivered again is not quarantined twice
    box.append(b"")
    assert [o.status for o in Intake(config, database, box).run_once().outcomes] == ["duplicate"]
    assert count(database, QuarantineEntry) == 1


def test_machine_mail_is_recorded_with_its_reason(config: Config, database: Database) -> None:
    box = FakeMailbox()
    box.append(make_mail(1, subject="Automatic reply: away", extra_headers="Auto-Submitted: auto-replied\r\n"))
    # Our own sent mail coming back carries the loop header.
    box.append(make_mail(2, sender="andrei@ak3dstudio.com", extra_headers="X-Mailbot-Loop: andrei@ak3dstudio.com\r\n"))
    # The owner shares the bot's address here: their own mail (e.g. approving a draft) passes.
    box.append(make_mail(3, sender="andrei@ak3dstudio.com"))
    Intake(config, database, box).run_once()
    with database.session() as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
    assert [r.status for r in rows] == ["screened", "screened", "accepted"]
    assert rows[0].screen_rule == "auto-reply" and "Auto-Submitted" in (rows[0].screen_reason or "")
    assert rows[1].screen_rule == "loop"


def test_more_than_the_hourly_limit_from_one_sender_is_screened(
    config: Config, database: Database, fake_clock: clock.FakeClock
) -> None:
    box = FakeMailbox(batch_size=7)
    limit = config.intake.sender_hourly_limit
    for n in range(limit + 2):
        box.append(make_mail(n, subject=f"ping {n}", body=f"message number {n}"))
    report = Intake(config, database, box).run_once()
    assert report.count("accepted") == limit
    assert report.count("screened") == 2
    assert {o.detail.split(":")[0] for o in report.outcomes if o.status == "screened"} == {"rate-limit"}


def test_oversize_message_is_recorded_by_its_headers(config: Config, database: Database) -> None:
    from mailbot.mailbox import Batch, Cursor, FetchedMessage

    class OneBig(FakeMailbox):
        def fetch_new(self, cursor, is_known):  # type: ignore[no-untyped-def]
            head = make_mail(1).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
            yield Batch((FetchedMessage("1", 1, head, 30_000_000, truncated=True),), Cursor(1000, 1))

    report = Intake(config, database, OneBig()).run_once()
    assert [o.status for o in report.outcomes] == ["oversize"]
    with database.session() as session:
        row = session.scalar(select(Message))
        assert row.size == 30_000_000 and row.body_text == "" and row.subject == "Question"
