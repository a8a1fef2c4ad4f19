"""In-memory stand-ins for unit tests (integration tests use the real servers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from mailbot.mailbox import Batch, Cursor, FetchedMessage, KnownRefs


class FakeMailbox:
    """An IMAP-like folder in memory: UIDs, UIDVALIDITY, a processed keyword."""

    def __init__(self, batch_size: int = 3) -> None:
        self.key = "fake://inbox"
        self.uidvalidity = 1000
        self.next_uid = 1
        self.messages: dict[int, bytes] = {}
        self.marked: set[int] = set()
        self.batch_size = batch_size
        self.fail_mark_times = 0
        self.mark_calls = 0

    def append(self, raw: bytes) -> int:
        """Deliver raw; returns its UID."""
        uid = self.next_uid
        self.messages[uid] = raw
        self.next_uid += 1
        return uid

    def renumber(self) -> None:
        """Simulate a server that changed UIDVALIDITY and renumbered every message."""
        self.uidvalidity += 1
        old = [self.messages[u] for u in sorted(self.messages)]
        self.messages, self.marked, self.next_uid = {}, set(), 1
        for raw in old:
            self.append(raw)

    def open(self) -> Cursor:
        return Cursor(self.uidvalidity, 0)

    def fetch_new(self, cursor: Cursor | None, is_known: KnownRefs) -> Iterator[Batch]:
        last = cursor.last_uid if cursor and cursor.uidvalidity == self.uidvalidity else 0
        uids = [u for u in sorted(self.messages) if u > last and u not in self.marked]
        known = is_known([str(u) for u in uids])
        uids = [u for u in uids if str(u) not in known]
        for i in range(0, len(uids), self.batch_size):
            chunk = uids[i:i + self.batch_size]
            msgs = tuple(FetchedMessage(str(u), u, self.messages[u], len(self.messages[u])) for u in chunk)
            yield Batch(msgs, Cursor(self.uidvalidity, max(chunk)))

    def mark_processed(self, refs: Sequence[str]) -> None:
        self.mark_calls += 1
        if self.fail_mark_times:
            self.fail_mark_times -= 1
            raise KeyboardInterrupt("simulated kill between commit and mark")
        self.marked.update(int(r) for r in refs)

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        return not stop.wait(0.01)

    def close(self) -> None:
        pass


def make_mail(
    n: int = 1,
    *,
    sender: str = "alice@example.org",
    subject: str = "Question",
    body: str = "Hello, what personal data do you hold about me?",
    extra_headers: str = "",
    received: str = "from mx1.example.net by mail.ak3dstudio.com",
) -> bytes:
    """A small, well-formed RFC 5322 message."""
    return (
        f"Received: {received}; Mon, 4 May 2026 08:00:0{n % 10} +0000\r\n"
        f"From: Alice Example <{sender}>\r\n"
        "To: andrei@ak3dstudio.com\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Mon, 4 May 2026 08:00:0{n % 10} +0000\r\n"
        f"Message-ID: <msg{n}@example.org>\r\n"
        f"{extra_headers}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()
