"""Owner approval of drafts: by email (token + owner address) and from the CLI; forgeries fail."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot import approval, workflow
from mailbot.cli import main
from mailbot.clock import FakeClock
from mailbot.config import Config
from mailbot.db import Database
from mailbot.models import Case, CaseEvent, OutboxMessage
from tests.test_workflow import ALICE, NOT_REQUEST, OWNER, challenge_of, headers, make_config, outbox_rows, record


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # The confirmation is a draft here, so a verified request leaves one waiting for the owner.
    return make_config(tmp_path, identity_confirmed="draft")


def make_draft(database: Database, config: Config, requester: str = ALICE) -> tuple[OutboxMessage, OutboxMessage]:
    """A request and its verified reply: returns (the draft, the owner's "Draft N to approve" mail)."""
    record(database, sender=requester)
    workflow.process_new(database, config)
    ack = [r for r in outbox_rows(database) if r.kind == "ack_challenge"][-1]
    with database.session() as session:
        code = session.scalars(select(Case).order_by(Case.id.desc())).first().challenges[-1].code  # type: ignore[union-attr]
    parent = ack.message_id.strip("<>")
    record(database, sender=requester, body=f"code {code}", in_reply_to=parent, classification=NOT_REQUEST)
    workflow.process_new(database, config)
    rows = outbox_rows(database)
    draft = [r for r in rows if r.kind == "identity_confirmed"][-1]
    owner_mail = [r for r in rows if r.kind == "owner_draft"][-1]
    assert draft.state == "draft" and draft.approval_token and len(draft.approval_token) == 32
    return draft, owner_mail


def owner_reply(database: Database, owner_mail: OutboxMessage, new_text: str, *, sender: str = OWNER,
                subject: str | None = None, quote: bool = True) -> int:
    """The owner's reply to the draft email, quoting it below their new text, as mail clients do."""
    quoted = headers(owner_mail).get_body(("plain",)).get_content()
    body = new_text + ("\n\nOn Mon, mailbot wrote:\n" + "\n".join(f"> {x}" for x in quoted.splitlines())
                       if quote else "")
    parent = owner_mail.message_id.strip("<>")
    return record(database, sender=sender, subject=subject if subject is not None else f"Re: {owner_mail.subject}",
                  body=body, new_text=new_text, in_reply_to=parent, references=parent, classification=NOT_REQUEST)


def row(database: Database, number: int) -> OutboxMessage:
    with database.session() as session:
        return session.get_one(OutboxMessage, number)


def approvals(database: Database) -> list[CaseEvent]:
    with database.session() as session:
        return list(session.scalars(select(CaseEvent).where(CaseEvent.kind == "approval")))


def test_the_owner_gets_the_draft_with_its_token_case_and_instructions(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    draft, owner_mail = make_draft(database, config)
    assert owner_mail.to_address == OWNER and owner_mail.state == "queued"
    assert f"Draft {draft.id} to approve [{draft.approval_token}]" in owner_mail.subject
    text = headers(owner_mail).get_body(("plain",)).get_content()
    assert "Thank you for confirming your email address" in text  # the draft itself
    assert "Due:" in text and "approve" in text


def test_approve_by_email_queues_the_draft_as_a_human_approved_message(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    draft, owner_mail = make_draft(database, config)
    assert headers(draft)["Auto-Submitted"] == "auto-replied"
    report = workflow.process_new(database, config)
    assert report == workflow.WorkflowReport()
    owner_reply(database, owner_mail, "Approve.")
    report = workflow.process_new(database, config)
    assert f"draft {draft.id} approved by email" in str(report)
    done = row(database, draft.id)
    assert done.state == "queued" and done.approved_by == OWNER and done.next_attempt_at is not None
    assert done.message_id == draft.message_id  # the same message, now approved
    assert headers(done)["Auto-Submitted"] is None
    assert "Thank you for confirming" in headers(done).get_body(("plain",)).get_content()
    [event] = approvals(database)
    assert event.actor == OWNER and "approved" in event.detail
    with database.session() as session:
        outs = session.scalars(select(CaseEvent.message_ref).where(CaseEvent.kind == "mail_out")).all()
    assert draft.message_id.strip("<>") in outs


def test_reject_by_email_cancels_and_keeps_the_reason(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    draft, owner_mail = make_draft(database, config)
    owner_reply(database, owner_mail, "reject they already have this")
    workflow.process_new(database, config)
    done = row(database, draft.id)
    assert done.state == "cancelled" and done.next_attempt_at is None
    assert "they already have this" in (done.decision_note or "")
    [event] = approvals(database)
    assert event.actor == OWNER and "rejected: they already have this" in event.detail


def test_edit_by_email_sends_the_new_text_not_the_quoted_history(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    draft, owner_mail = make_draft(database, config)
    owner_reply(database, owner_mail, "edit\nDear Alice,\n\nConfirmed. We will write by Friday.\n\nAndrei")
    workflow.process_new(database, config)
    done = row(database, draft.id)
    mail = headers(done)
    assert done.state == "queued" and done.approved_by == OWNER
    assert mail["Auto-Submitted"] is None and mail["In-Reply-To"] == headers(draft)["In-Reply-To"]
    assert mail.get_body(("html",)) is None
    assert approval.draft_text(done) == "Dear Alice,\n\nConfirmed. We will write by Friday.\n\nAndrei\n"
    assert "edited" in approvals(database)[0].detail


def test_a_reply_that_only_quotes_the_instructions_does_nothing(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    draft, owner_mail = make_draft(database, config)
    owner_reply(database, owner_mail, "")  # the quoted "approve" lines are history, not the owner's words
    assert "left waiting" in str(workflow.process_new(database, config))
    assert row(database, draft.id).state == "draft"


@pytest.mark.parametrize("forgery", ["owner-without-token", "wrong-token", "other-drafts-token", "not-owner"])
def test_a_forged_approval_fails(
    database: Database, fake_clock: FakeClock, config: Config, forgery: str,
) -> None:
    draft, owner_mail = make_draft(database, config)
    if forgery == "owner-without-token":
        owner_reply(database, owner_mail, "approve", subject=f"Re: Draft {draft.id} to approve", quote=False)
    elif forgery == "wrong-token":
        owner_reply(database, owner_mail, "approve", subject=f"Re: Draft {draft.id} to approve [{'ab' * 16}]",
                    quote=False)
    elif forgery == "other-drafts-token":
        # Bob's draft was approved already; its (spent) token must not work for Alice's draft.
        other, other_mail = make_draft(database, config, requester="bob@example.net")
        owner_reply(database, other_mail, "approve")
        workflow.process_new(database, config)
        owner_reply(database, other_mail, "approve", subject=f"Re: Draft {draft.id} to approve "
                    f"[{other.approval_token}]", quote=False)
    else:
        owner_reply(database, owner_mail, "approve", sender="mallory@example.net")
    workflow.process_new(database, config)
    after = row(database, draft.id)
    assert after.state == "draft" and after.approved_by is None
    assert not [e for e in approvals(database) if f"draft {draft.id} " in e.detail]


# -- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli_config(tmp_path: Path, database: Database) -> tuple[Path, Config]:
    """A config file pointing at the test database, whose identity confirmations are drafts."""
    path = tmp_path / "mailbot.toml"
    path.write_text(
        f'[mailbox]\nsource = "maildir"\npath = "{tmp_path}"\n'
        f'[database]\nurl = "{database.engine.url.render_as_string(hide_password=False)}"\n'
        f'[bot]\naddress = "{OWNER}"\n[owner]\nemail = "{OWNER}"\n'
        '[business]\nname = "AK3D Studio"\n[responses]\nidentity_confirmed = "draft"\n',
        encoding="utf-8",
    )
    return path, make_config(tmp_path, identity_confirmed="draft")


def editor(tmp_path: Path, script: str) -> str:
    """An $EDITOR that runs script (sh) on the file it is given."""
    path = tmp_path / "editor.sh"
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_cli_list_show_and_approve(
    database: Database, fake_clock: FakeClock, cli_config: tuple[Path, Config], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, config = cli_config
    draft, _ = make_draft(database, config)
    monkeypatch.setenv("COLUMNS", "250")  # rich folds cells to the terminal's width
    assert main(["--config", str(path), "drafts", "list"]) == 0
    assert "identity_confirmed" in capsys.readouterr().out
    assert main(["--config", str(path), "drafts", "show", str(draft.id)]) == 0
    assert "Thank you for confirming" in capsys.readouterr().out
    assert main(["--config", str(path), "drafts", "approve", str(draft.id)]) == 0
    assert row(database, draft.id).state == "queued" and approvals(database)[0].actor == OWNER
    assert main(["--config", str(path), "drafts", "approve", str(draft.id)]) == 2
    assert "not a draft waiting for approval" in capsys.readouterr().err


def test_cli_reject(
    database: Database, fake_clock: FakeClock, cli_config: tuple[Path, Config],
) -> None:
    path, config = cli_config
    draft, _ = make_draft(database, config)
    assert main(["--config", str(path), "drafts", "reject", str(draft.id), "--reason", "duplicate"]) == 0
    assert row(database, draft.id).state == "cancelled"
    assert "rejected: duplicate" in approvals(database)[0].detail


def test_cli_edit_in_the_editor_and_unchanged_aborts(
    database: Database, fake_clock: FakeClock, cli_config: tuple[Path, Config], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    path, config = cli_config
    draft, _ = make_draft(database, config)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor(tmp_path, "true"))
    assert main(["--config", str(path), "drafts", "edit", str(draft.id)]) == 1
    assert "unchanged" in capsys.readouterr().err and row(database, draft.id).state == "draft"
    monkeypatch.setenv("EDITOR", editor(tmp_path, 'printf "Dear Alice,\\n\\nAll done.\\n" > "$1"'))
    assert main(["--config", str(path), "drafts", "edit", str(draft.id)]) == 0
    done = row(database, draft.id)
    assert done.state == "queued" and done.approved_by == OWNER
    assert approval.draft_text(done) == "Dear Alice,\n\nAll done.\n"
    assert not any(name.startswith("mailbot-draft-") for name in os.listdir(os.environ.get("TMPDIR", "/tmp")))


def test_cli_approve_with_attachments_sends_the_files_with_the_text_and_audits_them(
    database: Database, fake_clock: FakeClock, cli_config: tuple[Path, Config], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`drafts approve N --attach F --attach G`: the text stays, the files go with it, the trail names them."""
    import email.policy
    from email.parser import BytesParser

    path, config = cli_config
    draft, _ = make_draft(database, config)
    text_before = approval.draft_text(row(database, draft.id))
    export = tmp_path / "alice-export.csv"
    export.write_text("order,date\nAK-1001,2026-03-02\n", encoding="utf-8")
    scan = tmp_path / "scan.bin"
    scan.write_bytes(bytes(range(256)) * 4)
    argv = ["--config", str(path), "drafts", "approve", str(draft.id), "--attach", str(export), "--attach", str(scan)]
    assert main(argv) == 0
    assert "alice-export.csv" in capsys.readouterr().out

    sent = BytesParser(policy=email.policy.default).parsebytes(row(database, draft.id).raw)
    files = {part.get_filename(): part for part in sent.iter_attachments()}
    assert files["alice-export.csv"].get_content_type() == "text/csv"
    assert files["alice-export.csv"].get_content() == "order,date\nAK-1001,2026-03-02\n"
    assert files["scan.bin"].get_content_type() == "application/octet-stream"
    assert files["scan.bin"].get_content() == bytes(range(256)) * 4
    assert approval.draft_text(row(database, draft.id)) == text_before
    assert sent["Auto-Submitted"] is None and row(database, draft.id).state == "queued"
    detail = approvals(database)[0].detail
    assert "alice-export.csv (1 KB, sha256 " in detail and "scan.bin" in detail


def test_cli_attach_refuses_a_missing_or_too_large_file_and_changes_nothing(
    database: Database, fake_clock: FakeClock, cli_config: tuple[Path, Config], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, config = cli_config
    draft, _ = make_draft(database, config)
    missing = tmp_path / "nope.zip"
    assert main(["--config", str(path), "drafts", "approve", str(draft.id), "--attach", str(missing)]) == 2
    assert "cannot attach" in capsys.readouterr().err and row(database, draft.id).state == "draft"

    monkeypatch.setattr(approval, "MAX_ATTACHMENT_BYTES", 1000)
    big = tmp_path / "big.zip"
    big.write_bytes(b"x" * 2000)
    assert main(["--config", str(path), "drafts", "approve", str(draft.id), "--attach", str(big)]) == 2
    err = capsys.readouterr().err
    assert "download link" in err and "nothing was changed" in err
    assert row(database, draft.id).state == "draft" and not approvals(database)


def test_files_attached_to_an_approve_reply_go_with_the_answer_and_are_not_kept_twice(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    import hashlib

    from mailbot.models import AttachmentRecord

    draft, owner_mail = make_draft(database, config)
    reply = owner_reply(database, owner_mail, "approve")
    export = b"name,email\nAlice,alice@example.org\n"
    with database.session() as session:
        session.add(AttachmentRecord(message_id=reply, filename="alice.csv", content_type="text/csv",
                                     size=len(export), sha256=hashlib.sha256(export).hexdigest(), content=export))
    report = workflow.process_new(database, config)
    assert "approved by email with alice.csv" in str(report)
    sent = headers(row(database, draft.id))
    [attached] = list(sent.iter_attachments())
    assert attached.get_filename() == "alice.csv" and attached.get_content().encode() == export
    confirmation = [r for r in outbox_rows(database) if r.kind == "owner_decision"][-1]
    assert "With the files you attached:" in headers(confirmation).get_body(("plain",)).get_content()
    with database.session() as session:
        kept = session.scalars(select(AttachmentRecord).where(AttachmentRecord.message_id == reply)).one()
        assert kept.content is None and kept.sha256 == hashlib.sha256(export).hexdigest()


def test_an_approve_reply_with_files_too_large_leaves_the_draft_waiting_and_says_why(
    database: Database, fake_clock: FakeClock, config: Config, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mailbot.models import AttachmentRecord

    monkeypatch.setattr(approval, "MAX_ATTACHMENT_BYTES", 10)
    draft, owner_mail = make_draft(database, config)
    reply = owner_reply(database, owner_mail, "approve")
    with database.session() as session:
        session.add(AttachmentRecord(message_id=reply, filename="big.zip", content_type="application/zip",
                                     size=100, sha256="0" * 64, content=b"x" * 100))
    workflow.process_new(database, config)
    assert row(database, draft.id).state == "draft"
    confirmation = [r for r in outbox_rows(database) if r.kind == "owner_decision"][-1]
    text = " ".join(headers(confirmation).get_body(("plain",)).get_content().split())
    assert "did not change anything" in text and "download link" in text
