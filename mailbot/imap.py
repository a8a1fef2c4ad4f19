"""The IMAP mailbox: fetches new mail with BODY.PEEK, marks it processed, waits with IDLE.

Every failure to talk to the server comes out as `MailboxError`, whatever
raised it underneath (imaplib, a socket, TLS), with the connection dropped:
the runner's reconnect loop catches that one type, closes, backs off and
opens again.

What it keeps on the server: nothing but the processed marker (a keyword or
a move to a folder). \\Seen is never set, because the bot only ever reads
with BODY.PEEK; a person reading the same mailbox still sees what is new.
"""

from __future__ import annotations

import imaplib
import logging
import select
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailbot.config import MailboxConfig
from mailbot.errors import MailboxError
from mailbot.mailbox import Batch, Cursor, FetchedMessage, KnownRefs

log = logging.getLogger(__name__)

# A batch also ends once its bodies add up to this, so 200 messages of 25 MB
# never sit in memory together.
BATCH_BYTES = 32 * 1024 * 1024
# A header block is small; this is what an oversize message costs a batch.
HEADER_BYTES = 64 * 1024
# UIDs per STORE/MOVE command: keeps command lines far below server limits
# (Dovecot's is 64 kB) when a long backlog is marked at once.
UIDS_PER_COMMAND = 500
# How often a wait looks at the stop event: shutdown within about a second.
STOP_CHECK = 1.0

