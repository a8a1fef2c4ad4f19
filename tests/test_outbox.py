"""The outbox: composing a reply and storing it, final, before any attempt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from mailbot import outbox
from mailbot.clock import FakeClock
from mailbot.config import BotConfig
from mailbot.db import Database
from mailbot.errors import NotFound
from mailbot.models import OutboxMessage

BOT = BotConfig(address="privacy@ak3dstudio.com", name="AK3D Studio", loop_header="X-Mailbot-Loop")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None


def test_compose_threads_the_reply_and_carries_both_alternatives() -> None:
    msg = outbox.compose(
        Rendered("Re: my data", "Hello Alice", "<p>Hello Alice</p>"),
        bot=BOT, to="Alice Example <alice@example.org>",
        in_reply_to="<q1@example.org>", references=["<q0@example.org>"],
    )
    assert msg["From"] == "AK3D Studio <privacy@ak3dstudio.com>"
    assert msg["To"] == "Alice Example <alice@example.org>"
    assert msg["In-Reply-To"] == "<q1@example.org>"
    assert msg["References"] == "<q0@example.org> <q1@example.org>"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_compose_cannot_be_made_to_inject_headers() -> None:
    msg = outbox.compose(Rendered("Hi\r\nBcc: evil@example.net", "x"), bot=BOT, to="a@example.org")
    assert msg["Subject"] == "Hi Bcc: evil@example.net"
    assert msg["Bcc"] is None
    assert msg.get_content_type() == "text/plain"


def test_enqueue_stores_the_final_message_with_id_loop_header_and_auto_submitted(
    database: Database, fake_clock: FakeClock
) -> None:
    msg = outbox.compose(Rendered("Your request", "We got it."), bot=BOT, to="alice@example.org",
                         in_reply_to="<q1@example.org>")
    with database.session() as session:
        row = outbox.enqueue(session, msg, kind="acknowledgement", bot=BOT, case_id=7)
        row_id = row.id
    with database.session() as session:
        row = session.get_one(OutboxMessage, row_id)
        assert row.state == "queued" and row.attempts == 0
        assert row.next_attempt_at == row.created_at == row.queued_at == fake_clock.now()
        assert row.to_address == "alice@example.org" and row.from_address == BOT.address
        assert row.case_id == 7 and row.kind == "acknowledgement" and not row.appended_to_sent
        stored = message_from_bytes(row.raw, policy=policy.default)
    assert stored["Message-ID"] == row.message_id
    assert row.message_id.endswith("@ak3dstudio.com>")
    assert stored["X-Mailbot-Loop"] == BOT.address
    assert stored["Auto-Submitted"] == "auto-replied"
    assert stored["Date"] is not None
    assert b"\r\n" in row.raw and b"\n" not in row.raw.replace(b"\r\n", b"")


def test_an_approved_message_is_not_marked_auto_submitted(database: Database) -> None:
    msg = outbox.compose(Rendered("Your data", "Attached."), bot=BOT, to="alice@example.org")
    with database.session() as session:
        row = outbox.enqueue(session, msg, kind="access_response", bot=BOT, approved_by="owner@example.com")
        stored = message_from_bytes(row.raw, policy=policy.default)
        assert row.approved_by == "owner@example.com" and row.approved_at is not None
    assert stored["Auto-Submitted"] is None
    assert stored["X-Mailbot-Loop"] == BOT.address


def test_bcc_becomes_envelope_only_and_an_existing_message_id_is_kept(database: Database) -> None:
    msg = outbox.compose(Rendered("s", "t"), bot=BOT, to="alice@example.org")
    msg["Bcc"] = "dpo@example.org"
    msg["Message-ID"] = "<fixed@ak3dstudio.com>"
    with database.session() as session:
        row = outbox.enqueue(session, msg, kind="x", bot=BOT)
        assert row.message_id == "<fixed@ak3dstudio.com>"
        assert row.to_address == "alice@example.org, dpo@example.org"
        assert b"dpo@example.org" not in row.raw
    with database.session() as session, pytest.raises(outbox.OutboxError, match="already in the outbox"):
        again = outbox.compose(Rendered("s", "t"), bot=BOT, to="alice@example.org")
        again["Message-ID"] = "<fixed@ak3dstudio.com>"
        outbox.enqueue(session, again, kind="x", bot=BOT)


def test_a_draft_is_stored_but_never_due(database: Database) -> None:
    msg = outbox.compose(Rendered("s", "t"), bot=BOT, to="alice@example.org")
    with database.session() as session:
        row = outbox.enqueue(session, msg, kind="erasure_response", bot=BOT, draft=True)
        assert row.state == "draft" and row.needs_approval and row.next_attempt_at is None


def test_retry_requeues_only_failed_or_unknown(database: Database, fake_clock: FakeClock) -> None:
    msg = outbox.compose(Rendered("s", "t"), bot=BOT, to="alice@example.org")
    with database.session() as session:
        row_id = outbox.enqueue(session, msg, kind="x", bot=BOT).id
    with database.session() as session, pytest.raises(outbox.OutboxError, match="is queued"):
        outbox.retry(session, row_id)
    with database.session() as session:
        row = session.get_one(OutboxMessage, row_id)
        row.state, row.attempts, row.next_attempt_at = "failed", 3, None
    fake_clock.advance(timedelta(days=2))
    with database.session() as session:
        row = outbox.retry(session, row_id)
        assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 0, fake_clock.now())
        assert row.queued_at == fake_clock.now()
    with database.session() as session, pytest.raises(NotFound, match="outbox list"):
        outbox.retry(session, 999)
    with database.session() as session:
        assert session.scalar(select(OutboxMessage.state)) == "queued"


def _cli(argv: list[str]) -> int:
    """Run `mailbot outbox ...` through its own parser (the lead wires it into mailbot.cli)."""
    import argparse

    from mailbot.cli import outbox as outbox_cli

    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    outbox_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_lists_shows_and_retries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # rich folds a wide table to the terminal width
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[mailbox]\nsource = "maildir"\npath = "{tmp_path}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
        '[bot]\naddress = "privacy@ak3dstudio.com"\n[owner]\nemail = "owner@example.com"\n'
        '[business]\nname = "Studio"\n',
        encoding="utf-8",
    )
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.upgrade()
    with db.session() as session:
        row = outbox.enqueue(session, outbox.compose(Rendered("Your request", "Body text"), bot=BOT,
                                                     to="alice@example.org"), kind="acknowledgement", bot=BOT)
        row.state, row.last_error = "failed", "550 5.1.1 No such user"
    db.dispose()
    base = ["--config", str(config), "outbox"]
    assert _cli([*base, "list"]) == 0
    out = capsys.readouterr().out
    assert "acknowledgement" in out and "failed" in out and "550" in out
    assert _cli([*base, "show", "1"]) == 0
    out = capsys.readouterr().out
    assert "state:       failed" in out and "Body text" in out
    assert _cli([*base, "retry", "1"]) == 0
    assert "queued again" in capsys.readouterr().out
    assert _cli([*base, "list", "--state", "failed"]) == 0
    assert "No failed messages" in capsys.readouterr().out
    with pytest.raises(NotFound):
        _cli([*base, "show", "9"])
