"""split_reply: the newest text, apart from quoted history and signature, as clients write it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.quoting import Reply, split_reply


def test_plain_text_is_all_new() -> None:
    reply = split_reply("Hello,\n\nplease send me my data.\n\nThanks\nAnna\n")
    assert reply == Reply(new="Hello,\n\nplease send me my data.\n\nThanks\nAnna", quoted="", signature="")


def test_empty_text() -> None:
    assert split_reply("") == Reply(new="", quoted="", signature="")


def test_gmail_attribution_and_quote() -> None:
    text = (
        "APPROVE 4821\n\n"
        "On Tue, 26 Nov 2024 at 15:30, AK3D Studio <andrei@ak3dstudio.com> wrote:\n\n"
        "> Dear Jamie,\n>\n> Please confirm the code.\n>\n"
    )
    reply = split_reply(text)
    assert reply.new == "APPROVE 4821"
    assert reply.quoted.startswith("On Tue, 26 Nov 2024")
    assert "> Please confirm the code." in reply.quoted


def test_gmail_attribution_wrapped_over_two_lines() -> None:
    text = (
        "Yes, that is me.\n\n"
        "On Tue, 26 Nov 2024 at 15:30, AK3D Studio Data Protection Desk <\n"
        "andrei@ak3dstudio.com> wrote:\n\n"
        "> Could you confirm?\n"
    )
    reply = split_reply(text)
    assert reply.new == "Yes, that is me."
    assert "AK3D Studio Data Protection Desk" in reply.quoted


def test_apple_mail_attribution() -> None:
    text = (
        "Code is 7731.\n\nSent from my iPhone\n\n"
        "On 3 May 2026, at 10:12, Andrei <andrei@ak3dstudio.com> wrote:\n\n"
        "> Please reply with the code.\n"
    )
    reply = split_reply(text)
    assert reply.new == "Code is 7731."
    assert reply.signature == "Sent from my iPhone"
    assert "> Please reply with the code." in reply.quoted


def test_outlook_original_message_block() -> None:
    text = (
        "Approved.\n\n"
        "-----Original Message-----\n"
        "From: mailbot <andrei@ak3dstudio.com>\n"
        "Sent: 29 November 2024 12:00\n"
        "To: Andrei <andrei@ak3dstudio.com>\n"
        "Subject: Draft reply for case 12\n\n"
        "Please approve the draft below.\n"
    )
    reply = split_reply(text)
    assert reply.new == "Approved."
    assert reply.quoted.startswith("-----Original Message-----")
    assert "Please approve the draft below." in reply.quoted


def test_outlook_underscore_separator() -> None:
    text = (
        "OK to send.\n\n"
        "________________________________\n"
        "From: mailbot <andrei@ak3dstudio.com>\n"
        "Sent: Friday, November 29, 2024 12:00 PM\n"
        "To: Andrei <andrei@ak3dstudio.com>\n"
        "Subject: Draft reply for case 12\n\n"
        "Draft text.\n"
    )
    reply = split_reply(text)
    assert reply.new == "OK to send."
    assert "Draft text." in reply.quoted


def test_outlook_header_block_without_separator_and_bold_labels() -> None:
    text = (
        "Please go ahead.\n\n"
        "*From:* mailbot <andrei@ak3dstudio.com>\n"
        "*Sent:* 29 November 2024 12:00\n"
        "*To:* Andrei <andrei@ak3dstudio.com>\n"
        "*Subject:* Draft\n\n"
        "Draft text.\n"
    )
    reply = split_reply(text)
    assert reply.new == "Please go ahead."
    assert reply.quoted.startswith("*From:*")


def test_a_from_line_alone_is_not_a_header_block() -> None:
    text = "From: my old address, which is wrong.\nPlease use this one instead.\n"
    assert split_reply(text).new == text.strip()


def test_international_attributions() -> None:
    cases = [
        "Am Di., 26. Nov. 2024 um 15:30 Uhr schrieb AK3D Studio <andrei@ak3dstudio.com>:",
        "Le mar. 26 nov. 2024 à 15:30, AK3D Studio <andrei@ak3dstudio.com> a écrit :",
        "El mar, 26 nov 2024 a las 15:30, AK3D Studio (<andrei@ak3dstudio.com>) escribió:",
        "Il giorno mar 26 nov 2024 alle ore 15:30 AK3D Studio <andrei@ak3dstudio.com> ha scritto:",
        "Op di 26 nov 2024 om 15:30 schreef AK3D Studio <andrei@ak3dstudio.com>:",
    ]
    for attribution in cases:
        reply = split_reply(f"Ja, 5512.\n\n{attribution}\n\n> Bitte den Code senden.\n")
        assert reply.new == "Ja, 5512.", attribution
        assert reply.quoted.startswith(attribution), attribution


def test_attribution_without_quote_prefixes_cuts_the_rest() -> None:
    text = "Fine.\n\nOn Tue, 26 Nov 2024 at 15:30, Andrei <andrei@ak3dstudio.com> wrote:\nOld text here.\n"
    reply = split_reply(text)
    assert reply.new == "Fine."
    assert reply.quoted.endswith("Old text here.")


def test_own_words_ending_in_wrote_are_not_an_attribution() -> None:
    text = "On Monday I wrote:\nplease delete my data.\n"
    assert split_reply(text).new == "On Monday I wrote:\nplease delete my data."


def test_inline_reply_keeps_the_answers_as_new() -> None:
    text = "> Is this your address?\nYes.\n> And your order number?\nAK-11203\n"
    reply = split_reply(text)
    assert reply.new == "Yes.\nAK-11203"
    assert reply.quoted == "> Is this your address?\n> And your order number?"


def test_bottom_posted_reply() -> None:
    text = "Andrei <andrei@ak3dstudio.com> wrote:\n> Please confirm.\n\nConfirmed, 9921.\n"
    reply = split_reply(text)
    assert reply.new == "Confirmed, 9921."
    assert reply.quoted.startswith("Andrei <andrei@ak3dstudio.com> wrote:")


def test_signature_delimiter() -> None:
    reply = split_reply("Delete my data please.\n\n-- \nAnna Bell\nBell & Co\n")
    assert reply.new == "Delete my data please."
    assert reply.signature == "--\nAnna Bell\nBell & Co"


def test_mobile_signatures_in_several_languages() -> None:
    for line in ("Sent from my iPad", "Von meinem iPhone gesendet", "Envoyé de mon iPhone",
                 "Get Outlook for Android", "Enviado desde mi iPhone"):
        reply = split_reply(f"Yes please.\n\n{line}\n")
        assert reply.new == "Yes please.", line
        assert reply.signature == line, line


def test_crlf_line_endings() -> None:
    reply = split_reply("Approve\r\n\r\n> old\r\n")
    assert reply.new == "Approve"
    assert reply.quoted == "> old"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_splits_without_error(text: str) -> None:
    reply = split_reply(text)
    assert isinstance(reply.new, str) and isinstance(reply.quoted, str) and isinstance(reply.signature, str)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "> quoted", "On Tue, 26 Nov 2024, X <x@y.z> wrote:", "-- ", "hello", "", "From: a@b",
    "Sent: today", "To: c@d", "-----Original Message-----", "_" * 32, "Sent from my iPhone", ">",
]), max_size=30))
def test_mail_shaped_text_loses_no_line(lines: list[str]) -> None:
    reply = split_reply("\n".join(lines))
    for line in lines:
        if line.strip():
            assert line.strip() in "\n".join([reply.new, reply.quoted, reply.signature])