_IMAP_ERRORS = (imaplib.IMAP4.error, OSError)


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    """Consecutive slices of items, each at most size long."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class ImapMailbox:
    """A folder on an IMAP server, as the intake runner sees it (the Mailbox protocol)."""

    def __init__(self, config: MailboxConfig, max_message_size: int) -> None:
        self.config = config
        self.max_message_size = max_message_size
        self.key = f"imap://{config.username}@{config.host}:{config.port}/{config.folder}"
        self.where = f"{config.host}:{config.port}"
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._capabilities: frozenset[str] = frozenset()
        self._processed_folder_ready = False
        self._next_poll = 0.0

    # -- connection ----------------------------------------------------------

    @property
    def can_idle(self) -> bool:
        """Whether the server offers IDLE (otherwise wait polls)."""
        return "IDLE" in self._capabilities

    @property
    def connected(self) -> bool:
        """Whether a session is open (it may still turn out dead on the next command)."""
        return self._client is not None

    def open(self) -> Cursor:
        """Connect, log in and select the folder; return its UIDVALIDITY with last_uid 0."""
        self.close()
        client = self._connect()
        try:
            self._login(client)
            self._capabilities = frozenset(
                c.decode("ascii", "replace").upper() for c in client.capabilities()
            )
            info = self._select(client)
        except MailboxError:
            self._shutdown(client)
            raise
        except _IMAP_ERRORS as exc:
            self._shutdown(client)
            raise MailboxError(f"IMAP server {self.where}: setting up the session failed: {exc}") from exc
        self._client = client
        self._uidvalidity = int(info[b"UIDVALIDITY"])
        self._processed_folder_ready = False
        self._next_poll = 0.0
        try:
            self._check_capabilities(info)
        except MailboxError:
            self.close()
            raise
        log.debug(
            "opened %s (UIDVALIDITY %d, %d messages, IDLE %s)",
            self.key, self._uidvalidity, info.get(b"EXISTS", 0), "yes" if self.can_idle else "no",
        )
        return Cursor(self._uidvalidity, 0)

    def _connect(self) -> IMAPClient:
        """A connected client, over TLS, STARTTLS or plain as configured."""
        cfg = self.config
        context = ssl.create_default_context() if cfg.security != "none" else None
        try:
            client = IMAPClient(
                cfg.host, port=cfg.port, ssl=cfg.security == "ssl",
                ssl_context=context if cfg.security == "ssl" else None, timeout=cfg.timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            raise MailboxError(
                f"IMAP server {self.where}: TLS certificate not trusted ({exc.verify_message}); "
                "check mailbox.host is the name on the server's certificate"
            ) from exc
        except ssl.SSLError as exc:
            hint = ' (port 143 usually wants security = "starttls")' if cfg.port == 143 else ""
            raise MailboxError(f"IMAP server {self.where}: TLS handshake failed: {exc.reason or exc}{hint}") from exc
        except TimeoutError as exc:
            raise MailboxError(f"IMAP server {self.where}: no answer within {cfg.timeout:g} s") from exc
        except OSError as exc:
            raise MailboxError(
                f"IMAP server {self.where}: cannot connect: {exc.strerror or exc} "
                "(check mailbox.host and mailbox.port, and that the server is up)"
            ) from exc
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"IMAP server {self.where}: unexpected greeting: {exc}") from exc
        if cfg.security == "starttls":
            try:
                if not client.has_capability("STARTTLS"):
                    raise MailboxError(
                        f'IMAP server {self.where} does not offer STARTTLS; use security = "ssl" (usually port 993)'
                    )
                client.starttls(context)
            except MailboxError:
                self._shutdown(client)
                raise
            except ssl.SSLCertVerificationError as exc:
                self._shutdown(client)
                raise MailboxError(
                    f"IMAP server {self.where}: TLS certificate not trusted ({exc.verify_message}); "
                    "check mailbox.host is the name on the server's certificate"
                ) from exc
            except _IMAP_ERRORS as exc:
                self._shutdown(client)
                raise MailboxError(f"IMAP server {self.where}: STARTTLS failed: {exc}") from exc
        return client

    def _login(self, client: IMAPClient) -> None:
        """Log in, turning a refusal into an error that says what to check."""
        cfg = self.config
        try:
            client.login(cfg.username, cfg.password)
        except LoginError as exc:
            raise MailboxError(
                f"IMAP server {self.where} refused the login of {cfg.username!r}: {exc}; "
                "check mailbox.username and mailbox.password (or MAILBOT_IMAP_PASSWORD)"
            ) from exc

    def _select(self, client: IMAPClient) -> dict[bytes, Any]:
        """SELECT the folder read-write, or explain why it cannot be."""
        folder = self.config.folder
        try:
            info: dict[bytes, Any] = client.select_folder(folder, readonly=False)
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            if not client.folder_exists(folder):
                names = sorted(str(f[2]) for f in client.list_folders())
                raise MailboxError(
                    f"IMAP server {self.where}: folder {folder!r} does not exist "
                    f"(check mailbox.folder; the account has: {', '.join(names[:20])})"
                ) from exc
            raise MailboxError(f"IMAP server {self.where}: cannot select folder {folder!r}: {exc}") from exc
        if not info.get(b"READ-WRITE"):
            raise MailboxError(
                f"IMAP server {self.where}: folder {folder!r} is read-only for {self.config.username!r}; "
                "the bot must be able to mark messages processed"
            )
        return info

    def _check_capabilities(self, info: dict[bytes, Any]) -> None:
        """Refuse a configuration the server cannot carry out; note what falls back."""
        cfg = self.config
        if cfg.processed == "keyword":
            permanent = {f.decode("ascii", "replace") for f in info.get(b"PERMANENTFLAGS", ())}
            if "\\*" not in permanent and cfg.processed_keyword not in permanent:
                raise MailboxError(
                    f"IMAP server {self.where}: folder {cfg.folder!r} does not keep the keyword "
                    f"{cfg.processed_keyword!r}; set mailbox.processed = \"move\""
                )
        elif "MOVE" not in self._capabilities and "UIDPLUS" not in self._capabilities:
            raise MailboxError(
                f"IMAP server {self.where} has neither MOVE nor UIDPLUS, so messages cannot be "
                'moved safely; set mailbox.processed = "keyword"'
            )
        if not self.can_idle:
            log.info("%s does not offer IDLE; polling every %g s", self.where, cfg.poll_interval)

    def close(self) -> None:
        """Log out and drop the connection; safe to call twice."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except _IMAP_ERRORS as exc:
            log.debug("logout from %s failed (connection already gone): %s", self.where, exc)
            self._shutdown(client)

    @staticmethod
    def _shutdown(client: IMAPClient) -> None:
        """Close the socket without a word to the server."""
        try:
            client.shutdown()
        except _IMAP_ERRORS:
            pass  # already closed: nothing left to release

    def _require(self) -> IMAPClient:
        """The open client, or MailboxError if open() has not succeeded."""
        if self._client is None:
            raise MailboxError(f"IMAP mailbox {self.key} is not connected (call open() first)")
        return self._client

    @contextmanager
    def _guard(self, doing: str) -> Iterator[IMAPClient]:
        """Run a server command; any failure drops the connection and becomes MailboxError."""
        client = self._require()
        try:
            yield client
        except _IMAP_ERRORS as exc:
            self._client = None
            self._shutdown(client)
            raise MailboxError(f"IMAP server {self.where}: {doing} failed: {exc}") from exc

    # -- fetching ------------------------------------------------------------

    def fetch_new(self, cursor: Cursor | None, is_known: KnownRefs) -> Iterator[Batch]:
        """Yield batches of messages after cursor (or the whole folder if it no longer applies).

        A cursor of another UIDVALIDITY means the server renumbered the folder:
        every message is fetched again and the runner's content dedupe keeps
        it from being recorded twice. With no cursor at all, refs the store
        already knows are skipped without fetching them.
        """
        uidvalidity = self._uidvalidity
        rescan = cursor is None or cursor.uidvalidity != uidvalidity
        start = 1 if rescan else cursor.last_uid + 1  # type: ignore[union-attr]
        if cursor is not None and rescan:
            log.warning(
                "%s: UIDVALIDITY changed from %d to %d (the server renumbered the folder); "
                "rescanning it, already recorded messages are recognised by content",
                self.key, cursor.uidvalidity, uidvalidity,
            )
        criteria: list[str] = ["UID", f"{start}:*"]
        if self.config.processed == "keyword":
            criteria += ["NOT", "KEYWORD", self.config.processed_keyword]
        with self._guard("searching for new messages") as client:
            self._take_news(client)
            # "n:*" always matches the highest UID, even one below n.
            uids = sorted(u for u in client.search(criteria) if u >= start)
        for chunk in _chunks(uids, self.config.batch_size):
            wanted = list(chunk)
            if cursor is None:
                # Old refs are only comparable under the same UIDVALIDITY, so
                # the store is asked only when there is no cursor to go by.
                known = is_known([str(u) for u in chunk])
                wanted = [u for u in chunk if str(u) not in known]
            with self._guard("fetching message sizes") as client:
                fetched = client.fetch(wanted, ["RFC822.SIZE"]) if wanted else {}
            sizes = {uid: int(data[b"RFC822.SIZE"]) for uid, data in fetched.items() if b"RFC822.SIZE" in data}
            for group in self._groups(chunk, sizes):
                messages = self._fetch_group(group, sizes)
                yield Batch(messages, Cursor(uidvalidity, group[-1]))

    def _groups(self, chunk: Sequence[int], sizes: dict[int, int]) -> Iterator[Sequence[int]]:
        """Split chunk so the bodies of one group stay under BATCH_BYTES."""
        group: list[int] = []
        total = 0
        for uid in chunk:
            size = sizes.get(uid, 0)
            cost = HEADER_BYTES if size > self.max_message_size else size
            if group and total + cost > BATCH_BYTES:
                yield group
                group, total = [], 0
            group.append(uid)
            total += cost
        if group:
            yield group

    def _fetch_group(self, group: Sequence[int], sizes: dict[int, int]) -> tuple[FetchedMessage, ...]:
        """Fetch the bodies of group with PEEK: whole if small enough, else the header only."""
        whole = [u for u in group if u in sizes and sizes[u] <= self.max_message_size]
        header = [u for u in group if u in sizes and sizes[u] > self.max_message_size]
        with self._guard("fetching messages") as client:
            bodies = client.fetch(whole, ["BODY.PEEK[]"]) if whole else {}
            headers = client.fetch(header, ["BODY.PEEK[HEADER]"]) if header else {}
        messages: list[FetchedMessage] = []
        for uid in group:
            if uid in bodies:
                raw = bodies[uid].get(b"BODY[]")
                truncated = False
            elif uid in headers:
                raw = headers[uid].get(b"BODY[HEADER]")
                truncated = True
            else:
                # Known already, or expunged between SEARCH and FETCH.
                continue
            if raw is None:
                log.warning("%s: the server returned no content for UID %d; skipped", self.key, uid)
                continue
            messages.append(FetchedMessage(str(uid), uid, bytes(raw), sizes[uid], truncated))
        return tuple(messages)

    # -- marking -------------------------------------------------------------

    def mark_processed(self, refs: Sequence[str]) -> None:
        """Add the processed keyword to these UIDs, or move them to the processed folder."""
        uids = sorted({int(r) for r in refs})
        if not uids:
            return
        cfg = self.config
        if cfg.processed == "keyword":
            with self._guard(f"setting keyword {cfg.processed_keyword}") as client:
                for chunk in _chunks(uids, UIDS_PER_COMMAND):
                    client.add_flags(chunk, [cfg.processed_keyword], silent=True)
            return
        self._ensure_processed_folder()
        with self._guard(f"moving messages to {cfg.processed_folder!r}") as client:
            for chunk in _chunks(uids, UIDS_PER_COMMAND):
                if "MOVE" in self._capabilities:
                    client.move(chunk, cfg.processed_folder)
                else:
                    # UID EXPUNGE (UIDPLUS) removes only these messages, never
                    # others someone else flagged \Deleted.
                    client.copy(chunk, cfg.processed_folder)
                    client.add_flags(chunk, [b"\\Deleted"], silent=True)
                    client.uid_expunge(chunk)

    def _ensure_processed_folder(self) -> None:
        """Create the processed folder the first time it is needed."""
        if self._processed_folder_ready:
            return
        folder = self.config.processed_folder
        with self._guard(f"creating folder {folder!r}") as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
                log.info("created folder %r on %s for processed messages", folder, self.where)
        self._processed_folder_ready = True

    # -- waiting -------------------------------------------------------------

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Block until new mail may be there, timeout passes or stop is set; True if news."""
        client = self._require()
        if self._take_news(client):
            return True
        if self.can_idle:
            return self._idle(timeout, stop)
        return self._poll(timeout, stop)

    def _take_news(self, client: IMAPClient) -> bool:
        """Whether EXISTS/RECENT arrived with an earlier command's answer; forgets them.

        A message delivered while the bot was fetching is announced during
        that FETCH, not again when IDLE starts, so it is looked for here.
        """
        pending = client._imap.untagged_responses
        news = False
        for name in ("EXISTS", "RECENT"):
            if pending.pop(name, None) is not None:
                news = True
        return news

    def _idle(self, timeout: float, stop: threading.Event) -> bool:
        """IDLE until EXISTS/RECENT, timeout or stop; re-issued before idle_timeout."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._idle_once(min(remaining, self.config.idle_timeout), stop):
                return True
        return False

    def _idle_once(self, duration: float, stop: threading.Event) -> bool:
        """One IDLE command of at most duration seconds; True if the server reported news."""
        news = False
        with self._guard("waiting for new mail (IDLE)") as client:
            client.idle()
            end = time.monotonic() + duration
            sock = client.socket()
            try:
                while not news and not stop.is_set():
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    readable, _, _ = select.select([sock], [], [], min(left, STOP_CHECK))
                    if not readable:
                        continue
                    responses = client.idle_check(timeout=0)
                    if not responses:
                        # Readable yet nothing to parse: the server closed the
                        # connection (imapclient swallows the EOF), which DONE
                        # below turns into an error.
                        break
                    for response in responses:
                        if len(response) > 1 and response[1] in (b"EXISTS", b"RECENT"):
                            news = True
                        elif response[0] == b"BYE":
                            raise imaplib.IMAP4.abort(f"server said BYE: {response[1]!r}")
            finally:
                if self._client is client:
                    _, after = client.idle_done()
                    news = news or any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in after)
        return news

    def _poll(self, timeout: float, stop: threading.Event) -> bool:
        """Without IDLE: True once every poll_interval, checking stop in small steps."""
        now = time.monotonic()
        if self._next_poll == 0.0:
            self._next_poll = now + self.config.poll_interval
        until = min(now + timeout, self._next_poll)
        while not stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                break
            stop.wait(min(left, STOP_CHECK))
        if stop.is_set() or time.monotonic() < self._next_poll:
            return False
        self._next_poll = time.monotonic() + self.config.poll_interval
        # Keeps the session alive and lets the server report its changes.
        with self._guard("polling for new mail (NOOP)") as client:
            client.noop()
        return True


def open_client(config: MailboxConfig) -> IMAPClient:
    """A connected, logged-in client as configured; failures become MailboxError with a hint."""
    box = ImapMailbox(config, max_message_size=0)
    client = box._connect()
    try:
        box._login(client)
    except MailboxError:
        box._shutdown(client)
        raise
    return client
