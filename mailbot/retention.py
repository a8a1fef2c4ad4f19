"""Retention: personal data is kept for `retention_months` after a case closes, then removed.

What goes, for a case closed longer ago than the period:

* its incoming mail (bodies, headers, addresses, attachments): deleted;
* its outgoing mail: the outbox rows stay as a skeleton (kind, state, dates)
  with recipient, subject and the raw message blanked;
* its challenge codes and tokens: blanked;
* the case's own personal fields (address, name, subject, identity notes):
  blanked; reference, rights, states, dates and the due date stay;
* its audit trail: every line stays (when, what kind, which state change),
  with its personal parts removed: message links, the actor when it is not
  the bot, the requester or the owner, addresses and quoted subjects in the
  detail, and text a person wrote (notes, reasons) in full.

Also, regardless of cases: mail that never joined a case, quarantine entries
and outbox mail without a case (owner notices, digests) older than the period.

The audit trail is append-only and the database enforces it. Retention is
the one deliberate exception, and the database checks that too (migration
0005): a line may be redacted once, only its personal columns may change,
and a redacted line can never change again. Redaction never deletes a line.

A case with mail still in flight (queued, sending, unknown, or a draft) is
left for a later run and listed as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from mailbot import clock
from mailbot.cases import BOT, REQUESTER, EventKind, add_event
from mailbot.casework import State
from mailbot.config import Config
from mailbot.db import Database
from mailbot.models import (
    AttachmentRecord,
    Case,
    CaseEvent,
    CaseMessage,
    Challenge,
    JobRun,
    Message,
    OutboxMessage,
    QuarantineEntry,
)

JOB = "retention"
REMOVED = "[removed]"
_IN_FLIGHT = ("draft", "queued", "sending", "unknown")
_EMAIL = re.compile(r"[^\s<>()\[\],;:'\"]+@[^\s<>()\[\],;:'\"]+")
# Subjects and addresses appear in audit details as Python reprs: 'like this' or "like this".
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


@dataclass(frozen=True)
class CaseRemoval:
    """What retention removes (or would remove) from one closed case."""

    case_id: int
    reference: str
    closed_at: datetime
    messages: int
    attachments: int
    outbox: int
    challenges: int
    audit_lines: int
    kept_because: str = ""  # non-empty: left for a later run


@dataclass(frozen=True)
class LooseRemoval:
    """One record outside any case that is past the period: a message, a quarantine entry, an outbox mail."""

    table: str  # message | quarantine | outbox
    row_id: int
    at: datetime
    what: str


@dataclass(frozen=True)
class RetentionReport:
    """What one retention run removed, or with dry_run would remove."""

    cutoff: datetime
    dry_run: bool
    cases: tuple[CaseRemoval, ...] = ()
    loose: tuple[LooseRemoval, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing was (or would be) removed."""
        return not self.loose and not any(not c.kept_because for c in self.cases)

    def lines(self) -> tuple[str, ...]:
        """Printable lines, one per case or record."""
        verb = "would remove" if self.dry_run else "removed"
        out: list[str] = []
        for c in self.cases:
            if c.kept_because:
                out.append(f"case {c.reference} (closed {c.closed_at:%Y-%m-%d}): kept for now, {c.kept_because}")
                continue
            out.append(
                f"case {c.reference} (closed {c.closed_at:%Y-%m-%d}): {verb} personal data: "
                f"{c.messages} message(s), {c.attachments} attachment(s), {c.outbox} outgoing mail(s), "
                f"{c.challenges} challenge code(s), {c.audit_lines} audit line(s) redacted"
            )
        for item in self.loose:
            out.append(f"{item.table} {item.row_id} ({item.at:%Y-%m-%d}, {item.what}): "
                       f"{'would be deleted' if self.dry_run else 'deleted'}")
        return tuple(out)


