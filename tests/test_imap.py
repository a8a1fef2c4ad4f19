"""ImapMailbox against a real Dovecot (tests/dovecot.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from mailbot.errors import MailboxError
from mailbot.imap import ImapMailbox
from mailbot.mailbox import Batch, Cursor
from tests.dovecot import DovecotServer

pytestmark = pytest.mark.imap

MAX = 100_000


def mail(n: int, body_size: int = 0, subject: str | None = None) -> bytes:
    """A small, valid message numbered n."""
    body = f"Hello, this is message {n}.\r\n" + "x" * body_size
    return (
        f"From: Sender {n} <sender{n}@example.org>\r\n"
        f"To: andrei@ak3dstudio.com\r\n"
        f"Subject: {subject or f'Message {n}'}\r\n"
        f"Message-ID: <m{n}.{time.monotonic_ns()}@example.org>\r\n"
        f"Date: Mon, 04 May 2026 09:00:00 +0000\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def nothing_known(refs: Sequence[str]) -> set[str]:
    """A store that has recorded nothing."""
    return set()


def fetch_all(box: ImapMailbox, cursor: Cursor | None) -> list[Batch]:
    """Every batch fetch_new yields."""
    return list(box.fetch_new(cursor, nothing_known))


def refs(batches: list[Batch]) -> list[str]:
    """The refs of every message in batches, in order."""
    return [m.ref for b in batches for m in b.messages]


def flags(server: DovecotServer, folder: str = "INBOX") -> dict[int, set[bytes]]:
    """UID -> flags of every message in folder, seen by another client."""
    with server.client() as c:
        c.select_folder(folder, readonly=True)
        return {uid: set(f) for uid, f in c.get_flags(c.search("ALL")).items()}


@pytest.fixture
def box(dovecot: DovecotServer) -> ImapMailbox:
    """An ImapMailbox on the test user's INBOX, closed afterwards."""
    mailbox = ImapMailbox(dovecot.mailbox_config(), MAX)
    yield mailbox
    mailbox.close()


def test_fetches_appended_messages_whole(dovecot: DovecotServer, box: ImapMailbox) -> None:
    raws = [mail(i) for i in range(3)]
    for raw in raws:
        dovecot.append(raw)
    cursor = box.open()
    batches = fetch_all(box, None)
    messages = [m for b in batches for m in b.messages]
    assert [m.raw for m in messages] == raws
    assert [m.ref for m in messages] == ["1", "2", "3"]
    assert [m.uid for m in messages] == [1, 2, 3]
    assert all(m.size == len(m.raw) and not m.truncated for m in messages)
    assert batches[-1].cursor == Cursor(cursor.uidvalidity, 3)
    assert box.key == f"imap://{dovecot.user}@127.0.0.1:{dovecot.port}/INBOX"


def test_fetches_in_batches_with_a_cursor_each(dovecot: DovecotServer) -> None:
    for i in range(5):
        dovecot.append(mail(i))
    box = ImapMailbox(dovecot.mailbox_config(batch_size=2), MAX)
    uidvalidity = box.open().uidvalidity
    batches = fetch_all(box, None)
    box.close()
    assert [len(b.messages) for b in batches] == [2, 2, 1]
    assert [b.cursor for b in batches] == [Cursor(uidvalidity, n) for n in (2, 4, 5)]


def test_resumes_after_the_cursor_and_ignores_the_highest_uid_quirk(
    dovecot: DovecotServer, box: ImapMailbox,
) -> None:
    for i in range(5):
        dovecot.append(mail(i))
    uidvalidity = box.open().uidvalidity
    assert refs(fetch_all(box, Cursor(uidvalidity, 3))) == ["4", "5"]
    # "UID 6:*" matches UID 5 on the server; nothing new must come back.
    assert refs(fetch_all(box, Cursor(uidvalidity, 5))) == []
    assert refs(fetch_all(box, Cursor(uidvalidity, 50))) == []


