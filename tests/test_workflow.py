"""The workflow: recorded messages become case decisions and outbox rows, atomically, once."""

from __future__ import annotations

import email.policy
import json
import uuid
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mailbot import cases, clock, workflow
from mailbot.casework import State
from mailbot.clock import FakeClock
from mailbot.config import Config, parse_config
from mailbot.db import Database
from mailbot.models import Case, CaseEvent, Challenge, Message, OutboxMessage
from mailbot.rendering import RenderError

OWNER = "andrei@ak3dstudio.com"  # the owner shares the bot's address, as in the example config
ALICE = "alice@example.org"
REQUEST = {"is_request": True, "labels": ["access"], "uncertain": False}
NOT_REQUEST = {"is_request": False, "labels": ["none"], "uncertain": False}
UNCERTAIN = {"is_request": False, "labels": ["none"], "uncertain": True}


def make_config(tmp_path: Path, **responses: str) -> Config:
    """The shipped shape: bot, owner and contact are one address."""
    return parse_config({
        "mailbox": {"source": "maildir", "path": str(tmp_path)},
        "bot": {"address": OWNER, "name": "AK3D Studio"},
        "owner": {"email": OWNER},
        "business": {"name": "AK3D Studio", "address": "1 Example Street, Manchester"},
        "responses": responses,
    }, tmp_path / "mailbot.toml")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def record(database: Database, *, sender: str = ALICE, subject: str = "Subject access request",
           body: str = "Please send me a copy of all personal data you hold about me.",
           new_text: str | None = None, in_reply_to: str | None = None, references: str = "",
           classification: dict[str, Any] | None = None, status: str = "accepted") -> int:
    """Record a message as intake would (Message-IDs stored without angle brackets); returns its id."""
    with database.session() as session:
        msg = Message(
            dedupe_key=uuid.uuid4().hex, source="test", ref=uuid.uuid4().hex[:8], uidvalidity=1, marked=True,
            received_at=clock.now(), status=status, message_id=f"{uuid.uuid4().hex}@example.org",
            in_reply_to=in_reply_to, references=references, from_address=sender, from_name="Alice Example",
            to_addresses=OWNER, subject=subject, size=len(body), content_hash=uuid.uuid4().hex,
            body_text=body, new_text=body if new_text is None else new_text, defects="",
            classification=json.dumps(classification if classification is not None else REQUEST),
        )
        session.add(msg)
        session.flush()
        return msg.id


def outbox_rows(database: Database) -> list[OutboxMessage]:
    with database.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def headers(row: OutboxMessage) -> Any:
    return BytesParser(policy=email.policy.default).parsebytes(row.raw)


def ack_of(database: Database) -> OutboxMessage:
    """The one challenge mail in the outbox."""
    [ack] = [r for r in outbox_rows(database) if r.kind == "ack_challenge"]
    return ack


def only_case(database: Database) -> Case:
    with database.session() as session:
        [case] = session.scalars(select(Case)).all()
        session.expunge_all()
        return case


def challenge_of(database: Database) -> Challenge:
    with database.session() as session:
        [challenge] = session.scalars(select(Challenge)).all()
        session.expunge_all()
        return challenge