def cutoff(now: datetime, months: int) -> datetime:
    """now moved back by whole calendar months (31 March - 1 month = 28/29 February)."""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = (datetime(year + month // 12, month % 12 + 1, 1) - datetime(year, month, 1)).days
    return now.replace(year=year, month=month, day=min(now.day, last))


def apply_retention(db: Database, config: Config, now: datetime | None = None, *,
                    dry_run: bool = False) -> RetentionReport:
    """Remove (or with dry_run only list) personal data past the retention period, in one transaction."""
    when = now or clock.now()
    limit = cutoff(when, config.schedule.retention_months)
    with db.session() as session:
        removals = [_case_removal(session, case) for case in _expired_cases(session, limit)]
        loose = _loose(session, limit)
        report = RetentionReport(limit, dry_run, tuple(removals), tuple(loose))
        if dry_run:
            session.rollback()
            return report
        for removal in removals:
            if not removal.kept_because:
                _redact_case(session, session.get_one(Case, removal.case_id), config, when)
        _delete_loose(session, loose)
        day = when.astimezone(ZoneInfo(config.business.timezone)).date()
        if session.scalar(select(JobRun.id).where(JobRun.job == JOB, JobRun.on_day == day)) is None:
            session.add(JobRun(job=JOB, on_day=day, at=when,
                               detail=f"{sum(not c.kept_because for c in removals)} case(s), {len(loose)} record(s)"))
    return report


def _expired_cases(session: Session, limit: datetime) -> list[Case]:
    return list(session.scalars(
        select(Case).where(Case.state == State.CLOSED.value, Case.closed_at.is_not(None),
                           Case.closed_at <= limit, Case.redacted_at.is_(None)).order_by(Case.id)
    ))


def _message_ids(session: Session, case: Case) -> list[int]:
    """The incoming messages of a case: linked to it, or named by its audit trail."""
    linked = set(session.scalars(select(CaseMessage.message_id).where(CaseMessage.case_id == case.id)))
    named = set(session.scalars(select(CaseEvent.message_row_id).where(
        CaseEvent.case_id == case.id, CaseEvent.message_row_id.is_not(None))))
    return sorted(i for i in linked | named if i is not None)


def _case_removal(session: Session, case: Case) -> CaseRemoval:
    messages = _message_ids(session, case)
    attachments = session.scalar(select(func.count()).select_from(AttachmentRecord).where(
        AttachmentRecord.message_id.in_(messages))) or 0 if messages else 0
    states = list(session.scalars(select(OutboxMessage.state).where(OutboxMessage.case_id == case.id)))
    busy = sorted({s for s in states if s in _IN_FLIGHT})
    kept = f"it has outgoing mail still {', '.join(busy)}" if busy else ""
    assert case.closed_at is not None
    return CaseRemoval(
        case.id, case.reference, case.closed_at, len(messages), attachments, len(states),
        len(case.challenges), sum(1 for e in case.events if e.redacted_at is None), kept,
    )


def _redact_case(session: Session, case: Case, config: Config, now: datetime) -> None:
    """Blank the personal data of one case; its skeleton and audit lines stay."""
    known = [v for v in (case.requester_address, case.requester_name, case.subject) if v]
    messages = _message_ids(session, case)
    for m in session.execute(select(Message.from_address, Message.from_name, Message.subject).where(
            Message.id.in_(messages))):
        known.extend(v for v in m if v)
    keep_actors = {BOT, REQUESTER, config.owner.email.lower()}
    events_table = cast(Table, CaseEvent.__table__)  # DeclarativeBase types __table__ as a mere FromClause
    for event in list(case.events):
        if event.redacted_at is not None:
            continue
        # A Core UPDATE on purpose: the ORM refuses to change audit lines, and the database
        # allows only this shape of change (see migration 0005).
        session.execute(
            update(events_table).where(events_table.c.id == event.id).values(
                actor=event.actor if event.actor.lower() in keep_actors else REMOVED,
                detail=redact_detail(event, known, keep_actors),
                message_ref=None, message_row_id=None, redacted_at=now,
            )
        )
    session.expire(case, ["events"])
    if messages:
        session.execute(delete(AttachmentRecord).where(AttachmentRecord.message_id.in_(messages)))
        session.execute(delete(CaseMessage).where(CaseMessage.message_id.in_(messages)))
        session.execute(delete(Message).where(Message.id.in_(messages)))
    session.execute(update(OutboxMessage).where(OutboxMessage.case_id == case.id).values(
        to_address="", subject="", raw=b"", last_error=None, decision_note=None,
    ).execution_options(synchronize_session=False))
    for ch in case.challenges:
        ch.code = ""
        ch.token = f"redacted-{ch.id}"
    case.requester_address = None
    case.requester_name = ""
    case.subject = ""
    case.root_message_id = None
    case.identity_detail = None
    case.owner_attention = None
    case.redacted_at = now
    add_event(session, case, EventKind.NOTE, actor=BOT, now=now,
              detail=f"personal data removed: retention period of {config.schedule.retention_months} "
                     f"month(s) after closing has passed")


def redact_detail(event: CaseEvent, known: Iterable[str], keep_actors: set[str]) -> str:
    """An audit detail without personal data: a person's own words go whole, the bot's lose names."""
    if event.actor.lower() not in (BOT, REQUESTER):
        # Written by a person (a note, a reason, how identity was checked): cannot be sifted safely.
        return f"{REMOVED} ({event.kind} text)"
    text = event.detail or ""
    for value in sorted(set(known), key=len, reverse=True):
        text = text.replace(value, REMOVED)
    text = _QUOTED.sub(REMOVED, text)
    return _EMAIL.sub(REMOVED, text)


def _loose(session: Session, limit: datetime) -> list[LooseRemoval]:
    """Records outside any case that are past the period."""
    in_case = select(CaseMessage.message_id)
    named = select(CaseEvent.message_row_id).where(CaseEvent.message_row_id.is_not(None))
    out = [
        LooseRemoval("message", i, at, f"{status}, never part of a case")
        for i, at, status in session.execute(
            select(Message.id, Message.received_at, Message.status).where(
                Message.received_at <= limit, Message.id.not_in(in_case), Message.id.not_in(named))
            .order_by(Message.id))
    ]
    out += [
        LooseRemoval("quarantine", i, at, "unreadable mail")
        for i, at in session.execute(
            select(QuarantineEntry.id, QuarantineEntry.received_at).where(QuarantineEntry.received_at <= limit)
            .order_by(QuarantineEntry.id))
    ]
    out += [
        LooseRemoval("outbox", i, at, f"{kind}, {state}, no case")
        for i, at, kind, state in session.execute(
            select(OutboxMessage.id, OutboxMessage.created_at, OutboxMessage.kind, OutboxMessage.state).where(
                OutboxMessage.case_id.is_(None), OutboxMessage.created_at <= limit,
                OutboxMessage.state.not_in(_IN_FLIGHT)).order_by(OutboxMessage.id))
    ]
    return out


def _delete_loose(session: Session, loose: list[LooseRemoval]) -> None:
    ids = {t: [x.row_id for x in loose if x.table == t] for t in ("message", "quarantine", "outbox")}
    if ids["message"]:
        session.execute(delete(AttachmentRecord).where(AttachmentRecord.message_id.in_(ids["message"])))
        session.execute(delete(Message).where(Message.id.in_(ids["message"])))
    if ids["quarantine"]:
        session.execute(delete(QuarantineEntry).where(QuarantineEntry.id.in_(ids["quarantine"])))
    if ids["outbox"]:
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids["outbox"])))
