"""The intake runner end to end against a real Dovecot, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mailbot.config import Config, demo_config
from mailbot.db import Database
from mailbot.errors import MailboxError
from mailbot.imap import ImapMailbox
from mailbot.intake import Intake, PassReport
from mailbot.models import MailboxState, Message
from tests.dovecot import DovecotServer
from tests.fakes import make_mail

pytestmark = pytest.mark.imap


def imap_config(tmp_path: Path, server: DovecotServer, **mailbox: Any) -> Config:
    """The demo config pointed at the test user's INBOX on server."""
    base = demo_config(tmp_path, tmp_path)
    return dataclasses.replace(base, mailbox=server.mailbox_config(**mailbox))


def intake_for(config: Config, database: Database) -> Intake:
    """A runner with a fresh ImapMailbox, as a new process would build it."""
    return Intake(config, database, ImapMailbox(config.mailbox, config.intake.max_message_size))


def mail(n: int) -> bytes:
    """Message n from its own sender (the hourly per-sender limit stays out of the way)."""
    return make_mail(n, sender=f"person{n}@example.org", subject=f"Request {n}")


def records(db: Database) -> list[tuple[str, str | None]]:
    """(ref, Message-ID) of every recorded message, oldest first."""
    with db.session() as session:
        return [(m.ref, m.message_id) for m in session.scalars(select(Message).order_by(Message.id))]


def count(db: Database) -> int:
    """How many messages are recorded."""
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Message)) or 0