def test_reading_never_sets_seen(dovecot: DovecotServer, box: ImapMailbox) -> None:
    dovecot.append(mail(1))
    dovecot.append(mail(2, body_size=5000))
    dovecot.append(mail(3), flags=["\\Flagged"])
    small = ImapMailbox(dovecot.mailbox_config(), 1000)
    small.open()
    fetch_all(small, None)  # header-only fetch for message 2
    small.close()
    box.open()
    fetch_all(box, None)
    box.mark_processed(["1", "2", "3"])
    after = flags(dovecot)
    assert all(b"\\Seen" not in f for f in after.values())
    assert b"\\Flagged" in after[3]


def test_keyword_marking_and_marked_messages_are_skipped(dovecot: DovecotServer, box: ImapMailbox) -> None:
    for i in range(3):
        dovecot.append(mail(i))
    box.open()
    box.mark_processed(["1", "2"])
    assert flags(dovecot) == {1: {b"$MailbotSeen"}, 2: {b"$MailbotSeen"}, 3: set()}
    assert refs(fetch_all(box, None)) == ["3"]
    # The incremental search skips them too (NOT KEYWORD).
    assert refs(fetch_all(box, Cursor(box.open().uidvalidity, 0))) == ["3"]
    box.mark_processed([])  # nothing to do, no command sent


def test_custom_keyword(dovecot: DovecotServer) -> None:
    dovecot.append(mail(1))
    box = ImapMailbox(dovecot.mailbox_config(processed_keyword="Recorded"), MAX)
    box.open()
    box.mark_processed(["1"])
    box.close()
    assert flags(dovecot)[1] == {b"Recorded"}


def test_move_marking_creates_the_folder_and_moves(dovecot: DovecotServer) -> None:
    for i in range(3):
        dovecot.append(mail(i))
    box = ImapMailbox(dovecot.mailbox_config(processed="move", processed_folder="Done/Mailbot"), MAX)
    box.open()
    box.mark_processed(["1", "3"])
    assert refs(fetch_all(box, None)) == ["2"]
    box.close()
    assert list(flags(dovecot)) == [2]
    moved = flags(dovecot, "Done/Mailbot")
    assert len(moved) == 2
    assert all(b"\\Seen" not in f for f in moved.values())


def test_move_falls_back_to_copy_and_uid_expunge(dovecot_factory) -> None:  # type: ignore[no-untyped-def]
    server = dovecot_factory(drop_capabilities={"MOVE"})
    for i in range(3):
        server.append(mail(i))
    # Someone else's deleted-but-not-expunged message must survive our expunge.
    server.append(mail(9), flags=["\\Deleted"])
    box = ImapMailbox(server.mailbox_config(processed="move"), MAX)
    box.open()
    assert "MOVE" not in box._capabilities
    box.mark_processed(["1", "2"])
    box.close()
    assert sorted(flags(server)) == [3, 4]
    assert len(flags(server, "Processed")) == 2


def test_idle_wakes_within_a_second_of_an_append(dovecot: DovecotServer, box: ImapMailbox) -> None:
    cursor = box.open()
    assert box.can_idle
    assert refs(fetch_all(box, cursor)) == []
    appended_at: list[float] = []

    def deliver() -> None:
        dovecot.append(mail(1))
        appended_at.append(time.monotonic())

    timer = threading.Timer(0.3, deliver)
    timer.start()
    woke = box.wait(10, threading.Event())
    woke_at = time.monotonic()
    timer.join()
    assert woke
    # Dovecot itself delays IDLE notifications by 0.5 s.
    assert woke_at - appended_at[0] < 1.0
    assert refs(fetch_all(box, cursor)) == ["1"]


def test_idle_times_out_without_news_and_stops_promptly(dovecot: DovecotServer, box: ImapMailbox) -> None:
    box.open()
    fetch_all(box, None)
    started = time.monotonic()
    assert box.wait(0.5, threading.Event()) is False
    assert 0.4 < time.monotonic() - started < 1.5
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert box.wait(60, stop) is False
    assert time.monotonic() - started < 1.5
    # The session is still usable after IDLE ended.
    assert refs(fetch_all(box, None)) == []


