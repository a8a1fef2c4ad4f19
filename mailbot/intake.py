"""The intake runner: fetch → parse → screen → classify → record, exactly once.

The order of effects is what keeps mail safe. A batch of messages is parsed,
screened and written to the database together with the mailbox cursor in one
transaction; only after that commit is each message marked processed on the
server, and the mark is then noted in the database. A crash at any point
leaves either nothing recorded (the batch is fetched again) or records whose
server mark is pending (`resume` finishes it); the dedupe key (Message-ID plus
content hash) makes a second recording impossible either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailbot import clock
from mailbot.backoff import Backoff, OutageLog
from mailbot.config import Config
from mailbot.db import Database
from mailbot.errors import MailboxError, ParseError
from mailbot.mailbox import Batch, Cursor, FetchedMessage, Mailbox
from mailbot.message import ParsedMessage, ScreenContext, Verdict
from mailbot.models import AttachmentRecord, MailboxState, Message, QuarantineEntry
from mailbot.parser import parse
from mailbot.screening import screen

log = logging.getLogger(__name__)

Status = Literal["accepted", "screened", "oversize", "quarantined", "duplicate"]
Classify = Callable[[ParsedMessage], str | None]
"""Turns an accepted message into the classifier's JSON, or None when no classifier is set."""


@dataclass(frozen=True)
class Outcome:
    """What became of one fetched message in this pass."""

    ref: str
    status: Status
    record_id: int | None
    sender: str | None
    subject: str
    detail: str


@dataclass(frozen=True)
class PassReport:
    """Everything one pass over the mailbox did."""

    outcomes: tuple[Outcome, ...]
    remarked: int

    def count(self, status: Status) -> int:
        """How many messages ended with status."""
        return sum(1 for o in self.outcomes if o.status == status)


def dedupe_key(message_id: str | None, content_hash: str) -> str:
    """The key that makes one message one record, however often it arrives."""
    return hashlib.sha256(f"{message_id or ''}\x00{content_hash}".encode()).hexdigest()


@dataclass(frozen=True)
class _Parsed:
    fetched: FetchedMessage
    message: ParsedMessage | None
    error: str | None


