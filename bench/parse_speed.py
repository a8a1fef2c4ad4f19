"""Parse speed: mailbot's parse() against a bare stdlib parse of the same mails.

Run: /work/venv/bin/python bench/parse_speed.py [COUNT]
Reports CPU time per message (stable on a busy machine) and the ratio; asserts nothing.
"""

from __future__ import annotations

import sys
import time
from email import policy
from email.parser import BytesParser

from mailbot.parser import parse

BODY = (
    "Dear AK3D Studio,\n\n"
    "Under Article 15 of the UK GDPR I would like a copy of the personal data you hold "
    "about me, the purposes you use it for and who you have shared it with.\n\n"
)


def typical_mail(i: int) -> bytes:
    """A ~5 KB plain-text message shaped like what a real mailbox receives."""
    body = (BODY * 30)[:3900]
    text = (
        f"Return-Path: <customer{i}@example.org>\n"
        "Delivered-To: andrei@ak3dstudio.com\n"
        "Received: from mx.example.org (mx.example.org [192.0.2.10])\n"
        f"\tby mail.ak3dstudio.com (Postfix) with ESMTPS id 4Xk2{i:05d}\n"
        "\tfor <andrei@ak3dstudio.com>; Mon, 25 Nov 2024 15:00:00 +0000 (UTC)\n"
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1;\n"
        "\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n"
        "\tb=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\n"
        f"From: Customer {i} <customer{i}@example.org>\n"
        "To: AK3D Studio <andrei@ak3dstudio.com>\n"
        f"Subject: Request for my data ({i})\n"
        "Date: Mon, 25 Nov 2024 15:00:00 +0000\n"
        f"Message-ID: <{i}.request@example.org>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n" + body + "\nKind regards,\nA. Customer\n"
    )
    return text.replace("\n", "\r\n").encode()


def main() -> None:
    """Time both parsers over COUNT messages, best of five alternating rounds; print the ratio."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    mails = [typical_mail(i) for i in range(count)]
    bare = BytesParser(policy=policy.default)

    def once(fn) -> float:  # type: ignore[no-untyped-def]
        start = time.process_time()
        for raw in mails:
            fn(raw)
        return time.process_time() - start

    # Rounds alternate so that load from other processes hits both sides alike.
    t_bare = t_ours = float("inf")
    for _ in range(5):
        t_bare = min(t_bare, once(bare.parsebytes))
        t_ours = min(t_ours, once(parse))
    print(f"{count} mails of ~{sum(map(len, mails)) // count} bytes")
    print(f"stdlib BytesParser(policy.default): {t_bare:.2f} s ({t_bare / count * 1e6:.0f} us/msg)")
    print(f"mailbot.parser.parse:               {t_ours:.2f} s ({t_ours / count * 1e6:.0f} us/msg)")
    print(f"ratio: {t_ours / t_bare:.2f}")


if __name__ == "__main__":
    main()
