"""The sender against a real SMTP server (aiosmtpd) and, for the mailbox side, Dovecot.

Every test ends by counting what the SMTP server accepted: a message must
arrive exactly once, whatever happened on the way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot import outbox
from mailbot.clock import FakeClock
from mailbot.config import Config, MailboxConfig, parse_config
from mailbot.copies import ImapCopies
from mailbot.db import Database
from mailbot.errors import MailboxError
from mailbot.models import OutboxMessage
from mailbot.sender import NOTICE_KIND, STEPS, DeliveryReport, Sender
from tests.dovecot import DovecotServer
from tests.smtpd import SmtpServer, smtp_server  # noqa: F401  (fixture)

BOT = "privacy@ak3dstudio.com"
OWNER = "owner@ak3dstudio.com"
ALICE = "alice@example.org"
REPO = Path(__file__).resolve().parent.parent


def make_config(tmp_path: Path, smtp_port: int, mailbox: MailboxConfig | None = None, **smtp: Any) -> Config:
    """A config sending through 127.0.0.1:smtp_port; the mailbox is IMAP when given."""
    config = parse_config({
        "mailbox": {"source": "maildir", "path": str(tmp_path)},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout": 5,
                 "retry_base_seconds": 60, "retry_cap_seconds": 3600, **smtp},
        "bot": {"address": BOT, "name": "AK3D Studio"},
        "owner": {"email": OWNER},
        "business": {"name": "AK3D Studio"},
    }, tmp_path / "mailbot.toml")
    if mailbox is not None:
        config = dataclasses.replace(config, mailbox=mailbox)
    return config


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None


def queue(db: Database, config: Config, n: int = 1, to: str = ALICE) -> list[int]:
    """Enqueue n replies to `to`; returns their outbox ids."""
    ids = []
    with db.session() as session:
        for i in range(n):
            msg = outbox.compose(Rendered(f"Your request {i}", f"Reply {i}", f"<p>Reply {i}</p>"),
                                 bot=config.bot, to=to, in_reply_to=f"<q{i}@example.org>")
            ids.append(outbox.enqueue(session, msg, kind="acknowledgement", bot=config.bot).id)
    return ids


def rows(db: Database) -> dict[int, OutboxMessage]:
    with db.session() as session:
        return {r.id: r for r in session.scalars(select(OutboxMessage))}


class FakeCopies:
    """SentCopies in memory: the bot's INBOX (fed by the SMTP server) and its Sent folder."""

    def __init__(self) -> None:
        self.inbox: list[bytes] = []
        self.sent: list[bytes] = []
        self.broken = False

    def _has(self, folder: list[bytes], message_id: str) -> bool:
        return any(f"Message-ID: {message_id}".encode() in raw for raw in folder)

    def delivered(self, message_id: str) -> bool:
        if self.broken:
            raise MailboxError("IMAP is down")
        return self._has(self.inbox, message_id) or self._has(self.sent, message_id)

    def in_sent(self, message_id: str) -> bool:
        if self.broken:
            raise MailboxError("IMAP is down")
        return self._has(self.sent, message_id)

    def append_to_sent(self, raw: bytes, when: datetime) -> None:
        if self.broken:
            raise MailboxError("IMAP is down")
        self.sent.append(raw)


@pytest.fixture
def copies(smtp_server: SmtpServer) -> FakeCopies:
    fake = FakeCopies()
    smtp_server.handler.own_address = BOT
    smtp_server.handler.deliver_own_copy = fake.inbox.append
    return fake


def deliver(sender: Sender) -> DeliveryReport:
    return asyncio.run(sender.deliver_due())


def make_sender(db: Database, config: Config, copies: Any) -> Sender:
    # jitter 1.0: the delay is exactly the nominal one, so tests can step over it.
    return Sender(db, config, copies=copies, jitter=lambda: 1.0)