class Intake:
    """Moves messages from one mailbox into the database, once each."""

    def __init__(
        self, config: Config, database: Database, mailbox: Mailbox, *, classify: Classify | None = None
    ) -> None:
        self.config = config
        self.db = database
        self.mailbox = mailbox
        self.classify = classify
        self.own_addresses = frozenset({config.bot.address.lower()})
        self._uidvalidity: int | None = None

    # -- the pass --------------------------------------------------------

    def open(self) -> int:
        """Connect the mailbox and finish any server marks a crash left pending; returns how many."""
        self._uidvalidity = self.mailbox.open().uidvalidity
        return self.resume()

    def resume(self) -> int:
        """Mark on the server what is recorded but not yet marked; returns how many."""
        source = self.mailbox.key
        with self.db.session() as session:
            refs = set(session.scalars(
                select(Message.ref).where(Message.source == source, Message.marked.is_(False),
                                          Message.uidvalidity == self._uidvalidity)
            ))
            refs |= set(session.scalars(
                select(QuarantineEntry.ref).where(QuarantineEntry.source == source,
                                                  QuarantineEntry.marked.is_(False),
                                                  QuarantineEntry.uidvalidity == self._uidvalidity)
            ))
        if refs:
            log.info("%s: finishing %d server mark(s) left pending by an interrupted run", source, len(refs))
            self._mark(sorted(refs, key=_ref_order))
        return len(refs)

    def run_pass(self) -> PassReport:
        """Fetch, record and mark everything new; the mailbox must be open."""
        with self.db.session() as session:
            state = session.scalar(select(MailboxState).where(MailboxState.source == self.mailbox.key))
            cursor = Cursor(state.uidvalidity, state.last_uid) if state else None
        if cursor and self._uidvalidity is not None and cursor.uidvalidity != self._uidvalidity:
            log.warning(
                "%s: UIDVALIDITY changed from %d to %d; re-scanning the folder "
                "(messages already recorded are recognised and not recorded again)",
                self.mailbox.key, cursor.uidvalidity, self._uidvalidity,
            )
        outcomes: list[Outcome] = []
        for batch in self.mailbox.fetch_new(cursor, self._known_refs):
            outcomes.extend(self._record_batch(batch))
            self._mark([m.ref for m in batch.messages])
        return PassReport(tuple(outcomes), 0)

    def run_once(self) -> PassReport:
        """Open, resume, do one pass and close: `mailbot run --once`."""
        remarked = self.open()
        try:
            report = self.run_pass()
            return PassReport(report.outcomes, remarked)
        finally:
            self.mailbox.close()

    def run(self, stop: threading.Event, on_pass: Callable[[PassReport], None] | None = None) -> None:
        """Watch the mailbox until stop is set, reconnecting with backoff; never raises MailboxError."""
        backoff, outage = Backoff(), OutageLog(log, self.mailbox.key)
        connected = False
        while not stop.is_set():
            try:
                if not connected:
                    self.open()
                    connected = True
                    outage.recovered()
                    backoff.reset()
                report = self.run_pass()
                # Every pass, empty ones too: the service records a heartbeat and retries unhandled mail.
                if on_pass:
                    on_pass(report)
                self.mailbox.wait(self.config.mailbox.idle_timeout, stop)
            except MailboxError as exc:
                outage.failed(exc)
                self.mailbox.close()
                connected = False
                stop.wait(backoff.next_delay())
        self.mailbox.close()

    # -- recording -------------------------------------------------------

    def _known_refs(self, refs: Sequence[str]) -> set[str]:
        """The refs of this source already in the database (recorded or quarantined)."""
        found: set[str] = set()
        source = self.mailbox.key
        with self.db.session() as session:
            for chunk in _chunks(list(refs), 500):
                found.update(session.scalars(
                    select(Message.ref).where(Message.source == source, Message.ref.in_(chunk),
                                              Message.uidvalidity == self._uidvalidity)
                ))
                found.update(session.scalars(
                    select(QuarantineEntry.ref).where(QuarantineEntry.source == source,
                                                      QuarantineEntry.ref.in_(chunk),
                                                      QuarantineEntry.uidvalidity == self._uidvalidity)
                ))
        return found

    def _parse(self, fetched: FetchedMessage) -> _Parsed:
        """Parse one message; a failure becomes an error text, never an exception."""
        try:
            parsed = parse(
                fetched.raw, truncated=fetched.truncated,
                keep_attachments=self.config.intake.keep_attachments,
            )
        except ParseError as exc:
            return _Parsed(fetched, None, str(exc))
        if (parsed.attachments and not self.config.intake.keep_attachments
                and (parsed.from_address or "").lower() == self.config.owner.email.lower()):
            # The owner's files may be the copy of the data to send with an approved answer
            # (mailbot.approval); their bytes are kept until used, other mail keeps only facts.
            try:
                parsed = parse(fetched.raw, truncated=fetched.truncated, keep_attachments=True)
            except ParseError as exc:
                return _Parsed(fetched, None, str(exc))
            # A logo in the owner's signature is not a file for the requester.
            parsed = replace(parsed, attachments=tuple(
                replace(a, content=None) if a.embedded else a for a in parsed.attachments
            ))
        return _Parsed(fetched, parsed, None)

    def _record_batch(self, batch: Batch) -> list[Outcome]:
        """Record one batch and its cursor in a single transaction."""
        now = clock.now()
        parsed = [self._parse(m) for m in batch.messages]
        pending: list[tuple[Outcome, Message | QuarantineEntry | None]] = []
        with self.db.session() as session:
            keys = {
                p.fetched.ref: dedupe_key(p.message.message_id, p.message.content_hash)
                for p in parsed if p.message is not None
            }
            existing = _existing_keys(session, list(keys.values()))
            senders = Counter(
                p.message.from_address for p in parsed if p.message is not None and p.message.from_address
            )
            recent = _recent_counts(session, list(senders), now - timedelta(hours=1))
            for p in parsed:
                if p.message is None:
                    pending.append(self._quarantine(session, p, now, batch.cursor.uidvalidity))
                    continue
                key = keys[p.fetched.ref]
                if key in existing:
                    pending.append((Outcome(p.fetched.ref, "duplicate", None, p.message.from_address,
                                            p.message.subject, "already recorded"), None))
                    continue
                existing.add(key)
                pending.append(self._record(session, p, key, now, batch.cursor.uidvalidity, recent))
            _store_cursor(session, self.mailbox.key, batch.cursor, now)
            session.flush()
            outcomes = [replace(o, record_id=rec.id) if rec is not None else o for o, rec in pending]
        for o in outcomes:
            log.info("%s %s: %s from %s %r%s", self.mailbox.key, o.ref, o.status, o.sender or "?",
                     o.subject[:80], f" ({o.detail})" if o.detail else "")
        return outcomes

    def _record(self, session: Session, p: _Parsed, key: str, now: datetime, uidvalidity: int,
                recent: Counter[str]) -> tuple[Outcome, Message]:
        msg = p.message
        assert msg is not None
        sender = msg.from_address
        count = recent[sender] if sender else 0
        if sender:
            recent[sender] += 1
        verdict: Verdict = screen(msg, ScreenContext(
            own_addresses=self.own_addresses,
            loop_header=self.config.bot.loop_header,
            sender_count_last_hour=count,
            sender_hourly_limit=self.config.intake.sender_hourly_limit,
            owner_addresses=frozenset({self.config.owner.email.lower()}),
        ))
        if msg.truncated:
            status: Status = "oversize"
            detail = f"{msg.size} bytes, above the {self.config.intake.max_message_size}-byte limit: recorded by its headers"
        elif not verdict.passed:
            status, detail = "screened", f"{verdict.rule}: {verdict.reason}"
        else:
            status, detail = "accepted", ""
        classification = self.classify(msg) if (status == "accepted" and self.classify) else None
        if classification:
            detail = _describe(json.loads(classification))
        record = Message(
            dedupe_key=key, source=self.mailbox.key, ref=p.fetched.ref, uidvalidity=uidvalidity,
            marked=False, received_at=now, status=status,
            screen_rule=None if verdict.passed else verdict.rule,
            screen_reason=None if verdict.passed else verdict.reason,
            message_id=msg.message_id, in_reply_to=msg.in_reply_to, references=" ".join(msg.references),
            from_address=sender, from_name=msg.from_name, to_addresses=", ".join(msg.to + msg.cc),
            subject=msg.subject, date=msg.date, size=p.fetched.size, content_hash=msg.content_hash,
            body_text=msg.body_text, new_text=msg.new_text, defects="\n".join(msg.defects),
            classification=classification,
            attachments=[
                AttachmentRecord(filename=a.filename, content_type=a.content_type, size=a.size,
                                 sha256=a.sha256, content=a.content)
                for a in msg.attachments
            ],
        )
        session.add(record)
        return Outcome(p.fetched.ref, status, None, sender, msg.subject, detail), record

    def _quarantine(self, session: Session, p: _Parsed, now: datetime,
                    uidvalidity: int) -> tuple[Outcome, QuarantineEntry | None]:
        raw = p.fetched.raw
        digest = hashlib.sha256(raw).hexdigest()
        found = session.scalar(select(QuarantineEntry).where(
            QuarantineEntry.source == self.mailbox.key, QuarantineEntry.sha256 == digest))
        if found is not None:
            return Outcome(p.fetched.ref, "duplicate", found.id, None, "", "already in quarantine"), None
        entry = QuarantineEntry(
            source=self.mailbox.key, ref=p.fetched.ref, uidvalidity=uidvalidity, marked=False,
            received_at=now, error=p.error or "unknown error", size=p.fetched.size, sha256=digest, raw=raw,
        )
        session.add(entry)
        log.warning("%s %s: quarantined: %s (see: mailbot quarantine list)", self.mailbox.key, p.fetched.ref, p.error)
        return Outcome(p.fetched.ref, "quarantined", None, None, "", p.error or ""), entry

    def _mark(self, refs: Sequence[str]) -> None:
        """Mark refs processed on the server, then note that in the database."""
        if not refs:
            return
        self.mailbox.mark_processed(refs)
        with self.db.session() as session:
            for chunk in _chunks(list(refs), 500):
                for model in (Message, QuarantineEntry):
                    session.execute(
                        update(model)
                        .where(model.source == self.mailbox.key, model.ref.in_(chunk),
                               model.uidvalidity == self._uidvalidity)
                        .values(marked=True)
                    )


