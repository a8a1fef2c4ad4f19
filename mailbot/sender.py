"""Delivery of the outbox over SMTP: every message leaves once, even across crashes.

The protocol, per message (each step is its own committed transaction):

1. ``queued`` -> ``sending``, with the attempt's start time, committed
   *before* SMTP is touched: a crash from here on leaves a visible trace.
2. SMTP: MAIL FROM the bot, RCPT TO each recipient and, by envelope only,
   the bot's own address, then DATA. The hidden copy means that a message
   the server accepted always leaves a copy in our own mailbox.
3. ``sending`` -> ``sent``, committed; then APPEND to the Sent folder (after
   checking it is not there already) and set ``appended_to_sent``.

Failures: a 4xx reply or a connection error before DATA goes back to
``queued`` with capped exponential backoff (until ``smtp.give_up_hours``);
a 5xx reply makes it ``failed`` and queues a notice to the owner. A
connection lost *during* DATA is ``unknown``: the server may have accepted
the message just before.

After a crash, a row still ``sending`` is ``unknown`` too. An unknown
outcome is resolved before anything else, never by sending again blindly:
the mailbox is searched (INBOX, where intake moves mail, Sent) for the
Message-ID. Found: ``sent``. Not found ``smtp.unknown_grace_minutes`` after
the attempt began: ``queued`` again. Otherwise it waits for the next pass.

One sender per database: a pass takes every ``sending`` row as abandoned.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any, cast

import aiosmtplib
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, object_session

from mailbot import clock
from mailbot.backoff import Backoff, Outage
from mailbot.config import Config, SmtpConfig
from mailbot.copies import SentCopies, create_copies
from mailbot.db import Database
from mailbot.errors import MailboxError, MailbotError
from mailbot.models import Case, OutboxMessage
from mailbot.outbox import FAILED, QUEUED, SENDING, SENT, UNKNOWN, compose, enqueue
from mailbot.rendering import BusinessInfo, SendFailedContext, render

log = logging.getLogger(__name__)

NOTICE_KIND = "owner_send_failed"

# The named points between the steps of one delivery, in order; tests kill the
# sender at each of them to prove that a restart delivers exactly once.
STEPS = ("marked-sending", "smtp-accepted", "marked-sent", "appended")
Checkpoint = Callable[[str, int], None]


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass did, as outbox ids per outcome."""

    sent: tuple[int, ...] = ()
    deferred: tuple[int, ...] = ()  # temporary failure: queued again for later
    failed: tuple[int, ...] = ()
    unknown: tuple[int, ...] = ()  # outcome not known yet: waits for resolution
    resolved_sent: tuple[int, ...] = ()  # an interrupted attempt that did get through
    requeued: tuple[int, ...] = ()  # an interrupted attempt that did not: will be sent again
    appended: tuple[int, ...] = ()  # copies filed in the Sent folder
    notices: tuple[int, ...] = ()  # owner notices queued for failures


@dataclass
class _Tally:
    """The mutable counterpart of DeliveryReport while a pass runs."""

    lists: dict[str, list[int]] = field(default_factory=dict)

    def add(self, outcome: str, row_id: int) -> None:
        self.lists.setdefault(outcome, []).append(row_id)

    def freeze(self) -> DeliveryReport:
        return DeliveryReport(**{k: tuple(v) for k, v in self.lists.items()})


class _Temporary(Exception):
    """Try again later; `connection` when the server itself could not be used."""

    def __init__(self, reason: str, *, connection: bool = False) -> None:
        super().__init__(reason)
        self.connection = connection


class _Permanent(Exception):
    """The server refused this message for good."""


class _Unknown(Exception):
    """The server may or may not have accepted the message."""


def _classified(exc: aiosmtplib.SMTPResponseException, stage: str) -> Exception:
    """A definite server reply as _Permanent (5xx) or _Temporary (anything else)."""
    reason = f"{stage}: {exc.code} {exc.message}"
    return _Permanent(reason) if 500 <= exc.code <= 599 else _Temporary(reason)


@dataclass(frozen=True)
class Envelope:
    """Who a message goes to on the wire, and its bytes."""

    sender: str
    recipients: tuple[str, ...]
    own_copy: str
    raw: bytes