def server_flags(server: DovecotServer, folder: str = "INBOX") -> dict[int, set[bytes]]:
    """UID -> flags in folder, as another client sees them."""
    with server.client() as c:
        c.select_folder(folder, readonly=True)
        return {uid: set(f) for uid, f in c.get_flags(c.search("ALL")).items()}


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll predicate every 10 ms until it holds or timeout passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def watching(tmp_path: Path, dovecot: DovecotServer, database: Database) -> Iterator[Callable[..., Intake]]:
    """Start Intake.run in a thread; stops it (and checks it stops quickly) afterwards."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(**mailbox: Any) -> Intake:
        intake = intake_for(imap_config(tmp_path, dovecot, **mailbox), database)
        stop = threading.Event()
        thread = threading.Thread(target=intake.run, args=(stop,), daemon=True)
        thread.start()
        started.append((thread, stop))
        return intake

    yield start
    for thread, stop in started:
        stop.set()
        began = time.monotonic()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - began < 2.5, "the runner must stop within about a second"


def test_appended_messages_are_recorded_once_and_marked(
    tmp_path: Path, dovecot: DovecotServer, database: Database,
) -> None:
    for n in range(5):
        dovecot.append(mail(n))
    config = imap_config(tmp_path, dovecot)
    report = intake_for(config, database).run_once()
    assert report.count("accepted") == 5
    assert [ref for ref, _ in records(database)] == ["1", "2", "3", "4", "5"]
    flags = server_flags(dovecot)
    assert all(f == {b"$MailbotSeen"} for f in flags.values())  # keyword set, \Seen untouched
    with database.session() as session:
        assert all(session.scalars(select(Message.marked)))
        state = session.scalar(select(MailboxState))
        assert state.last_uid == 5 and state.uidvalidity == dovecot.uidvalidity()
        assert state.source == f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}/INBOX"
    again = intake_for(config, database).run_once()
    assert again.outcomes == () and again.remarked == 0
    assert count(database) == 5


def test_move_mode_moves_after_recording(tmp_path: Path, dovecot: DovecotServer, database: Database) -> None:
    for n in range(3):
        dovecot.append(mail(n))
    config = imap_config(tmp_path, dovecot, processed="move", processed_folder="Mailbot")
    assert intake_for(config, database).run_once().count("accepted") == 3
    assert server_flags(dovecot) == {}
    moved = server_flags(dovecot, "Mailbot")
    assert len(moved) == 3 and all(b"\\Seen" not in f for f in moved.values())
    assert intake_for(config, database).run_once().outcomes == ()
    assert count(database) == 3


def test_idle_delivers_a_new_message_within_a_second(
    dovecot: DovecotServer, database: Database, watching: Callable[..., Intake],
) -> None:
    dovecot.append(mail(0))
    watching()
    assert wait_for(lambda: count(database) == 1, 5)
    time.sleep(0.2)  # let the runner settle into IDLE
    dovecot.append(mail(1))
    appended = time.monotonic()
    assert wait_for(lambda: count(database) == 2, 5)
    # Dovecot holds IDLE notifications back for 0.5 s; the rest is ours.
    assert time.monotonic() - appended < 1.0
    assert all(b"\\Seen" not in f for f in server_flags(dovecot).values())


def test_a_restart_resumes_with_no_duplicates(tmp_path: Path, dovecot: DovecotServer, database: Database) -> None:
    config = imap_config(tmp_path, dovecot)
    for n in range(3):
        dovecot.append(mail(n))
    assert intake_for(config, database).run_once().count("accepted") == 3
    for n in range(3, 5):
        dovecot.append(mail(n))
    report = intake_for(config, database).run_once()
    assert [o.ref for o in report.outcomes] == ["4", "5"]
    assert [mid for _, mid in records(database)] == [f"msg{n}@example.org" for n in range(5)]


def test_killed_between_commit_and_mark_is_marked_on_restart(
    tmp_path: Path, dovecot: DovecotServer, database: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = imap_config(tmp_path, dovecot)
    for n in range(3):
        dovecot.append(mail(n))
    intake = intake_for(config, database)

    def die(refs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(intake.mailbox, "mark_processed", die)
    with pytest.raises(KeyboardInterrupt):
        intake.run_once()
    intake.mailbox.close()
    assert count(database) == 3
    assert all(f == set() for f in server_flags(dovecot).values())
    report = intake_for(config, database).run_once()
    assert report.remarked == 3 and report.outcomes == ()
    assert all(f == {b"$MailbotSeen"} for f in server_flags(dovecot).values())
    assert count(database) == 3


def test_a_connection_killed_mid_fetch_loses_nothing(
    tmp_path: Path, dovecot: DovecotServer, database: Database,
) -> None:
    config = imap_config(tmp_path, dovecot, batch_size=2)
    for n in range(6):
        dovecot.append(mail(n))
    intake = intake_for(config, database)
    box = intake.mailbox
    assert isinstance(box, ImapMailbox)
    real = box._fetch_group
    calls = 0

    def fetch_then_cut(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            dovecot.kill_connections()
        return real(*args)

    box._fetch_group = fetch_then_cut  # type: ignore[method-assign]
    with pytest.raises(MailboxError):
        intake.run_once()
    assert count(database) == 2  # the first batch was committed before the cut
    report = intake_for(config, database).run_once()
    assert [o.ref for o in report.outcomes] == ["3", "4", "5", "6"]
    assert [mid for _, mid in records(database)] == [f"msg{n}@example.org" for n in range(6)]
    assert all(f == {b"$MailbotSeen"} for f in server_flags(dovecot).values())


def test_the_watcher_reconnects_after_the_server_cuts_it(
    dovecot: DovecotServer, database: Database, watching: Callable[..., Intake],
) -> None:
    dovecot.append(mail(0))
    watching()
    assert wait_for(lambda: count(database) == 1, 5)
    dovecot.kill_connections()
    dovecot.append(mail(1))
    # First retry comes after 0.5-1 s of backoff.
    assert wait_for(lambda: count(database) == 2, 5)
    dovecot.restart()
    dovecot.append(mail(2))
    assert wait_for(lambda: count(database) == 3, 8)
    assert [mid for _, mid in records(database)] == [f"msg{n}@example.org" for n in range(3)]


def test_a_uidvalidity_change_records_nothing_twice(
    tmp_path: Path, dovecot: DovecotServer, database: Database,
) -> None:
    config = imap_config(tmp_path, dovecot)
    for n in range(4):
        dovecot.append(mail(n))
    assert intake_for(config, database).run_once().count("accepted") == 4
    with dovecot.client() as c:
        c.select_folder("INBOX")
        c.delete_messages([1])
        c.expunge()
    # Renumbering also forgets the keywords: every message looks new again.
    new_validity = dovecot.renumber()
    dovecot.append(mail(9))  # UID 4 now: below the stored cursor of 4+
    report: PassReport = intake_for(config, database).run_once()
    assert report.count("accepted") == 1 and report.count("duplicate") == 3
    assert count(database) == 5
    with database.session() as session:
        state = session.scalar(select(MailboxState))
        assert (state.uidvalidity, state.last_uid) == (new_validity, 4)
    assert intake_for(config, database).run_once().outcomes == ()


def test_a_new_uidvalidity_with_keywords_kept_records_nothing_twice(
    tmp_path: Path, dovecot: DovecotServer, database: Database,
) -> None:
    config = imap_config(tmp_path, dovecot)
    for n in range(3):
        dovecot.append(mail(n))
    intake_for(config, database).run_once()
    dovecot.reset_uidvalidity()
    dovecot.append(mail(3))
    report = intake_for(config, database).run_once()
    assert [o.status for o in report.outcomes] == ["accepted"]
    assert count(database) == 4