def test_idle_is_reissued_before_idle_timeout(dovecot: DovecotServer) -> None:
    box = ImapMailbox(dovecot.mailbox_config(idle_timeout=0.3), MAX)
    box.open()
    fetch_all(box, None)
    calls = 0
    original = box._idle_once

    def counting(duration: float, stop: threading.Event) -> bool:
        nonlocal calls
        calls += 1
        assert duration <= 0.3
        return original(duration, stop)

    box._idle_once = counting  # type: ignore[method-assign]
    assert box.wait(1.0, threading.Event()) is False
    box.close()
    assert calls >= 3


def test_news_announced_during_another_command_is_not_lost(dovecot: DovecotServer, box: ImapMailbox) -> None:
    dovecot.append(mail(1))
    box.open()
    fetch_all(box, None)
    dovecot.append(mail(2))
    # The server reports the new message (EXISTS) in the answer to this
    # command; IDLE would not announce it again.
    box.mark_processed(["1"])
    started = time.monotonic()
    assert box.wait(5, threading.Event()) is True
    assert time.monotonic() - started < 0.2


def test_polls_where_the_server_lacks_idle(dovecot_factory) -> None:  # type: ignore[no-untyped-def]
    server = dovecot_factory(drop_capabilities={"IDLE"})
    box = ImapMailbox(server.mailbox_config(poll_interval=0.3), MAX)
    cursor = box.open()
    assert not box.can_idle
    fetch_all(box, cursor)
    server.append(mail(1))
    started = time.monotonic()
    assert box.wait(5, threading.Event()) is True
    assert 0.2 < time.monotonic() - started < 1.5
    assert refs(fetch_all(box, cursor)) == ["1"]
    # A timeout shorter than the interval returns False; stop returns promptly.
    assert box.wait(0.05, threading.Event()) is False
    stop = threading.Event()
    stop.set()
    assert box.wait(5, stop) is False
    box.close()


def test_a_killed_connection_raises_mailbox_error_and_reopens(dovecot: DovecotServer, box: ImapMailbox) -> None:
    dovecot.append(mail(1))
    cursor = box.open()
    dovecot.kill_connections()
    with pytest.raises(MailboxError, match=f"127.0.0.1:{dovecot.port}"):
        fetch_all(box, cursor)
    assert not box.connected
    box.close()  # harmless after the failure
    with pytest.raises(MailboxError, match="not connected"):
        fetch_all(box, cursor)
    cursor = box.open()
    assert refs(fetch_all(box, cursor)) == ["1"]


def test_a_connection_killed_during_idle_raises_mailbox_error(dovecot: DovecotServer, box: ImapMailbox) -> None:
    box.open()
    fetch_all(box, None)
    killer = threading.Timer(0.3, dovecot.kill_connections)
    killer.start()
    started = time.monotonic()
    with pytest.raises(MailboxError, match="IDLE"):
        box.wait(10, threading.Event())
    assert time.monotonic() - started < 2
    # kill_connections goes on asking doveadm until the connection is gone; left running, it
    # met the next test's server restart and failed in its thread.
    killer.join()


def test_a_server_restart_raises_mailbox_error_on_mark(dovecot: DovecotServer, box: ImapMailbox) -> None:
    dovecot.append(mail(1))
    box.open()
    fetch_all(box, None)
    dovecot.restart()
    with pytest.raises(MailboxError):
        box.mark_processed(["1"])
    box.open()
    box.mark_processed(["1"])
    assert flags(dovecot)[1] == {b"$MailbotSeen"}


def test_uidvalidity_change_rescans_the_folder(dovecot: DovecotServer, box: ImapMailbox) -> None:
    for i in range(3):
        dovecot.append(mail(i))
    old = box.open()
    cursor = fetch_all(box, old)[-1].cursor
    box.close()
    new_validity = dovecot.reset_uidvalidity()
    fresh = box.open()
    assert fresh.uidvalidity == new_validity != old.uidvalidity
    asked: list[list[str]] = []

    def is_known(r: Sequence[str]) -> set[str]:
        asked.append(list(r))
        return set(r)  # refs of the old numbering must not be trusted

    batches = list(box.fetch_new(cursor, is_known))
    assert refs(batches) == ["1", "2", "3"]
    assert asked == []
    assert batches[-1].cursor == Cursor(new_validity, 3)