def _describe(classification: dict[str, object]) -> str:
    """One line for the log and the report: the rights asked for, or why not a request."""
    labels = [str(label) for label in classification.get("labels") or [] if label != "none"]  # type: ignore[attr-defined]
    uncertain = " (uncertain: for the owner)" if classification.get("uncertain") else ""
    if classification.get("is_request"):
        return "request: " + ", ".join(labels) + uncertain
    return "not a request" + uncertain


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(keys, 500):
        found.update(session.scalars(select(Message.dedupe_key).where(Message.dedupe_key.in_(chunk))))
    return found


def _recent_counts(session: Session, senders: list[str], since: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    for chunk in _chunks(senders, 500):
        rows = session.execute(
            select(Message.from_address, func.count())
            .where(Message.from_address.in_(chunk), Message.received_at >= since)
            .group_by(Message.from_address)
        )
        for sender, n in rows:
            if sender is not None:  # from_address is nullable, but IN (...) never matches NULL
                counts[sender] = n
    return counts


def _store_cursor(session: Session, source: str, cursor: Cursor, now: datetime) -> None:
    state = session.scalar(select(MailboxState).where(MailboxState.source == source))
    if state is None:
        session.add(MailboxState(source=source, uidvalidity=cursor.uidvalidity,
                                 last_uid=cursor.last_uid, updated_at=now))
        return
    if state.uidvalidity != cursor.uidvalidity:
        state.uidvalidity, state.last_uid = cursor.uidvalidity, cursor.last_uid
    else:
        state.last_uid = max(state.last_uid, cursor.last_uid)
    state.updated_at = now


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _ref_order(ref: str) -> tuple[int, str]:
    return (int(ref), "") if ref.isdigit() else (0, ref)