def test_each_message_is_delivered_once_with_a_hidden_copy_and_filed_in_sent(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    ids = queue(database, config, 3)
    sender = make_sender(database, config, copies)
    report = deliver(sender)
    assert report.sent == tuple(ids) and report.appended == tuple(ids)
    got = rows(database)
    assert all(r.state == "sent" and r.attempts == 1 and r.appended_to_sent for r in got.values())
    assert smtp_server.handler.delivered_to(ALICE) == [got[i].message_id for i in ids]
    first = smtp_server.handler.received[0]
    assert first.mail_from == BOT and first.rcpt_tos == (ALICE, BOT)
    # The copy to ourselves is envelope only: no header names it as a recipient.
    sent = message_from_bytes(first.content, policy=policy.default)
    assert sent["To"] == ALICE and sent["Cc"] is None and sent["Bcc"] is None
    assert len(copies.sent) == 3 and len(copies.inbox) == 3
    assert smtp_server.handler.sessions == 1  # one SMTP session for the whole pass
    assert deliver(sender) == DeliveryReport()
    assert len(smtp_server.handler.received) == 3


def test_a_message_to_the_bot_itself_is_delivered_once(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(database, config, to=BOT)
    assert len(deliver(make_sender(database, config, copies)).sent) == 1
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [(BOT,)]
    assert len(copies.inbox) == 1


def test_a_4xx_is_retried_after_the_backoff_then_delivered(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    [row_id] = queue(database, config)
    smtp_server.handler.script[:] = ["4xx", "4xx"]
    sender = make_sender(database, config, copies)
    assert deliver(sender).deferred == (row_id,)
    row = rows(database)[row_id]
    assert row.state == "queued" and row.attempts == 1 and "451" in (row.last_error or "")
    assert row.next_attempt_at == fake_clock.now() + timedelta(seconds=60)
    assert deliver(sender) == DeliveryReport()  # not due yet
    fake_clock.advance(timedelta(seconds=60))
    assert deliver(sender).deferred == (row_id,)
    assert rows(database)[row_id].next_attempt_at == fake_clock.now() + timedelta(seconds=120)
    fake_clock.advance(timedelta(seconds=120))
    assert deliver(sender).sent == (row_id,)
    row = rows(database)[row_id]
    assert row.state == "sent" and row.attempts == 3
    assert smtp_server.handler.delivered_to(ALICE) == [row.message_id]


def test_a_5xx_fails_keeps_the_reason_and_tells_the_owner_once(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    [row_id] = queue(database, config)
    smtp_server.handler.script[:] = ["5xx"]
    sender = make_sender(database, config, copies)
    report = deliver(sender)
    assert report.failed == (row_id,) and len(report.notices) == 1
    row = rows(database)[row_id]
    assert row.state == "failed" and "550" in (row.last_error or "") and row.next_attempt_at is None
    notice = rows(database)[report.notices[0]]
    assert notice.kind == NOTICE_KIND and notice.to_address == OWNER and notice.state == "queued"
    assert f"outbox retry {row_id}".encode() in notice.raw and b"550" in notice.raw
    assert b"Auto-Submitted: auto-generated" in notice.raw
    assert deliver(sender).sent == (notice.id,)
    assert smtp_server.handler.delivered_to(ALICE) == []
    assert len(smtp_server.handler.delivered_to(OWNER)) == 1
    assert deliver(sender) == DeliveryReport()


def test_a_failed_notice_does_not_breed_notices(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(database, config)
    smtp_server.handler.script[:] = ["5xx", "5xx"]
    sender = make_sender(database, config, copies)
    deliver(sender)
    report = deliver(sender)
    assert len(report.failed) == 1 and report.notices == ()
    assert {r.state for r in rows(database).values()} == {"failed"}


def test_temporary_failures_give_up_after_the_configured_hours(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port, give_up_hours=1)
    [row_id] = queue(database, config)
    smtp_server.handler.script[:] = ["4xx"] * 10
    sender = make_sender(database, config, copies)
    for _ in range(10):
        report = deliver(sender)
        if report.failed:
            break
        fake_clock.advance(timedelta(minutes=30))
    row = rows(database)[row_id]
    assert row.state == "failed" and "gave up" in (row.last_error or "")
    assert len(report.notices) == 1


@pytest.mark.parametrize("drop", ["mid-data", "drop"])
def test_a_drop_during_data_is_resolved_before_the_retry_and_delivered_once(
    drop: str, database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies,
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    [row_id, other] = queue(database, config, 2)
    smtp_server.handler.script[:] = [drop]
    sender = make_sender(database, config, copies)
    report = deliver(sender)
    # The drop does not stop the pass: the next message goes out on a new connection.
    assert report.unknown == (row_id,) and report.sent == (other,)
    assert rows(database)[row_id].state == "unknown"
    fake_clock.advance(timedelta(minutes=5))
    assert deliver(sender).unknown == (row_id,)  # no copy yet, but within the grace period
    fake_clock.advance(timedelta(minutes=5))
    report = deliver(sender)
    assert report.requeued == (row_id,) and report.sent == (row_id,)
    row = rows(database)[row_id]
    assert row.state == "sent" and row.attempts == 2
    assert smtp_server.handler.delivered_to(ALICE).count(row.message_id) == 1


def test_a_message_accepted_before_the_drop_is_found_and_never_resent(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    [row_id] = queue(database, config)
    smtp_server.handler.script[:] = ["accept-drop"]
    sender = make_sender(database, config, copies)
    assert deliver(sender).unknown == (row_id,)
    fake_clock.advance(timedelta(hours=1))
    report = deliver(sender)
    assert report.resolved_sent == (row_id,) and report.sent == () and report.appended == (row_id,)
    row = rows(database)[row_id]
    assert row.state == "sent" and row.appended_to_sent and row.attempts == 1
    assert smtp_server.handler.delivered_to(ALICE) == [row.message_id]


def test_an_unresolvable_attempt_waits_while_the_mailbox_is_down(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    [row_id] = queue(database, config)
    with database.session() as session:  # as a crash right after step 1 leaves it
        row = session.get_one(OutboxMessage, row_id)
        row.state, row.attempts, row.attempt_started_at = "sending", 1, fake_clock.now()
    copies.broken = True
    fake_clock.advance(timedelta(hours=1))
    sender = make_sender(database, config, copies)
    assert deliver(sender).unknown == (row_id,)
    assert smtp_server.handler.received == []
    copies.broken = False
    report = deliver(sender)
    assert report.requeued == (row_id,) and report.sent == (row_id,)
    assert len(smtp_server.handler.delivered_to(ALICE)) == 1


def test_without_a_searchable_mailbox_an_interrupted_attempt_waits_for_the_owner(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)  # a maildir mailbox: nothing to search
    [row_id] = queue(database, config)
    with database.session() as session:
        row = session.get_one(OutboxMessage, row_id)
        row.state, row.attempts, row.attempt_started_at = "sending", 1, fake_clock.now()
    fake_clock.advance(timedelta(days=1))
    sender = Sender(database, config)
    assert sender.copies is None
    assert deliver(sender).unknown == (row_id,)
    assert smtp_server.handler.received == []
    with database.session() as session:
        outbox.retry(session, row_id)
    assert deliver(sender).sent == (row_id,)


def test_an_unreachable_server_defers_one_message_and_stops_the_pass(
    database: Database, fake_clock: FakeClock, tmp_path: Path,
) -> None:
    from tests.smtpd import free_port

    config = make_config(tmp_path, free_port())
    ids = queue(database, config, 3)
    report = deliver(make_sender(database, config, FakeCopies()))
    assert report.deferred == (ids[0],)
    got = rows(database)
    assert got[ids[0]].attempts == 1 and "cannot use SMTP server" in (got[ids[0]].last_error or "")
    assert [got[i].attempts for i in ids[1:]] == [0, 0]


def test_a_failed_sent_copy_is_filed_on_a_later_pass_and_only_once(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    [row_id] = queue(database, config)
    sender = make_sender(database, config, copies)
    copies.broken = True
    report = deliver(sender)
    assert report.sent == (row_id,) and report.appended == ()
    assert not rows(database)[row_id].appended_to_sent
    copies.broken = False
    assert deliver(sender).appended == (row_id,)
    assert deliver(sender) == DeliveryReport()
    assert len(copies.sent) == 1 and len(smtp_server.handler.received) == 1


def test_drafts_are_never_sent(
    database: Database, fake_clock: FakeClock, smtp_server: SmtpServer, copies: FakeCopies, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    with database.session() as session:
        msg = outbox.compose(Rendered("s", "t"), bot=config.bot, to=ALICE)
        outbox.enqueue(session, msg, kind="erasure_response", bot=config.bot, draft=True)
    assert deliver(make_sender(database, config, copies)) == DeliveryReport()
    assert smtp_server.handler.received == []


# -- Dovecot: the real Sent folder and the real search ----------------------------


def test_sent_copy_and_resolution_against_dovecot(
    sqlite_database: Database, fake_clock: FakeClock, smtp_server: SmtpServer,
    dovecot: DovecotServer, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, smtp_server.port, mailbox=dovecot.mailbox_config())
    smtp_server.handler.own_address = BOT
    smtp_server.handler.deliver_own_copy = lambda raw: dovecot.append(raw, "INBOX")
    [sent_id, lost_id] = queue(sqlite_database, config, 2)
    smtp_server.handler.script[:] = ["ok", "drop"]
    sender = Sender(sqlite_database, config, jitter=lambda: 1.0)
    assert isinstance(sender.copies, ImapCopies)
    report = deliver(sender)
    assert report.sent == (sent_id,) and report.unknown == (lost_id,)
    got = rows(sqlite_database)
    copies = ImapCopies(config.mailbox)
    assert copies.delivered(got[sent_id].message_id)  # the hidden copy, in INBOX
    assert copies.in_sent(got[sent_id].message_id) and not copies.delivered(got[lost_id].message_id)
    with dovecot.client() as client:
        client.select_folder("Sent", readonly=True)
        uids = client.search(["ALL"])
        assert len(uids) == 1
        assert b"\\Seen" in client.get_flags(uids)[uids[0]]
    fake_clock.advance(timedelta(minutes=10))
    report = deliver(sender)
    assert report.requeued == (lost_id,) and report.sent == (lost_id,) and report.appended == (lost_id,)
    assert sorted(smtp_server.handler.delivered_to(ALICE)) == sorted(r.message_id for r in got.values())


# -- Crash test: kill the sender process at every step, restart, count --------


def _run_sender(args: dict[str, Any]) -> int:
    """Run tests.sender_process once; returns its exit status."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.sender_process", json.dumps(args)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    if done.returncode not in (0, 137):
        raise AssertionError(f"sender process failed ({done.returncode}):\n{done.stderr}")
    return done.returncode


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_every_message_leaves_exactly_once(
    step: str, sqlite_database: Database, fake_clock: FakeClock, smtp_server: SmtpServer,
    dovecot: DovecotServer, tmp_path: Path,
) -> None:
    mailbox = dovecot.mailbox_config()
    config = make_config(tmp_path, smtp_server.port, mailbox=mailbox)
    smtp_server.handler.own_address = BOT
    smtp_server.handler.deliver_own_copy = lambda raw: dovecot.append(raw, "INBOX")
    ids = queue(sqlite_database, config, 2)
    start = fake_clock.now()
    args = {
        "db": sqlite_database.url, "smtp_port": smtp_server.port, "dir": str(tmp_path),
        "imap": {"host": mailbox.host, "port": mailbox.port, "username": mailbox.username,
                 "password": mailbox.password},
        "crash_at": step, "markers": str(tmp_path / "crashed"),
    }
    kills = 0
    for run in range(10):
        # Each restart comes well after the grace period: a careless sender would resend.
        args["now"] = (start + run * timedelta(minutes=15)).isoformat()
        if _run_sender(args) == 0:
            break
        kills += 1
    else:
        raise AssertionError("the sender never finished")
    assert kills == len(ids)  # killed once per message, at that step
    got = rows(sqlite_database)
    assert all(r.state == "sent" and r.appended_to_sent for r in got.values())
    expected = sorted(r.message_id for r in got.values())
    assert sorted(smtp_server.handler.delivered_to(ALICE)) == expected
    with dovecot.client() as client:
        client.select_folder("Sent", readonly=True)
        filed = client.fetch(client.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    in_sent = sorted(
        data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip() for data in filed.values()
    )
    assert in_sent == expected
