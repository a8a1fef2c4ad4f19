"""A varied, realistic mailbox for the benchmarks: ~5 KB messages of the kinds a contact address gets.

Deterministic (seeded): requests formal and informal, order questions,
replies quoting their history, multipart/alternative with HTML, HTML only,
quoted-printable and base64 bodies, RFC 2047 subjects in UTF-8 and Latin-1,
small attachments, and some machine mail (a DSN, an auto-reply, a list mail).
Written from templates rather than with email.message, so 10,000 take a
fraction of a second and the benchmark measures reading mail, not writing it.
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Iterator
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

TARGET = 5400

PARAGRAPHS = [
    "Under Article 15 of the UK GDPR I would like a copy of all the personal data you hold about me, "
    "the purposes you process it for, who you have shared it with and how long you will keep it.",
    "Please delete my account and everything you hold about me. I no longer want to use your service "
    "and I have not ordered anything for over two years.",
    "hi, can you tell me what info you've got on me? got an email from you and I don't remember signing "
    "up for anything. thanks",
    "I ordered the articulated dragon model last week (order 48213) and the download link in the "
    "confirmation email does not work. Could you send me a new one?",
    "Could you please correct the delivery address on my account? It still shows my old flat in "
    "Salford; the new address is in the signature below.",
    "I object to you using my data for marketing. Please stop sending me the newsletter and confirm "
    "that you have removed me from every mailing list.",
    "We are a small studio in Leeds and would like to commission a set of twelve miniature buildings "
    "for a tabletop game. What would the lead time and price be?",
    "Thank you for the quick reply. I have attached a scan of my driving licence as you asked; "
    "please let me know if you need anything else to confirm who I am.",
    "Is it possible to get the STL files in a higher resolution? The print came out with visible "
    "facets on the curved surfaces at 0.1 mm layer height.",
    "I am writing on behalf of my mother, who has asked me to help her with this. She would like to "
    "know what information you keep about her orders and payments.",
]
SIGNATURES = [
    "Kind regards,\r\nMargaret Thompson\r\n14 Oak Lane, Stockport SK4 2AB",
    "Cheers\r\nDev",
    "Best wishes,\r\nÓlafur Jónsson\r\nSent from my iPhone",
    "--\r\nPriya Raman | Studio Lead | Fenwick & Raman Ltd\r\nTel 0161 496 0000",
    "Thanks,\r\nSeán O'Brien",
]
SUBJECTS = [
    "Subject access request", "Data request", "Please delete my account", "question about my order",
    "Re: Your order 48213", "Download link not working", "Commission enquiry", "Change of address",
    "Stop marketing emails", "Fwd: privacy",
]
NON_ASCII_SUBJECTS = [
    "Demande d'accès à mes données", "Zugriff auf meine Daten, bitte", "Pedido de eliminación de datos",
    "Réclamation commande n°48213", "Übersicht gespeicherter Daten",
]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "btinternet.com", "icloud.com", "example.org"]
NAMES = ["Margaret Thompson", "Dev Patel", "Ólafur Jónsson", "Priya Raman", "Seán O'Brien", "Li Wei",
         "Chloé Martin", "Tom Hughes", "Aisha Bello", "Jan Kowalski"]


def _encoded_word(text: str, charset: str) -> str:
    """text as an RFC 2047 encoded word (B encoding)."""
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def _pad(rng: random.Random, size: int) -> str:
    """Paragraphs of prose, about size characters."""
    out: list[str] = []
    total = 0
    while total < size:
        p = rng.choice(PARAGRAPHS)
        out.append(p)
        total += len(p) + 4
    return "\r\n\r\n".join(out)


def _headers(rng: random.Random, n: int, when: datetime, subject: str, content_type: str,
             extra: str = "") -> str:
    """A realistic header block (Received chain, DKIM-ish noise, threading headers)."""
    name = rng.choice(NAMES)
    local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
    sender = f"{local}.{n % 2000}@{rng.choice(DOMAINS)}"
    display = name if name.isascii() else _encoded_word(name, "utf-8")
    date = format_datetime(when)
    reply = f"In-Reply-To: <r{n - 1}@ak3dstudio.com>\r\nReferences: <r{n - 1}@ak3dstudio.com>\r\n" if n % 4 == 0 else ""
    return (
        f"Return-Path: <{sender}>\r\n"
        "Delivered-To: andrei@ak3dstudio.com\r\n"
        f"Received: from mx{n % 7}.{sender.split('@')[1]} (mx{n % 7}.example.net [192.0.2.{n % 250}])\r\n"
        f"\tby mail.ak3dstudio.com (Postfix) with ESMTPS id 4X{n:07d}\r\n"
        f"\tfor <andrei@ak3dstudio.com>; {date}\r\n"
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender.split('@')[1]}; s=s1;\r\n"
        f"\th=from:to:subject:date:message-id; bh={base64.b64encode(rng.randbytes(32)).decode()};\r\n"
        f"\tb={base64.b64encode(rng.randbytes(96)).decode()}\r\n"
        f"From: {display} <{sender}>\r\n"
        "To: AK3D Studio <andrei@ak3dstudio.com>\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <bench{n}.{rng.getrandbits(40):x}@{sender.split('@')[1]}>\r\n"
        f"{reply}{extra}"
        "MIME-Version: 1.0\r\n"
        f"{content_type}"
    )


def _plain(rng: random.Random, n: int, when: datetime) -> bytes:
    subject = rng.choice(SUBJECTS)
    text = _pad(rng, TARGET - 1800) + "\r\n\r\n" + rng.choice(SIGNATURES)
    if n % 3 == 0:
        # A reply quoting its history, Gmail style.
        quoted = "\r\n".join("> " + line for line in _pad(rng, 900).split("\r\n"))
        text += f"\r\n\r\nOn {format_datetime(when - timedelta(days=2))}, AK3D Studio <andrei@ak3dstudio.com> wrote:\r\n{quoted}"
    head = _headers(rng, n, when, subject, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
    return (head + "\r\n" + text + "\r\n").encode("utf-8")


def _alternative(rng: random.Random, n: int, when: datetime) -> bytes:
    subject = _encoded_word(rng.choice(NON_ASCII_SUBJECTS), rng.choice(["utf-8", "iso-8859-1"]))
    text = _pad(rng, 1500) + "\r\n\r\n" + rng.choice(SIGNATURES)
    qp = quopri.encodestring(text.encode("utf-8")).decode().replace("\n", "\r\n").replace("\r\r\n", "\r\n")
    html = "".join(f"<p>{p}</p>\r\n" for p in text.split("\r\n\r\n"))
    html_b64 = base64.encodebytes(f"<html><body><div dir=\"ltr\">{html}</div></body></html>".encode()).decode()
    boundary = f"000000000000{n:012x}"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        f"{qp}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{html_b64.replace(chr(10), chr(13) + chr(10))}\r\n--{boundary}--\r\n"
    )
    head = _headers(rng, n, when, subject, f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n")
    return (head + "\r\n" + body).encode("ascii")


def _html_only(rng: random.Random, n: int, when: datetime) -> bytes:
    text = _pad(rng, 2800)
    html = "".join(f"<p style=\"margin:0 0 1em\">{p}</p>" for p in text.split("\r\n\r\n"))
    body = f"<html><head><style>p{{font-family:Arial}}</style></head><body>{html}<br>{rng.choice(SIGNATURES)}</body></html>"
    head = _headers(rng, n, when, rng.choice(SUBJECTS),
                    "Content-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n",
                    extra="X-Mailer: Microsoft Outlook 16.0\r\n")
    return (head + "\r\n" + body + "\r\n").encode("cp1252", "replace")


def _attachment(rng: random.Random, n: int, when: datetime) -> bytes:
    text = _pad(rng, 900) + "\r\n\r\n" + rng.choice(SIGNATURES)
    blob = base64.encodebytes(b"%PDF-1.4\n" + rng.randbytes(1500)).decode().replace("\n", "\r\n")
    boundary = f"Apple-Mail-{n:08X}"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        f"{text.encode('ascii', 'replace').decode()}\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf; name=\"licence-scan.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"licence-scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{blob}\r\n--{boundary}--\r\n"
    )
    head = _headers(rng, n, when, "Proof of identity", f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n")
    return (head + "\r\n" + body).encode("ascii")


def _machine(rng: random.Random, n: int, when: datetime) -> bytes:
    kind = n % 3
    if kind == 0:
        boundary = f"dsn{n}"
        original = _plain(rng, n + 1, when).decode("utf-8", "replace")[:1500]
        body = (
            f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mail.ak3dstudio.com.\r\n\r\n"
            "I'm sorry to have to inform you that your message could not be delivered.\r\n"
            f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.ak3dstudio.com\r\n\r\n"
            "Final-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{original.split(chr(13) + chr(10) * 2)[0]}\r\n--{boundary}--\r\n"
        )
        head = (
            "Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.ak3dstudio.com (Mail Delivery System)\r\n"
            "To: andrei@ak3dstudio.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Date: {format_datetime(when)}\r\nMessage-ID: <dsn{n}@mail.ak3dstudio.com>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n"
        )
        return (head + "\r\n" + body).encode("utf-8")
    if kind == 1:
        head = _headers(rng, n, when, "Automatic reply: Data request",
                        "Content-Type: text/plain; charset=utf-8\r\n",
                        extra="Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n")
        return (head + "\r\nI am out of the office until Monday with limited access to email.\r\n\r\n"
                + _pad(rng, 3500) + "\r\n").encode("utf-8")
    head = _headers(rng, n, when, "[3D Makers UK] Weekly digest", "Content-Type: text/plain; charset=utf-8\r\n",
                    extra="List-Id: 3D Makers UK <makers.lists.example.org>\r\nList-Unsubscribe: <mailto:leave@lists.example.org>\r\nPrecedence: list\r\n")
    return (head + "\r\n" + _pad(rng, 4000) + "\r\n").encode("utf-8")


KINDS = [(_plain, 45), (_alternative, 25), (_html_only, 10), (_attachment, 10), (_machine, 10)]


def generate(count: int, seed: int = 2026) -> Iterator[bytes]:
    """count varied messages, about 5 KB each, the same for the same seed."""
    rng = random.Random(seed)
    makers = [m for m, weight in KINDS for _ in range(weight)]
    start = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
    for n in range(count):
        yield rng.choice(makers)(rng, n, start + timedelta(minutes=7 * n))


if __name__ == "__main__":
    sizes = [len(m) for m in generate(1000)]
    print(f"1000 messages: mean {sum(sizes) / len(sizes):.0f} bytes, min {min(sizes)}, max {max(sizes)}")