def test_a_request_opens_a_case_and_queues_the_challenge_with_reference_and_token(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    message_id = record(database)
    report = workflow.process_new(database, config)
    assert report.handled == (message_id,) and report.failed == ()
    case = only_case(database)
    challenge = challenge_of(database)
    assert case.state == State.AWAITING_IDENTITY
    row, new_case = outbox_rows(database)
    assert row.kind == "ack_challenge" and row.state == "queued" and row.to_address == ALICE
    assert new_case.kind == "owner_new_case" and new_case.to_address == OWNER and case.reference in new_case.subject
    assert case.reference in row.subject and challenge.token in row.subject
    mail = headers(row)
    assert mail["In-Reply-To"] == f"<{case.root_message_id}>"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert challenge.code in mail.get_body(("plain",)).get_content()
    # record_mail_out: replies match the challenge by In-Reply-To.
    assert challenge.message_id == row.message_id.strip("<>")
    with database.session() as session:
        msg = session.get_one(Message, message_id)
        assert msg.handled_at == fake_clock.now()
    lines = [str(line) for line in report.lines]
    assert lines[0].startswith(f"message {message_id} [{case.reference}]: opened")
    assert any("ack_challenge to alice@example.org queued as outbox" in line for line in lines)
    assert workflow.process_new(database, config) == workflow.WorkflowReport()


def test_the_reply_with_the_code_verifies_and_queues_the_confirmation(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    record(database)
    workflow.process_new(database, config)
    challenge = challenge_of(database)
    ack = ack_of(database)
    parent = ack.message_id.strip("<>")
    # The code only in the quoted text: replying is the proof.
    reply_id = record(database, subject=f"Re: {ack.subject}", new_text="Yes, it was me.",
                      body=f"Yes, it was me.\n\n> reply and keep this code:\n>     {challenge.code}\n",
                      in_reply_to=parent, references=parent, classification=NOT_REQUEST)
    report = workflow.process_new(database, config)
    assert report.handled == (reply_id,)
    case = only_case(database)
    assert case.state == State.VERIFIED and case.identity_method == "reply_code" and case.due_on is not None
    [confirmed] = [r for r in outbox_rows(database) if r.kind == "identity_confirmed"]
    assert confirmed.state == "queued"
    with database.session() as session:
        reply = session.get_one(Message, reply_id)
        assert headers(confirmed)["In-Reply-To"] == f"<{reply.message_id}>"
    assert "identity reply, verified" in str(report)


def test_a_reply_matched_by_the_subject_token_alone_verifies(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    record(database)
    workflow.process_new(database, config)
    challenge = challenge_of(database)
    ack = ack_of(database)
    record(database, subject=f"Re: {ack.subject}", body=f"code {challenge.code}", classification=NOT_REQUEST)
    workflow.process_new(database, config)
    assert only_case(database).state == State.VERIFIED


def test_a_wrong_code_is_answered_and_does_not_verify(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    record(database)
    workflow.process_new(database, config)
    ack = ack_of(database)
    parent = ack.message_id.strip("<>")
    record(database, body="000000 is my code", in_reply_to=parent, classification=NOT_REQUEST)
    workflow.process_new(database, config)
    assert only_case(database).state == State.AWAITING_IDENTITY
    wrong = outbox_rows(database)[-1]
    assert wrong.kind == "identity_wrong_code" and wrong.to_address == ALICE
    assert "4 more times" in " ".join(headers(wrong).get_body(("plain",)).get_content().split())


def test_a_follow_up_joins_the_case_and_the_owner_is_told(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    record(database)
    workflow.process_new(database, config)
    case = only_case(database)
    record(database, subject="Any news?", body="Any news on my request?", classification=NOT_REQUEST,
           references=case.root_message_id or "")
    report = workflow.process_new(database, config)
    assert "joined" in str(report)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
    notice = outbox_rows(database)[-1]
    assert notice.kind == "owner_notice" and notice.to_address == OWNER and notice.state == "queued"
    assert notice.subject.startswith(f"[{case.reference}]")
    assert headers(notice)["Auto-Submitted"] == "auto-generated"


def test_a_non_request_is_marked_handled_without_any_mail(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    message_id = record(database, subject="Do you ship to Ireland?", classification=NOT_REQUEST)
    report = workflow.process_new(database, config)
    assert report.handled == (message_id,)
    assert outbox_rows(database) == []
    with database.session() as session:
        assert session.get_one(Message, message_id).handled_at is not None
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_an_uncertain_message_goes_to_the_owner(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    message_id = record(database, subject="my details", classification=UNCERTAIN)
    workflow.process_new(database, config)
    [notice] = outbox_rows(database)
    assert notice.kind == "owner_notice" and notice.to_address == OWNER
    assert f"[message {message_id}]" in notice.subject
    assert ALICE in headers(notice).get_body(("plain",)).get_content()


def test_screened_messages_are_left_alone(database: Database, fake_clock: FakeClock, config: Config) -> None:
    record(database, status="screened")
    assert workflow.process_new(database, config) == workflow.WorkflowReport()


def test_a_crash_mid_message_leaves_nothing_half_done_and_the_rerun_handles_it_once(
    database: Database, fake_clock: FakeClock, config: Config, monkeypatch: pytest.MonkeyPatch,
) -> None:
    message_id = record(database)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("power cut after the outbox row was written")

    # After the case, the challenge and the outbox row exist in the transaction.
    monkeypatch.setattr(cases, "record_mail_out", crash)
    with pytest.raises(RuntimeError):
        workflow.process_new(database, config)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert session.scalar(select(func.count()).select_from(Challenge)) == 0
        assert session.scalar(select(func.count()).select_from(CaseEvent)) == 0
        assert session.get_one(Message, message_id).handled_at is None
    assert outbox_rows(database) == []
    monkeypatch.undo()
    assert workflow.process_new(database, config).handled == (message_id,)
    assert workflow.process_new(database, config).handled == ()
    assert [r.kind for r in outbox_rows(database)] == ["ack_challenge", "owner_new_case"]
    assert only_case(database).reference.endswith("-0001")


def test_a_domain_error_is_reported_and_the_message_retried_later(
    database: Database, fake_clock: FakeClock, config: Config, monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = record(database)

    def fail(kind: str, context: object) -> None:
        raise RenderError(f"template {kind} is broken")

    monkeypatch.setattr(workflow, "render", fail)
    report = workflow.process_new(database, config)
    assert report.handled == () and report.failed == ((broken, "template ack_challenge is broken"),)
    assert "will be tried again" in str(report)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
    monkeypatch.undo()
    assert workflow.process_new(database, config).handled == (broken,)


def test_owner_mail_without_a_token_is_handled_and_changes_nothing(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    message_id = record(database, sender=OWNER, subject="approve", body="approve")
    report = workflow.process_new(database, config)
    assert report.handled == (message_id,) and "no draft touched" in str(report)
    assert outbox_rows(database) == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