def test_renumbered_folder_is_not_skipped_by_an_old_cursor(dovecot: DovecotServer, box: ImapMailbox) -> None:
    raws = [mail(i) for i in range(4)]
    for raw in raws:
        dovecot.append(raw)
    cursor = box.open()
    cursor = fetch_all(box, cursor)[-1].cursor
    assert cursor.last_uid == 4
    with dovecot.client() as c:
        c.select_folder("INBOX")
        c.delete_messages([1, 2])
        c.expunge()
    box.close()
    dovecot.renumber()
    late = mail(99)
    dovecot.append(late)  # UID 3 in the new numbering: below the old cursor
    box.open()
    got = [m.raw for b in fetch_all(box, cursor) for m in b.messages]
    assert got == [raws[2], raws[3], late]


def test_no_cursor_skips_refs_the_store_knows(dovecot: DovecotServer) -> None:
    for i in range(5):
        dovecot.append(mail(i))
    box = ImapMailbox(dovecot.mailbox_config(batch_size=3), MAX)
    uidvalidity = box.open().uidvalidity
    batches = list(box.fetch_new(None, lambda r: {"1", "2", "4"} & set(r)))
    box.close()
    assert refs(batches) == ["3", "5"]
    assert [b.cursor.last_uid for b in batches] == [3, 5]
    assert all(b.cursor.uidvalidity == uidvalidity for b in batches)


def test_oversize_message_is_fetched_header_only(dovecot: DovecotServer) -> None:
    big = mail(1, body_size=5000)
    dovecot.append(big)
    dovecot.append(mail(2))
    box = ImapMailbox(dovecot.mailbox_config(), 2000)
    box.open()
    first, second = [m for b in fetch_all(box, None) for m in b.messages]
    box.close()
    assert first.truncated and first.size == len(big)
    header = big.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert first.raw == header
    assert not second.truncated


def test_byte_budget_splits_batches(dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mailbot.imap.BATCH_BYTES", 3000)
    for i in range(4):
        dovecot.append(mail(i, body_size=1000))
    box = ImapMailbox(dovecot.mailbox_config(batch_size=10), MAX)
    box.open()
    batches = fetch_all(box, None)
    box.close()
    assert [len(b.messages) for b in batches] == [2, 2]


def test_wrong_password_is_a_clear_mailbox_error(dovecot: DovecotServer) -> None:
    box = ImapMailbox(dovecot.mailbox_config(password="wrong"), MAX)
    with pytest.raises(MailboxError) as info:
        box.open()
    text = str(info.value)
    assert f"127.0.0.1:{dovecot.port}" in text
    assert "refused the login" in text and dovecot.user in text
    assert "mailbox.password" in text
    assert not box.connected


def test_missing_folder_is_a_clear_mailbox_error(dovecot: DovecotServer) -> None:
    dovecot.append(mail(1), folder="Archive")
    box = ImapMailbox(dovecot.mailbox_config(folder="Requests"), MAX)
    with pytest.raises(MailboxError, match="folder 'Requests' does not exist.*Archive"):
        box.open()
    assert not box.connected


def test_nothing_listening_is_a_mailbox_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from mailbot.config import MailboxConfig

    config = MailboxConfig(host="127.0.0.1", port=port, security="none", username="x", timeout=2)
    with pytest.raises(MailboxError, match=f"127.0.0.1:{port}: cannot connect"):
        ImapMailbox(config, MAX).open()


def test_tls_against_a_plain_server_is_a_mailbox_error(dovecot: DovecotServer) -> None:
    with pytest.raises(MailboxError, match="TLS handshake failed"):
        ImapMailbox(dovecot.mailbox_config(security="ssl"), MAX).open()


def test_starttls_missing_is_a_mailbox_error(dovecot: DovecotServer) -> None:
    with pytest.raises(MailboxError, match="does not offer STARTTLS"):
        ImapMailbox(dovecot.mailbox_config(security="starttls"), MAX).open()


def test_close_is_safe_twice_and_before_open(dovecot: DovecotServer) -> None:
    box = ImapMailbox(dovecot.mailbox_config(), MAX)
    box.close()
    box.open()
    box.close()
    box.close()
    assert not box.connected
