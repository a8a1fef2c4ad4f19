"""screen: machine mail is held with a reason; people's mail passes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailbot.message import ParsedMessage, ScreenContext
from mailbot.parser import parse
from mailbot.screening import screen

DATA = Path(__file__).parent / "data" / "mail"
SAMPLES = Path(__file__).parent.parent / "mailbot" / "samples" / "maildir" / "new"

CTX = ScreenContext(
    own_addresses=frozenset({"Andrei@AK3DStudio.com"}),
    loop_header="X-Mailbot-Loop",
    sender_count_last_hour=0,
    sender_hourly_limit=10,
)


def msg_from(text: str) -> ParsedMessage:
    return parse(text.encode())


PERSON = (
    "Return-Path: <anna@example.org>\n"
    "From: Anna Bell <anna@example.org>\n"
    "To: andrei@ak3dstudio.com\n"
    "Subject: My data\n"
    "Date: Mon, 25 Nov 2024 16:00:00 +0000\n"
    "Message-ID: <1@example.org>\n"
    "{extra}"
    "\n"
    "Please send me my data.\n"
)


def person(extra: str = "", **changes: str) -> ParsedMessage:
    msg = msg_from(PERSON.format(extra=extra))
    return replace(msg, **changes) if changes else msg


@pytest.mark.parametrize(
    ("name", "rule", "evidence"),
    [
        ("postfix_dsn.eml", "bounce", "multipart/report"),
        ("exchange_ooo.eml", "auto-reply", "Auto-Submitted: auto-generated"),
        ("gmail_vacation.eml", "auto-reply", "Auto-Submitted: auto-replied"),
        ("mailman3_list.eml", "list", "Precedence: list"),
    ],
)
def test_real_machine_mail_is_held(name: str, rule: str, evidence: str) -> None:
    verdict = screen(parse((DATA / name).read_bytes()), CTX)
    assert not verdict.passed
    assert verdict.rule == rule
    assert verdict.reason and evidence in verdict.reason


def test_sample_mailbox_verdicts() -> None:
    rules = {}
    for path in sorted(SAMPLES.iterdir()):
        rules[path.name.split(".")[1]] = screen(parse(path.read_bytes()), CTX).rule
    assert rules == {
        "M1P1": None, "M2P1": None, "M3P1": None, "M4P1": None, "M5P1": None, "M6P1": None,
        "M7P1": None, "M8P1": None, "M9P1": "auto-reply", "M10P1": "bounce", "M11P1": "list",
        "M12P1": None,
    }


def test_ordinary_person_passes() -> None:
    assert screen(person(), CTX).passed


def test_outlook_suppress_header_alone_passes() -> None:
    # Outlook puts this on ordinary mail; it is not evidence of an auto-reply by itself.
    assert screen(person("X-Auto-Response-Suppress: All\n"), CTX).passed


def test_outlook_suppress_header_with_away_subject_is_held() -> None:
    msg = person("X-Auto-Response-Suppress: OOF\n", subject="I am out of the office")
    verdict = screen(msg, CTX)
    assert verdict.rule == "auto-reply"
    assert "X-Auto-Response-Suppress" in (verdict.reason or "")


def test_exchange_inbox_rule_with_suppress_header_is_held() -> None:
    verdict = screen(person("X-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: x@y.z\n"), CTX)
    assert verdict.rule == "auto-reply"


@pytest.mark.parametrize(
    "extra",
    ["Auto-Submitted: auto-replied\n", "Auto-Submitted: auto-generated; owner-email=x@y.z\n",
     "X-Autoreply: yes\n", "X-Autorespond: Vacation\n", "Precedence: auto_reply\n"],
)
def test_auto_reply_headers(extra: str) -> None:
    verdict = screen(person(extra), CTX)
    assert verdict.rule == "auto-reply"
    assert extra.split(":")[0].lower() in (verdict.reason or "").lower()


def test_auto_submitted_no_passes() -> None:
    assert screen(person("Auto-Submitted: no\n"), CTX).passed


@pytest.mark.parametrize(
    "subject",
    ["Automatic reply: My data", "Out of Office: My data", "Abwesenheitsnotiz: Ihre Anfrage",
     "Réponse automatique : Votre demande", "AutoReply: hi", "Automatische Antwort: Ihre Anfrage"],
)
def test_vacation_subjects(subject: str) -> None:
    verdict = screen(person(subject=subject), CTX)
    assert verdict.rule == "auto-reply"
    assert subject in (verdict.reason or "")


@pytest.mark.parametrize(
    "subject", ["Re: Automatic reply: My data", "Out of office hours support?", "Your automatic reply is annoying"]
)
def test_people_writing_about_auto_replies_pass(subject: str) -> None:
    assert screen(person(subject=subject), CTX).passed


@pytest.mark.parametrize(
    ("extra", "evidence"),
    [("Precedence: bulk\n", "Precedence: bulk"), ("Precedence: junk\n", "Precedence: junk"),
     ("List-Id: <news.example.org>\n", "List-Id"),
     ("List-Unsubscribe: <mailto:leave@example.org>\n", "List-Unsubscribe")],
)
def test_bulk_and_list_mail(extra: str, evidence: str) -> None:
    verdict = screen(person(extra), CTX)
    assert verdict.rule == "list"
    assert evidence in (verdict.reason or "")


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.org", "postmaster@example.org"])
def test_mail_server_senders_are_bounces(sender: str) -> None:
    verdict = screen(person(from_address=sender.lower()), CTX)
    assert verdict.rule == "bounce"
    assert sender.lower() in (verdict.reason or "")


def test_null_return_path_is_a_bounce() -> None:
    verdict = screen(person(return_path=""), CTX)
    assert verdict.rule == "bounce"
    assert "<>" in (verdict.reason or "")


def test_missing_return_path_passes() -> None:
    assert screen(person(return_path=None), CTX).passed


def test_own_address_is_held_case_insensitively() -> None:
    verdict = screen(person(from_address="andrei@ak3dstudio.com"), CTX)
    assert verdict.rule == "own-mail"


def test_the_owner_sharing_the_bot_address_passes_without_our_loop_header() -> None:
    ctx = replace(CTX, owner_addresses=frozenset({"Andrei@AK3DStudio.com"}))
    assert screen(person(from_address="andrei@ak3dstudio.com"), ctx).passed
    # Our own outgoing copies carry the loop header and stay held.
    verdict = screen(person("X-Mailbot-Loop: andrei@ak3dstudio.com\n", from_address="andrei@ak3dstudio.com"), ctx)
    assert verdict.rule == "loop"
    # A bot address that is not the owner's is still our own mail.
    other = replace(CTX, own_addresses=frozenset({"bot@ak3dstudio.com"}),
                    owner_addresses=frozenset({"andrei@ak3dstudio.com"}))
    assert screen(person(from_address="bot@ak3dstudio.com"), other).rule == "own-mail"


def test_loop_header_is_held() -> None:
    verdict = screen(person("x-mailbot-loop: ak3dstudio.com\n"), CTX)
    assert verdict.rule == "loop"
    assert "X-Mailbot-Loop" in (verdict.reason or "")


def test_rate_limit() -> None:
    assert screen(person(), replace(CTX, sender_count_last_hour=9)).passed
    verdict = screen(person(), replace(CTX, sender_count_last_hour=10))
    assert verdict.rule == "rate-limit"
    assert "11 messages from anna@example.org" in (verdict.reason or "")


def test_rate_limit_below_one_is_off() -> None:
    assert screen(person(), replace(CTX, sender_count_last_hour=500, sender_hourly_limit=0)).passed


def test_machine_rules_come_before_the_rate_limit() -> None:
    verdict = screen(person("Precedence: list\n"), replace(CTX, sender_count_last_hour=99))
    assert verdict.rule == "list"


def test_truncated_and_odd_messages_screen_without_error() -> None:
    for path in sorted(DATA.glob("*.eml")):
        verdict = screen(parse(path.read_bytes(), truncated=True), CTX)
        assert verdict.passed or (verdict.rule and verdict.reason)
