"""Our copies of sent mail in the mailbox: the Sent folder, and the hidden copy to ourselves.

The sender uses these for two things: an APPEND to the Sent folder, so the
owner sees the whole conversation in their mail client; and, after a crash,
a search by Message-ID that tells whether an attempt reached the server
(every message is also sent, by envelope only, to the bot's own address).

IMAP calls block; the sender runs them with asyncio.to_thread. Each call
opens its own short connection: they are rare (one or two per message).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbot.config import MailboxConfig
from mailbot.errors import MailboxError
from mailbot.imap import open_client


class SentCopies(Protocol):
    """Where copies of sent messages can be found and filed."""

    def delivered(self, message_id: str) -> bool:
        """True if a message with this Message-ID is anywhere we file our own mail."""
        ...

    def in_sent(self, message_id: str) -> bool:
        """True if the Sent folder already holds this Message-ID."""
        ...

    def append_to_sent(self, raw: bytes, when: datetime) -> None:
        """File raw in the Sent folder, marked as read, dated when."""
        ...


class ImapCopies:
    """SentCopies on the IMAP mailbox of the configuration."""

    def __init__(self, config: MailboxConfig) -> None:
        self.config = config

    def folders(self) -> tuple[str, ...]:
        """The folders our own copy can be in: the watched one, where intake moves mail, and Sent."""
        found = [self.config.folder]
        if self.config.processed == "move":
            found.append(self.config.processed_folder)
        found.append(self.config.sent_folder)
        return tuple(dict.fromkeys(found))

    @contextmanager
    def _client(self) -> Iterator[IMAPClient]:
        """A logged-in client, logged out afterwards; IMAP failures become MailboxError."""
        cfg = self.config
        where = f"IMAP {cfg.username}@{cfg.host}:{cfg.port}"
        client = open_client(cfg)
        try:
            yield client
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"{where}: {exc}") from exc
        finally:
            try:
                client.logout()
            except (OSError, IMAPClientError):
                pass  # the connection is going anyway; the real error, if any, is already raised

    @staticmethod
    def _search(client: IMAPClient, folder: str, message_id: str) -> bool:
        """True if folder exists and holds a message whose Message-ID header is message_id."""
        if not client.folder_exists(folder):
            return False
        client.select_folder(folder, readonly=True)
        criteria: list[Any] = ["HEADER", "Message-ID", message_id]
        return bool(client.search(criteria))

    def delivered(self, message_id: str) -> bool:
        """True if the Message-ID is in any of `folders()`."""
        with self._client() as client:
            return any(self._search(client, f, message_id) for f in self.folders())

    def in_sent(self, message_id: str) -> bool:
        """True if the Sent folder holds the Message-ID."""
        with self._client() as client:
            return self._search(client, self.config.sent_folder, message_id)

    def append_to_sent(self, raw: bytes, when: datetime) -> None:
        """APPEND raw to the Sent folder (created if missing), \\Seen, dated when."""
        with self._client() as client:
            folder = self.config.sent_folder
            if not client.folder_exists(folder):
                client.create_folder(folder)
                _subscribe(client, folder)
            client.append(folder, raw, flags=(b"\\Seen",), msg_time=when)


def _subscribe(client: IMAPClient, folder: str) -> None:
    """Subscribe to folder so that mail clients show it; a refusal is harmless."""
    try:
        client.subscribe_folder(folder)
    except IMAPClientError:
        pass  # some servers refuse SUBSCRIBE; the folder still exists and works


def create_copies(config: MailboxConfig) -> SentCopies | None:
    """The SentCopies of an IMAP mailbox; None for a mailbox read from disk (nothing to file into).

    Without copies an attempt whose outcome is unknown stays ``unknown`` until
    the owner checks and runs ``mailbot outbox retry N``: never resent blindly.
    """
    if config.source == "imap":
        return ImapCopies(config)
    return None
