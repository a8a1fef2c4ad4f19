"""parse: real-shaped mail, odd input, and any bytes at all."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.errors import ParseError
from mailbot.parser import decode_header_value, html_to_text, parse

DATA = Path(__file__).parent / "data" / "mail"
SAMPLES = Path(__file__).parent.parent / "mailbot" / "samples" / "maildir" / "new"


def eml(name: str) -> bytes:
    return (DATA / name).read_bytes()


SIMPLE = (
    b"Return-Path: <Anna.Bell@Example.org>\r\n"
    b"Received: from mx.example.org by mail.ak3dstudio.com; Mon, 25 Nov 2024 15:00:01 +0000\r\n"
    b"From: Anna Bell <Anna.Bell@Example.org>\r\n"
    b"To: AK3D Studio <andrei@ak3dstudio.com>, other@example.org\r\n"
    b"Cc: cc@example.org\r\n"
    b"Reply-To: <anna.replies@example.org>\r\n"
    b"Subject: My data\r\n"
    b"Date: Mon, 25 Nov 2024 16:00:00 +0100\r\n"
    b"Message-ID: <abc.123@example.org>\r\n"
    b"In-Reply-To: <prev@ak3dstudio.com> (Andrei's message)\r\n"
    b"References: <first@example.org>\r\n <prev@ak3dstudio.com>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Please send me a copy of my data.\r\n\r\n> old quoted line\r\n"
)


def test_simple_message_fields() -> None:
    msg = parse(SIMPLE)
    assert msg.message_id == "abc.123@example.org"
    assert msg.in_reply_to == "prev@ak3dstudio.com"
    assert msg.references == ("first@example.org", "prev@ak3dstudio.com")
    assert msg.from_address == "anna.bell@example.org"
    assert msg.from_name == "Anna Bell"
    assert msg.reply_to == "anna.replies@example.org"
    assert msg.to == ("andrei@ak3dstudio.com", "other@example.org")
    assert msg.cc == ("cc@example.org",)
    assert msg.subject == "My data"
    assert msg.date == datetime(2024, 11, 25, 15, 0, tzinfo=timezone.utc)
    assert msg.return_path == "anna.bell@example.org"
    assert msg.content_type == "text/plain"
    assert msg.body_text == "Please send me a copy of my data.\n\n> old quoted line"
    assert msg.new_text == "Please send me a copy of my data."
    assert msg.attachments == ()
    assert msg.defects == ()
    assert msg.size == len(SIMPLE)
    assert msg.truncated is False
    assert msg.header("SUBJECT") == "My data"
    assert msg.header_all("received")[0].startswith("from mx.example.org")
    assert ("references", "<first@example.org> <prev@ak3dstudio.com>") in msg.headers


def test_missing_optional_headers() -> None:
    msg = parse(b"From: a@b.c\n\nhi\n")
    assert msg.message_id is None and msg.in_reply_to is None and msg.references == ()
    assert msg.date is None and msg.return_path is None and msg.reply_to is None
    assert msg.subject == "" and msg.to == () and msg.from_name == ""
    assert msg.body_text == "hi"


def test_null_return_path_is_empty_string() -> None:
    assert parse(b"Return-Path: <>\nFrom: x@y.z\n\nbody\n").return_path == ""


def test_unparseable_date_is_none_with_a_defect() -> None:
    msg = parse(b"From: a@b.c\nDate: the day after tomorrow\n\nhi\n")
    assert msg.date is None
    assert any("Date" in d for d in msg.defects)


def test_date_without_zone_is_taken_as_utc() -> None:
    msg = parse(b"From: a@b.c\nDate: Mon, 25 Nov 2024 16:00:00 -0000\n\nhi\n")
    assert msg.date == datetime(2024, 11, 25, 16, 0, tzinfo=timezone.utc)


def test_content_hash_ignores_trace_headers_and_line_endings() -> None:
    lf = SIMPLE.replace(b"\r\n", b"\n")
    other_route = (
        b"Delivered-To: andrei@ak3dstudio.com\n"
        b"X-Original-To: andrei@ak3dstudio.com\n"
        b"Received: from elsewhere by backup-mx; Mon, 25 Nov 2024 15:00:09 +0000\n"
        b"Authentication-Results: mx; dkim=pass\n" + lf.replace(b"Return-Path: <Anna.Bell@Example.org>\n", b"")
    )
    assert parse(SIMPLE).content_hash == parse(other_route).content_hash
    changed = SIMPLE.replace(b"copy of my data", b"copy of my files")
    assert parse(changed).content_hash != parse(SIMPLE).content_hash
    assert len(parse(SIMPLE).content_hash) == 64


def test_rfc2047_headers_decode_and_broken_words_survive() -> None:
    msg = parse(eml("rfc2047_headers.eml"))
    assert msg.from_address == "zoe.andre@example.fr"
    assert msg.from_name == "Zoë André"
    assert msg.to == ("andrei@ak3dstudio.com", "andrei.k@ak3dstudio.com")
    assert msg.cc == ("joerg@example.de",)
    assert msg.subject.startswith("Demande d'accès à mes données personnelles")
    assert msg.subject.endswith("=?utf-8?b?!!notbase64?=")  # kept as written, not raised
    assert any("undecodable encoded word" in d for d in msg.defects)
    assert msg.header("to") == "Stúdio <andrei@ak3dstudio.com>, Andrei Karagiçev <andrei.k@ak3dstudio.com>"


def test_decode_header_value_joins_split_multibyte_words() -> None:
    # "é" (C3 A9) split across two encoded words, as some senders do.
    assert decode_header_value("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?=") == "café"
    assert decode_header_value("a =?utf-8?q?b?= c") == "a b c"
    assert decode_header_value("=?x-unknown?q?caf=E9?=") == "café"
    assert decode_header_value("=?utf-8?q?") == "=?utf-8?q?"


def test_unknown_charset_falls_back() -> None:
    msg = parse(eml("unknown_charset.eml"))
    assert "données personnelles" in msg.body_text
    assert "Merci – Chloé" in msg.body_text  # cp1252's en dash, not a C1 control
    assert msg.subject == "Accès à mes données"
    assert msg.from_name == "Chloé Martin"
    assert any("unknown charset" in d for d in msg.defects)


def test_latin1_label_is_read_as_cp1252() -> None:
    raw = b"From: a@b.c\nContent-Type: text/plain; charset=iso-8859-1\n\nIt\x92s mine\n"
    assert parse(raw).body_text == "It\u2019s mine"


def test_broken_mime_without_boundary_keeps_the_text() -> None:
    msg = parse(eml("broken_mime_no_boundary.eml"))
    assert "Please delete my account" in msg.body_text
    assert any("NoBoundaryInMultipart" in d for d in msg.defects)


def test_attachments_are_recorded_by_facts() -> None:
    raw = eml("with_attachment.eml")
    msg = parse(raw)
    assert msg.body_text == "As asked, here is a copy of a utility bill to confirm my identity.\n\nEleanor"
    pdf, jpeg = msg.attachments
    assert (pdf.filename, pdf.content_type) == ("utility-bill.pdf", "application/pdf")
    assert pdf.content is None
    assert pdf.size == 77
    assert jpeg.filename == "passeport été.jpg"  # RFC 2231 encoded name
    kept = parse(raw, keep_attachments=True).attachments[0]
    assert kept.content is not None and kept.content.startswith(b"%PDF-1.4")
    assert kept.sha256 == hashlib.sha256(kept.content).hexdigest() == pdf.sha256


def test_html_only_mail_becomes_readable_text() -> None:
    raw = (
        b"From: a@b.c\nContent-Type: text/html; charset=utf-8\n\n"
        b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
        b"<p>Hello&nbsp;Andrei &amp; team,</p><div>line one<br>line two</div>"
        b"<ul><li>first</li><li>second</li></ul><script>alert(1)</script>"
        b"<blockquote>old text</blockquote></body></html>"
    )
    msg = parse(raw)
    assert msg.body_text == (
        "Hello Andrei & team,\n\nline one\nline two\n\n- first\n- second\n\n> old text"
    )
    assert msg.new_text == "Hello Andrei & team,\n\nline one\nline two\n\n- first\n- second"


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<p>unclosed <b>bold <div>x</p></p></div><") .startswith("unclosed bold")
    assert html_to_text("") == ""


def test_plain_text_is_preferred_over_html() -> None:
    msg = parse((SAMPLES / "1732575600.M7P1.mailbot-samples").read_bytes())
    assert msg.content_type == "multipart/alternative"
    assert msg.new_text.startswith("thanks. yes it's the same address")
    assert "<div" not in msg.body_text
    assert msg.in_reply_to == "20241126153012.AB12CD@ak3dstudio.com"


def test_dsn_parts_are_recorded_not_read_as_body() -> None:
    msg = parse(eml("postfix_dsn.eml"))
    assert msg.content_type == "multipart/report"
    assert msg.return_path == ""
    assert msg.from_address == "mailer-daemon@mail.ak3dstudio.com"
    assert "could not\nbe delivered" in msg.body_text
    assert [a.content_type for a in msg.attachments] == ["message/delivery-status", "message/rfc822"]
    assert "We have received your request" not in msg.body_text


def test_truncated_message_reads_headers_only() -> None:
    raw = eml("huge_header_only.eml")
    msg = parse(raw, truncated=True)
    assert msg.truncated is True
    assert msg.body_text == "" and msg.new_text == "" and msg.attachments == ()
    assert msg.subject == "Scans of all my documents (please erase afterwards)"
    assert len(msg.header_all("received")) == 400
    assert msg.content_type == "multipart/mixed"


def test_eight_bit_headers_are_read_as_utf8() -> None:
    msg = parse("From: José <jose@example.es>\nSubject: Mis datos, por favor ✓\n\nHola\n".encode())
    assert msg.from_name == "José" and msg.subject == "Mis datos, por favor ✓"


def test_leading_blank_line_and_mbox_from_line() -> None:
    assert parse(b"\r\nFrom: a@b.c\r\n\r\nhi").from_address == "a@b.c"
    assert parse(b"From a@b.c Mon Nov 25 10:00:00 2024\nFrom: a@b.c\n\nhi").from_address == "a@b.c"


def test_all_samples_and_test_mails_parse_cleanly() -> None:
    files = sorted(SAMPLES.iterdir()) + sorted(DATA.glob("*.eml"))
    expected_defects = {"broken_mime_no_boundary.eml", "unknown_charset.eml", "rfc2047_headers.eml"}
    for path in files:
        msg = parse(path.read_bytes(), truncated=path.name.startswith("huge"))
        assert msg.from_address, path.name
        assert msg.message_id, path.name
        assert msg.date is not None, path.name
        if path.name not in expected_defects:
            assert msg.defects == (), (path.name, msg.defects)


@pytest.mark.parametrize(
    "raw",
    [b"", b"   \r\n", b"\x00\x01\x02\xff\xfe binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"],
)
def test_not_a_message_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


def test_deep_nesting_does_not_escape_as_another_error() -> None:
    depth = 3000
    parts = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
    try:
        msg = parse(b"From: a@b.c\n" + parts + b"Content-Type: text/plain\n\nhi\n")
    except ParseError:
        return
    assert msg.from_address == "a@b.c"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_raise_parse_error(raw: bytes) -> None:
    try:
        msg = parse(raw)
    except ParseError:
        return
    assert msg.headers


_HEADER_NAMES = st.sampled_from([
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Return-Path",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "Reply-To",
])
_HEADER_VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from([
        "=?utf-8?q?caf=C3=A9?=", "=?bogus?b?!!?=", "<>", "multipart/mixed", "multipart/mixed; boundary=x",
        "text/plain; charset=x-nope", "base64", "quoted-printable", "attachment; filename*=utf-8''%FF",
        "Mon, 99 Foo 2024 99:99:99 +9999", '"Ann" <a@b>, , <>, @@', "message/rfc822", "text/html",
    ]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), min_size=1, max_size=12),
    st.one_of(st.binary(max_size=500), st.sampled_from([b"--x\nContent-Type: text/html\n\n<p>a\n--x--\n", b"=ZZ=\n"])),
    st.booleans(),
)
def test_mail_shaped_garbage_never_raises_anything_else(
    headers: list[tuple[str, str]], body: bytes, truncated: bool
) -> None:
    raw = "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8", "surrogateescape") + b"\n" + body
    try:
        msg = parse(raw, truncated=truncated, keep_attachments=True)
    except ParseError:
        return
    assert isinstance(msg.body_text, str)
    assert msg.date is None or msg.date.tzinfo is not None


@pytest.mark.parametrize(
    "value",
    ['Anna Bell <Anna@Example.org>', '"Bell, Anna" <a@b.c>', "a@b.c", " <a@b.c> ", "A. Customer <x@y.z>",
     "Anna  Bell   <a@b.c>", '"Anna \\"x\\"" <a@b>', "MAILER-DAEMON@mx (Mail Delivery System)", "a@b, c@d",
     "undisclosed-recipients:;", "Ann <a@b.c", "O'Brien <ob@x.ie>", '"" <a@b>'],
)
def test_address_fast_path_agrees_with_getaddresses(value: str) -> None:
    from email.utils import getaddresses

    from mailbot.parser import _parse_address_list

    expected = tuple((addr.lower(), name) for name, addr in getaddresses([value]) if addr)
    assert _parse_address_list(value)[0] == expected
