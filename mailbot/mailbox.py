"""The fetch stage's contract: a mailbox hands over raw messages and marks them processed."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mailbot.config import Config


@dataclass(frozen=True)
class FetchedMessage:
    """One message as the server gave it.

    ``ref`` identifies it within the source (the UID as text for IMAP, the
    file's unique name for a Maildir). ``truncated`` means only the header
    block was fetched because the message is above the size limit.
    """

    ref: str
    uid: int | None
    raw: bytes
    size: int
    truncated: bool = False


@dataclass(frozen=True)
class Cursor:
    """Where the last pass stopped: UIDVALIDITY and the highest UID recorded."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Batch:
    """A group of fetched messages and the cursor to store once they are recorded."""

    messages: tuple[FetchedMessage, ...]
    cursor: Cursor


class Mailbox(Protocol):
    """A source of incoming mail (IMAP folder, Maildir)."""

    key: str
    """A stable name for this source, stored with each message (e.g. imap://user@host/INBOX)."""

    def open(self) -> Cursor:
        """Connect and select; return the server's UIDVALIDITY with last_uid 0."""

    def fetch_new(self, cursor: Cursor | None, is_known: "KnownRefs") -> Iterator[Batch]:
        """Yield batches of messages newer than cursor, skipping refs is_known reports."""

    def mark_processed(self, refs: Sequence[str]) -> None:
        """Flag or move these messages on the server; called only after they are committed."""

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Block until the mailbox may have news, timeout passes or stop is set; True if news."""

    def close(self) -> None:
        """Log out and release the connection; safe to call twice."""


class KnownRefs(Protocol):
    """Asks the store whether a ref of this source is already recorded."""

    def __call__(self, refs: Sequence[str]) -> set[str]:
        """Return the subset of refs already recorded."""


def create_mailbox(config: "Config") -> Mailbox:
    """The mailbox the config describes: IMAP, or a Maildir / folder of .eml files."""
    mb = config.mailbox
    if mb.source == "maildir":
        from mailbot.maildir import MaildirMailbox

        return MaildirMailbox(mb.path, max_message_size=config.intake.max_message_size,
                              batch_size=mb.batch_size, poll_interval=mb.poll_interval)
    from mailbot.imap import ImapMailbox

    return ImapMailbox(mb, config.intake.max_message_size)