class SmtpConnection:
    """One SMTP session, opened on first use and reused for the messages of a pass."""

    def __init__(self, config: SmtpConfig, tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.tls_context = tls_context
        self._smtp: aiosmtplib.SMTP | None = None

    def describe(self) -> str:
        """host:port, for messages."""
        return f"SMTP server {self.config.host}:{self.config.port}"

    async def _open(self) -> aiosmtplib.SMTP:
        """Connect, secure and log in as configured; failures are temporary."""
        cfg = self.config
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host, port=cfg.port, timeout=cfg.timeout,
            use_tls=cfg.security == "ssl", start_tls=cfg.security == "starttls",
            username=cfg.username or None, password=cfg.password if cfg.username else None,
            tls_context=self.tls_context,
        )
        try:
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Every message would fail the same way: keep them queued, and say what to fix.
            raise _Temporary(
                f"{self.describe()} refused the login of {cfg.username!r} ({exc.code} {exc.message}); "
                "check [smtp] username and MAILBOT_SMTP_PASSWORD",
                connection=True,
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _Temporary(f"cannot use {self.describe()}: {exc}", connection=True) from exc
        return smtp

    async def send(self, envelope: Envelope) -> None:
        """Deliver one message; raises _Temporary, _Permanent or _Unknown when it did not (surely) go."""
        if self._smtp is None or not self._smtp.is_connected:
            self._smtp = await self._open()
        smtp = self._smtp
        try:
            await smtp.mail(envelope.sender)
            refused: dict[str, aiosmtplib.SMTPRecipientRefused] = {}
            # dict.fromkeys: the bot may itself be a recipient (the owner's notices, when the
            # owner reads the bot's mailbox); RCPT TO twice would deliver twice.
            for rcpt in dict.fromkeys((*envelope.recipients, envelope.own_copy)):
                try:
                    await smtp.rcpt(rcpt)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused[rcpt] = exc
        except aiosmtplib.SMTPResponseException as exc:
            await self._abort()
            raise _classified(exc, "MAIL FROM/RCPT TO") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.close()
            raise _Temporary(f"{self.describe()} before DATA: {exc}", connection=True) from exc
        theirs = {r: e for r, e in refused.items() if r in envelope.recipients}
        if theirs:
            await self._abort()
            reasons = "; ".join(f"{r}: {e.code} {e.message}" for r, e in theirs.items())
            if any(500 <= e.code <= 599 for e in theirs.values()):
                raise _Permanent(f"recipient refused: {reasons}")
            raise _Temporary(f"recipient deferred: {reasons}")
        if envelope.own_copy in refused and envelope.own_copy not in envelope.recipients:
            refusal = refused[envelope.own_copy]
            # The recipient matters more than our copy; without it only a crash in the
            # next second could not be resolved, so send anyway and say so.
            log.warning("the server refused the bot's own copy (%s %s); sending without it",
                        refusal.code, refusal.message)
        try:
            await smtp.data(envelope.raw)
        except aiosmtplib.SMTPResponseException as exc:
            await self._abort()
            raise _classified(exc, "DATA") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.close()
            raise _Unknown(
                f"the connection to {self.describe()} was lost during DATA ({exc}); "
                "the server may have accepted the message"
            ) from exc

    async def _abort(self) -> None:
        """RSET after a refusal so the session can carry the next message; close if that fails."""
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        """Drop the connection without ceremony."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def quit(self) -> None:
        """End the session politely."""
        if self._smtp is not None and self._smtp.is_connected:
            try:
                await self._smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass  # the session is over either way
        self.close()


def failure_notice(config: Config, row: OutboxMessage, reason: str) -> EmailMessage:
    """The email that tells the owner a message could not be sent, and what to do."""
    session = object_session(row)
    case = session.get(Case, row.case_id) if session is not None and row.case_id is not None else None
    rendered = render(NOTICE_KIND, SendFailedContext(
        business=BusinessInfo.from_config(config), outbox_id=row.id, kind=row.kind,
        to_address=row.to_address, subject=row.subject, attempts=row.attempts, reason=reason,
        case_reference=case.reference if case is not None else "",
    ))
    msg = compose(rendered, bot=config.bot, to=config.owner.email)
    # Generated, not a reply to anyone: RFC 3834's other value.
    msg["Auto-Submitted"] = "auto-generated"
    return msg


class Sender:
    """Delivers the outbox of one database through the configured SMTP server."""

    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        copies: SentCopies | None = None,
        use_mailbox_copies: bool = True,
        checkpoint: Checkpoint | None = None,
        jitter: Callable[[], float] = random.random,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.db = db
        self.config = config
        if copies is None and use_mailbox_copies:
            copies = create_copies(config.mailbox)
        self.copies = copies
        self._checkpoint = checkpoint
        self._jitter = jitter
        self._tls_context = tls_context
        self._smtp_outage = Outage(f"SMTP server {config.smtp.host}:{config.smtp.port}", log)
        self._imap_outage = Outage("the mailbox (for Sent copies and delivery checks)", log)
        self._wake = asyncio.Event()

    # -- the pass ----------------------------------------------------------

    async def deliver_due(self) -> DeliveryReport:
        """One pass: resolve interrupted attempts, file missing Sent copies, send what is due."""
        tally = _Tally()
        await self._resolve(tally)
        for row_id in self._ids(OutboxMessage.state == SENT, OutboxMessage.appended_to_sent.is_(False)):
            await self._file_copy(row_id, tally)
        connection = SmtpConnection(self.config.smtp, self._tls_context)
        try:
            now = clock.now()
            for row_id in self._ids(OutboxMessage.state == QUEUED, OutboxMessage.next_attempt_at <= now):
                if not await self._attempt(row_id, connection, tally):
                    break
        finally:
            await connection.quit()
        return tally.freeze()

    async def run(self, stop: asyncio.Event, poll_interval: float = 30.0) -> None:
        """Pass after pass until stop is set; `wake()` starts the next pass at once."""
        while not stop.is_set():
            try:
                await self.deliver_due()
            except (MailbotError, SQLAlchemyError) as exc:
                # The service keeps going: the next pass starts from the committed state.
                log.error("sending pass failed: %s", exc)
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=poll_interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    def wake(self) -> None:
        """Ask a running `run` to start its next pass now (e.g. after an enqueue)."""
        self._wake.set()

    def _ids(self, *where: object) -> list[int]:
        """Outbox ids matching where, oldest due first."""
        with self.db.session() as session:
            return list(session.scalars(
                select(OutboxMessage.id).where(*where)  # type: ignore[arg-type]
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            ))

    def _step(self, name: str, row_id: int) -> None:
        """Call the test checkpoint between two steps."""
        if self._checkpoint is not None:
            self._checkpoint(name, row_id)

    # -- one attempt -------------------------------------------------------

    async def _attempt(self, row_id: int, connection: SmtpConnection, tally: _Tally) -> bool:
        """Send one queued message; False when the server is unusable and the pass should stop."""
        started = clock.now()
        with self.db.session() as session:
            claimed = cast(CursorResult[Any], session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.state == QUEUED)
                .values(state=SENDING, attempts=OutboxMessage.attempts + 1, attempt_started_at=started)
                .execution_options(synchronize_session=False)
            )).rowcount
            if claimed != 1:
                return True  # someone else moved it (approval revoked, CLI): not ours to send
            row = session.get_one(OutboxMessage, row_id)
            envelope = Envelope(
                sender=row.from_address,
                recipients=tuple(a.strip() for a in row.to_address.split(",") if a.strip()),
                own_copy=self.config.bot.address,
                raw=row.raw,
            )
            attempt = row.attempts
        self._step("marked-sending", row_id)
        try:
            await connection.send(envelope)
        except _Temporary as exc:
            if exc.connection:
                self._smtp_outage.failed(exc)
            self._defer(row_id, str(exc), tally)
            return not exc.connection
        except _Permanent as exc:
            log.warning("outbox %d refused for good: %s", row_id, exc)
            self._fail(row_id, str(exc), tally)
            return True
        except _Unknown as exc:
            log.warning("outbox %d: outcome unknown, will check the mailbox before any retry: %s", row_id, exc)
            self._set(row_id, (SENDING,), state=UNKNOWN, last_error=str(exc))
            tally.add("unknown", row_id)
            return True
        self._smtp_outage.recovered()
        self._step("smtp-accepted", row_id)
        # UNKNOWN too: a concurrent pass may have taken this row for abandoned meanwhile.
        self._set(row_id, (SENDING, UNKNOWN), state=SENT, sent_at=clock.now(), next_attempt_at=None)
        log.info("outbox %d sent (attempt %d)", row_id, attempt)
        tally.add("sent", row_id)
        self._step("marked-sent", row_id)
        await self._file_copy(row_id, tally)
        return True

    def _set(self, row_id: int, states: Sequence[str], **values: object) -> bool:
        """Update the row if it is in one of states; True if it was."""
        with self.db.session() as session:
            done = cast(CursorResult[Any], session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.state.in_(states))
                .values(**values)
                .execution_options(synchronize_session=False)
            )).rowcount
        return done == 1

    def _retry_delay(self, attempts: int) -> timedelta:
        """Capped exponential delay before attempt attempts+1, with jitter."""
        backoff = Backoff(self.config.smtp.retry_base_seconds, self.config.smtp.retry_cap_seconds, self._jitter)
        backoff.attempts = max(attempts - 1, 0)
        return timedelta(seconds=backoff.next_delay())

    def _defer(self, row_id: int, reason: str, tally: _Tally) -> None:
        """Queue again after a temporary failure, or fail it once it has waited too long."""
        now = clock.now()
        with self.db.session() as session:
            row = session.get_one(OutboxMessage, row_id)
            if row.state != SENDING:
                return
            since = row.queued_at or row.created_at
            limit = timedelta(hours=self.config.smtp.give_up_hours)
            if now - since >= limit:
                self._fail_row(session, row, f"gave up after {row.attempts} attempts in "
                               f"{self.config.smtp.give_up_hours:g} hours; last error: {reason}", tally)
                return
            row.state = QUEUED
            row.last_error = reason
            row.next_attempt_at = now + self._retry_delay(row.attempts)
            log.info("outbox %d deferred until %s: %s", row_id, row.next_attempt_at.isoformat(), reason)
        tally.add("deferred", row_id)

    def _fail(self, row_id: int, reason: str, tally: _Tally) -> None:
        """Mark failed after a permanent refusal and tell the owner."""
        with self.db.session() as session:
            row = session.get_one(OutboxMessage, row_id)
            if row.state == SENDING:
                self._fail_row(session, row, reason, tally)

    def _fail_row(self, session: Session, row: OutboxMessage, reason: str, tally: _Tally) -> None:
        """In session: mark row failed and queue the owner's notice (one transaction, so one notice)."""
        row.state = FAILED
        row.last_error = reason
        row.next_attempt_at = None
        tally.add("failed", row.id)
        if row.kind == NOTICE_KIND:
            # A notice about a notice could loop for ever: the log is the last resort.
            log.error("the notice to the owner (outbox %d) could not be sent: %s", row.id, reason)
            return
        notice = enqueue(session, failure_notice(self.config, row, reason), kind=NOTICE_KIND,
                         bot=self.config.bot, case_id=row.case_id)
        tally.add("notices", notice.id)

    # -- after a crash -----------------------------------------------------

    async def _resolve(self, tally: _Tally) -> None:
        """Settle every attempt whose outcome nobody saw, before anything is sent."""
        with self.db.session() as session:
            abandoned = session.scalars(select(OutboxMessage).where(OutboxMessage.state == SENDING)).all()
            for row in abandoned:
                log.warning("outbox %d: attempt %d was interrupted; checking the mailbox before any retry",
                            row.id, row.attempts)
                row.state = UNKNOWN
                row.last_error = f"attempt {row.attempts} was interrupted (mailbot stopped)"
            unknown = [(r.id, r.message_id, r.attempt_started_at) for r in session.scalars(
                select(OutboxMessage).where(OutboxMessage.state == UNKNOWN).order_by(OutboxMessage.id))]
        grace = timedelta(minutes=self.config.smtp.unknown_grace_minutes)
        for row_id, message_id, started in unknown:
            if self.copies is None:
                log.warning("outbox %d: outcome unknown and the mailbox cannot be searched; "
                            "check by hand, then: mailbot outbox retry %d", row_id, row_id)
                tally.add("unknown", row_id)
                continue
            try:
                found = await asyncio.to_thread(self.copies.delivered, message_id)
            except MailboxError as exc:
                self._imap_outage.failed(exc)
                tally.add("unknown", row_id)
                continue
            self._imap_outage.recovered()
            now = clock.now()
            if found:
                if self._set(row_id, (UNKNOWN,), state=SENT, sent_at=started or now, next_attempt_at=None,
                             last_error="an interrupted attempt was delivered (our copy is in the mailbox)"):
                    log.info("outbox %d: the interrupted attempt was delivered; marked sent", row_id)
                    tally.add("resolved_sent", row_id)
            elif started is None or now - started >= grace:
                if self._set(row_id, (UNKNOWN,), state=QUEUED, next_attempt_at=now,
                             last_error="an interrupted attempt was not delivered (no copy after "
                                        f"{self.config.smtp.unknown_grace_minutes:g} minutes); sending again"):
                    log.info("outbox %d: the interrupted attempt did not get through; queued again", row_id)
                    tally.add("requeued", row_id)
            else:
                tally.add("unknown", row_id)

    # -- the Sent folder ---------------------------------------------------

    async def _file_copy(self, row_id: int, tally: _Tally) -> None:
        """APPEND a sent message to the Sent folder once; a failure is retried next pass."""
        if self.copies is None:
            return
        with self.db.session() as session:
            row = session.get_one(OutboxMessage, row_id)
            if row.state != SENT or row.appended_to_sent:
                return
            message_id, raw, when = row.message_id, row.raw, row.sent_at or clock.now()
        try:
            # Checked first: a crash between APPEND and the commit below must not file it twice.
            if not await asyncio.to_thread(self.copies.in_sent, message_id):
                await asyncio.to_thread(self.copies.append_to_sent, raw, when)
                self._step("appended", row_id)
        except MailboxError as exc:
            self._imap_outage.failed(exc)
            return
        self._imap_outage.recovered()
        self._set(row_id, (SENT,), appended_to_sent=True)
        tally.add("appended", row_id)


async def deliver_due(db: Database, config: Config, **options: object) -> DeliveryReport:
    """One sending pass with a fresh Sender (options as for Sender)."""
    return await Sender(db, config, **options).deliver_due()  # type: ignore[arg-type]

