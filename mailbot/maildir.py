"""A mailbox that reads a Maildir, or a plain folder of .eml files, from disk.

It is the embedded default (the bundled sample mails need no mail server) and
suits a server where the MTA delivers to a Maildir. The files are never
changed: what has been recorded is remembered in the database, by file name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from mailbot.errors import MailboxError
from mailbot.mailbox import Batch, Cursor, FetchedMessage, KnownRefs

# Maildir has no UIDVALIDITY; a constant keeps the intake's bookkeeping uniform.
MAILDIR_UIDVALIDITY = 1


class MaildirMailbox:
    """Reads new/ and cur/ of a Maildir, or every *.eml file of a folder."""

    def __init__(self, path: str | Path, *, max_message_size: int, batch_size: int = 200,
                 poll_interval: float = 60.0) -> None:
        self.path = Path(path)
        self.max_message_size = max_message_size
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.key = f"maildir:{self.path.resolve()}"

    def open(self) -> Cursor:
        """Check the folder exists; Maildirs have no UIDVALIDITY, so it is a constant."""
        if not self.path.is_dir():
            raise MailboxError(f"{self.path}: no such folder (check mailbox.path in the config)")
        return Cursor(MAILDIR_UIDVALIDITY, 0)

    def _files(self) -> list[tuple[str, Path]]:
        """(ref, path) of every message file, oldest name first."""
        if (self.path / "new").is_dir() or (self.path / "cur").is_dir():
            found = [
                p for sub in ("new", "cur") if (self.path / sub).is_dir()
                for p in (self.path / sub).iterdir() if p.is_file() and not p.name.startswith(".")
            ]
            # The flags after ":2," change when a mail client reads a message; the base name does not.
            pairs = [(p.name.split(":", 1)[0], p) for p in found]
        else:
            pairs = [(p.name, p) for p in self.path.glob("*.eml") if p.is_file()]
        return sorted(pairs)

    def fetch_new(self, cursor: Cursor | None, is_known: KnownRefs) -> Iterator[Batch]:
        """Yield files not yet recorded, in batches."""
        files = self._files()
        known = is_known([ref for ref, _ in files])
        todo = [(ref, path) for ref, path in files if ref not in known]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            messages = tuple(m for m in (self._read(ref, path) for ref, path in chunk) if m is not None)
            yield Batch(messages, Cursor(MAILDIR_UIDVALIDITY, 0))

    def _read(self, ref: str, path: Path) -> FetchedMessage | None:
        """Read one file; above the size limit only its header block."""
        try:
            size = path.stat().st_size
            if size <= self.max_message_size:
                return FetchedMessage(ref=ref, uid=None, raw=path.read_bytes(), size=size)
            with path.open("rb") as fh:
                head = bytearray()
                for line in fh:
                    head += line
                    if line in (b"\r\n", b"\n") or len(head) > 1024 * 1024:
                        break
            return FetchedMessage(ref=ref, uid=None, raw=bytes(head), size=size, truncated=True)
        except FileNotFoundError:
            # Moved away by a mail client between listing and reading; it will be listed again.
            return None
        except OSError as exc:
            raise MailboxError(f"{path}: cannot be read: {exc.strerror}") from exc

    def mark_processed(self, refs: Sequence[str]) -> None:
        """Nothing to do: the files stay as they are and the database remembers them."""

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Sleep for the poll interval (or until stop is set)."""
        return not stop.wait(min(timeout, self.poll_interval))

    def close(self) -> None:
        """Nothing to release."""
