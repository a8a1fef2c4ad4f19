"""The draft stage: a verified case gets its answers drafted, and its state follows the owner's decisions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot import approval, cases, responses, workflow
from mailbot.casework import State
from mailbot.clock import FakeClock
from mailbot.config import Config, parse_config
from mailbot.db import Database
from mailbot.models import Case, OutboxMessage
from tests.test_workflow import ALICE, NOT_REQUEST, OWNER, ack_of, challenge_of, headers, only_case, outbox_rows, record

PRIVACY = {
    "purposes": ["To make and deliver your orders."],
    "categories": ["Your name, email and delivery address."],
    "recipients": ["Royal Mail, to deliver parcels."],
    "retention": ["Six years after the order, for tax."],
    "source": ["You, when you order."],
    "automated_decisions": ["None."],
    "transfers": ["None outside the UK."],
}


def make_config(tmp_path: Path, *, privacy: bool = True, **policies: str) -> Config:
    """The shipped shape (bot, owner and contact are one address), with the privacy notice filled in."""
    return parse_config({
        "mailbox": {"source": "maildir", "path": str(tmp_path)},
        "bot": {"address": OWNER, "name": "AK3D Studio"},
        "owner": {"email": OWNER},
        "business": {"name": "AK3D Studio", "address": "1 Example Street, Manchester"},
        "privacy": PRIVACY if privacy else {},
        "responses": policies,
    }, tmp_path / "mailbot.toml")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def request(labels: list[str], **details: Any) -> dict[str, Any]:
    """A classifier result for a request with these rights."""
    return {"is_request": True, "labels": labels, "uncertain": False, "details": details}


def verified_case(database: Database, config: Config, labels: list[str] | None = None, **details: Any) -> Case:
    """A request and the reply that carries its code, both handled; returns the case."""
    record(database, classification=request(labels or ["access"], **details))
    workflow.process_new(database, config)
    code = challenge_of(database).code
    record(database, body=f"code {code}", in_reply_to=ack_of(database).message_id.strip("<>"),
           classification=NOT_REQUEST)
    report = workflow.process_new(database, config)
    assert report.failed == ()
    return only_case(database)


def kinds(database: Database, *, state: str | None = None) -> list[str]:
    return [r.kind for r in outbox_rows(database) if state is None or r.state == state]


def drafts_of(database: Database) -> list[OutboxMessage]:
    return [r for r in outbox_rows(database) if r.state == "draft"]


def decide(database: Database, config: Config, verb: str, number: int, reason: str = "") -> None:
    with database.session() as session:
        if verb == "approve":
            approval.approve(session, number, actor=OWNER, config=config)
        else:
            approval.reject(session, number, reason, actor=OWNER)


def test_identity_confirmed_drafts_the_access_answer_and_asks_the_owner(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    case = verified_case(database, config)
    assert case.state == State.AWAITING_APPROVAL and case.owner_attention is None
    [draft] = drafts_of(database)
    assert draft.kind == "response_access" and draft.to_address == ALICE and draft.approval_token
    text = approval.draft_text(draft)
    assert "Six years after the order, for tax." in text and "Royal Mail, to deliver parcels." in text
    owner_mail = [r for r in outbox_rows(database) if r.kind == "owner_draft"][-1]
    assert draft.approval_token in owner_mail.subject and owner_mail.to_address == OWNER
    # Threaded under the request, like every answer to the requester.
    assert headers(draft)["In-Reply-To"] == f"<{case.root_message_id}>"


def test_approving_the_answer_queues_it_and_the_case_is_responded(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config)
    [draft] = drafts_of(database)
    fake_clock.advance(timedelta(hours=3))
    decide(database, config, "approve", draft.id)
    case = only_case(database)
    assert case.state == State.RESPONDED
    with database.session() as session:
        sent = session.get_one(OutboxMessage, draft.id)
        assert sent.state == "queued" and sent.approved_by == OWNER
        assert "Auto-Submitted" not in headers(sent)
        trail = [(e.from_state, e.to_state) for e in session.get_one(Case, case.id).events if e.to_state]
    assert trail[-2:] == [("verified", "awaiting_approval"), ("awaiting_approval", "responded")]


def test_a_case_with_two_rights_waits_until_both_answers_are_decided(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config, ["erasure", "withdraw_consent"])
    erasure, consent = drafts_of(database)
    assert (erasure.kind, consent.kind) == ("response_erasure", "response_withdraw_consent")
    decide(database, config, "approve", erasure.id)
    assert only_case(database).state == State.AWAITING_APPROVAL
    decide(database, config, "reject", consent.id, "covered by the erasure answer")
    assert only_case(database).state == State.RESPONDED


def test_when_every_answer_is_rejected_the_owner_answers_and_nothing_is_redrafted_by_itself(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    case = verified_case(database, config)
    [draft] = drafts_of(database)
    decide(database, config, "reject", draft.id, "we hold nothing on her; I will phone")
    case = only_case(database)
    assert case.state == State.VERIFIED
    assert case.owner_attention and f"mailbot cases respond {case.id}" in case.owner_attention
    # A follow-up from the requester does not bring the rejected draft back.
    record(database, subject="Any news?", body="Any news?", classification=NOT_REQUEST,
           references=case.root_message_id or "")
    workflow.process_new(database, config)
    assert drafts_of(database) == []
    # The owner asks for new drafts.
    with database.session() as session:
        rows = workflow.draft_answers(session, session.get_one(Case, case.id), config,
                                      policy=cases.CasePolicy.from_config(config), actor=OWNER)
        assert [r.kind for r in rows] == ["response_access"] and rows[0].state == "draft"
    case = only_case(database)
    assert case.state == State.AWAITING_APPROVAL and case.owner_attention is None


def test_an_answer_with_the_send_policy_goes_at_once_and_the_case_is_responded(
    database: Database, fake_clock: FakeClock, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, response_erasure="send")
    verified_case(database, config, ["erasure"])
    assert drafts_of(database) == []
    [answer] = [r for r in outbox_rows(database) if r.kind == "response_erasure"]
    assert answer.state == "queued" and headers(answer)["Auto-Submitted"] == "auto-replied"
    assert only_case(database).state == State.RESPONDED


def test_an_answer_that_cannot_be_rendered_asks_the_owner_and_identity_still_counts(
    database: Database, fake_clock: FakeClock, tmp_path: Path,
) -> None:
    config = make_config(tmp_path, privacy=False)
    case = verified_case(database, config)
    assert case.state == State.VERIFIED and case.identity_method == "reply_code"
    assert case.owner_attention and "privacy.purposes" in case.owner_attention
    assert drafts_of(database) == []
    notice = outbox_rows(database)[-1]
    assert notice.kind == "owner_notice" and notice.to_address == OWNER
    body = " ".join(headers(notice).get_body(("plain",)).get_content().split())
    assert "privacy.purposes" in body and f"mailbot cases respond {case.reference}" in body


def test_the_rectification_draft_lists_the_corrections_the_requester_asked_for(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config, ["rectification"],
                  corrections=[{"wrong": "12 Old Road", "right": "5 New Street"}])
    [draft] = drafts_of(database)
    assert '- was "12 Old Road", now "5 New Street"' in approval.draft_text(draft)


def test_a_complaint_alone_is_acknowledged_at_once_without_an_identity_check(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    record(database, subject="Complaint", body="I am unhappy with how you shared my address.",
           classification=request(["complaint"]))
    workflow.process_new(database, config)
    case = only_case(database)
    assert case.state == State.VERIFIED and case.due_on is not None and not case.challenges
    assert kinds(database) == ["complaint_ack", "owner_new_case"]
    ack = outbox_rows(database)[0]
    assert ack.state == "queued" and "ico.org.uk" in headers(ack).get_body(("plain",)).get_content()
    with database.session() as session:
        assert not responses.wanted(session, session.get_one(Case, case.id))


def test_a_new_request_after_the_answer_reopens_the_case_and_drafts_again(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config)
    [draft] = drafts_of(database)
    decide(database, config, "approve", draft.id)
    case = only_case(database)
    assert case.state == State.RESPONDED
    fake_clock.advance(timedelta(days=10))
    record(database, subject="One more thing", body="Please also delete my account.",
           classification=request(["erasure"]), references=case.root_message_id or "")
    workflow.process_new(database, config)
    case = only_case(database)
    assert case.state == State.AWAITING_APPROVAL
    assert sorted(r.kind for r in drafts_of(database)) == ["response_access", "response_erasure"]


def test_refusing_cancels_the_waiting_answers_and_drafts_the_refusal(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config)
    [draft] = drafts_of(database)
    with database.session() as session:
        case = session.get_one(Case, only_case(database).id)
        cancelled = responses.cancel_waiting(session, case, "refused as manifestly excessive", actor=OWNER)
        refusal = cases.refuse(session, case, "You asked the same question last week.", actor=OWNER)
        assert refusal is not None
        workflow.queue_all(session, config, [refusal])
    assert [r.id for r in cancelled] == [draft.id]
    with database.session() as session:
        assert session.get_one(OutboxMessage, draft.id).state == "cancelled"
    [refusal_row] = [r for r in outbox_rows(database) if r.kind == "refusal"]
    assert refusal_row.state == "draft"  # the default policy: a person approves a refusal
    text = " ".join(approval.draft_text(refusal_row).split())
    assert "You asked the same question last week." in text and "ico.org.uk" in text
    assert only_case(database).state == State.REFUSED
    with database.session() as session:
        closing = cases.close(session, session.get_one(Case, only_case(database).id), actor=OWNER)
        assert closing is not None and closing.reason == "refused"
        workflow.queue_all(session, config, [closing])
    assert only_case(database).state == State.CLOSED
    assert [r.kind for r in outbox_rows(database)][-1] == "case_closed"


def test_a_case_cannot_be_closed_while_it_is_being_worked_on(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config)
    with database.session() as session, pytest.raises(cases.CaseError, match="awaiting_approval"):
        cases.close(session, session.get_one(Case, only_case(database).id), actor=OWNER)


def test_the_owner_gets_a_confirmation_of_an_emailed_approval(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config)
    [draft] = drafts_of(database)
    owner_mail = [r for r in outbox_rows(database) if r.kind == "owner_draft"][-1]
    reply_id = record(database, sender=OWNER, subject=f"Re: {owner_mail.subject}", body="approve\n",
                      classification=NOT_REQUEST)
    workflow.process_new(database, config)
    confirmation = outbox_rows(database)[-1]
    assert confirmation.kind == "owner_decision" and confirmation.to_address == OWNER
    assert confirmation.subject.startswith(f"Draft {draft.id} approved")
    mail = headers(confirmation)
    with database.session() as session:
        from mailbot.models import Message

        assert mail["In-Reply-To"] == f"<{session.get_one(Message, reply_id).message_id}>"
    assert "X-Mailbot-Loop" in mail  # our own mail is never taken for the owner's next command
    assert only_case(database).state == State.RESPONDED


def test_a_reply_that_does_nothing_is_confirmed_too_with_what_to_do(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    verified_case(database, config)
    [draft] = drafts_of(database)
    owner_mail = [r for r in outbox_rows(database) if r.kind == "owner_draft"][-1]
    record(database, sender=OWNER, subject=f"Re: {owner_mail.subject}", body="ok send it\n",
           classification=NOT_REQUEST)
    workflow.process_new(database, config)
    confirmation = outbox_rows(database)[-1]
    assert confirmation.kind == "owner_decision" and "did nothing" in confirmation.subject
    assert "start your reply with approve" in " ".join(headers(confirmation).get_body(("plain",)).get_content().split())
    with database.session() as session:
        assert session.get_one(OutboxMessage, draft.id).state == "draft"


def test_owner_mail_without_a_token_gets_no_confirmation(
    database: Database, fake_clock: FakeClock, config: Config,
) -> None:
    record(database, sender=OWNER, subject="lunch?", body="approve of the new logo?", classification=NOT_REQUEST)
    workflow.process_new(database, config)
    assert outbox_rows(database) == []
    with database.session() as session:
        assert session.scalars(select(Case)).all() == []


# -- the owner's case commands ---------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, database: Database) -> tuple[Path, Config]:
    """A config file pointing at the test database, with the privacy notice filled in."""
    path = tmp_path / "mailbot.toml"
    lists = "\n".join(f"{key} = {value!r}".replace("'", '"') for key, value in PRIVACY.items())
    path.write_text(
        f'[mailbox]\nsource = "maildir"\npath = "{tmp_path}"\n'
        f'[database]\nurl = "{database.engine.url.render_as_string(hide_password=False)}"\n'
        f'[bot]\naddress = "{OWNER}"\n[owner]\nemail = "{OWNER}"\n'
        f'[business]\nname = "AK3D Studio"\n[privacy]\n{lists}\n',
        encoding="utf-8",
    )
    return path, make_config(tmp_path)


def test_the_owner_verifies_by_hand_approves_and_closes_from_the_cli(
    database: Database, fake_clock: FakeClock, cli: tuple[Path, Config], capsys: pytest.CaptureFixture[str],
) -> None:
    from mailbot.cli import main

    path, config = cli
    record(database, classification=request(["access"]))
    workflow.process_new(database, config)
    reference = only_case(database).reference
    assert main(["--config", str(path), "cases", "verify", reference, "--note", "phoned the number on the order"]) == 0
    out = capsys.readouterr().out
    [draft] = drafts_of(database)
    assert f"response_access to {ALICE}: draft {draft.id} waits for approval" in out
    assert "identity_confirmed" in out and "awaiting_approval" in out
    assert main(["--config", str(path), "cases", "close", reference]) == 2
    assert "awaiting_approval" in capsys.readouterr().err
    assert main(["--config", str(path), "drafts", "approve", str(draft.id)]) == 0
    assert only_case(database).state == State.RESPONDED
    assert main(["--config", str(path), "cases", "close", reference]) == 0
    assert "case_closed to alice@example.org: queued" in capsys.readouterr().out
    assert only_case(database).state == State.CLOSED


def test_the_owner_extends_asks_and_withdraws_from_the_cli(
    database: Database, fake_clock: FakeClock, cli: tuple[Path, Config], capsys: pytest.CaptureFixture[str],
) -> None:
    from mailbot.cli import main

    path, config = cli
    case = verified_case(database, config)
    [answer] = drafts_of(database)
    ref = case.reference
    assert main(["--config", str(path), "cases", "extend", ref, "--reason", "ten years of orders to search"]) == 0
    out = capsys.readouterr().out
    assert "extended" in out and "extension to alice@example.org: draft" in out
    assert main(["--config", str(path), "cases", "extend", ref, "--reason", "again"]) == 2
    assert "already extended" in capsys.readouterr().err
    assert main(["--config", str(path), "cases", "withdraw", ref, "--note", "she phoned to say never mind"]) == 0
    assert only_case(database).state == State.WITHDRAWN
    with database.session() as session:
        assert session.get_one(OutboxMessage, answer.id).state == "cancelled"
    assert main(["--config", str(path), "cases", "close", ref, "--quiet"]) == 0
    assert only_case(database).state == State.CLOSED
    assert "case_closed" not in kinds(database)


def test_respond_says_when_there_is_nothing_to_draft(
    database: Database, fake_clock: FakeClock, cli: tuple[Path, Config], capsys: pytest.CaptureFixture[str],
) -> None:
    from mailbot.cli import main

    path, config = cli
    case = verified_case(database, config)
    assert main(["--config", str(path), "cases", "respond", case.reference]) == 2
    assert "wait for your approval (mailbot drafts list)" in capsys.readouterr().err
    record(database, sender="bob@example.org", body="I complain about your handling of my data.",
           classification=request(["complaint"]))
    workflow.process_new(database, config)
    assert main(["--config", str(path), "cases", "respond", "2"]) == 2
    assert "needs no new answers: its rights are complaint" in capsys.readouterr().err
