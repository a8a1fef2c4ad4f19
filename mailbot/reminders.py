"""Reminders and the daily digest, derived from the database so each goes out once.

Nothing here keeps a timer. Every pass asks the database what is due *now*
and records what it sends in the same transaction as the outbox row of the
mail, so a pass may run as often as it likes, after a restart or after days
switched off, and still sends each reminder once:

* Deadline reminders go to the owner when a case with a running clock is
  `reminder_days` (default 14, 7, 3, 1) days or fewer from its due date, and
  once a day while it is overdue. A case is at one *stage* on a given day: the
  smallest offset not below its days left, or its days overdue. Only that
  stage is sent, so after downtime over several reminder dates the owner gets
  one reminder (the latest applicable), never the missed ones. Within a
  cycle the offsets sent only go down (14, 7, ..., -1, -2, ...). The ledger
  (`reminders`) is unique per case, clock cycle and offset, and per case and
  day; an extension or a reopened case starts a new cycle, a clarification
  pause does not (a stage already sent is not sent again).
* Reminders are sent from `reminder_hour` in the business's time zone; a pass
  before that hour sends nothing (the pass at the hour will).
* The challenge reminder and the expiry of unanswered challenges come from
  mailbot.cases; they are idempotent by their own marks (reminded_at, state).
* The digest is once a day from `digest_hour`, recorded in `job_runs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, SQLColumnExpression, and_, bindparam, case, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from mailbot import clock
from mailbot.cases import (
    CasePolicy,
    Outgoing,
    RequestSignal,
    expire_challenges,
    record_mail_out,
    remind_challenges,
)
from mailbot.casework import State, is_open
from mailbot.config import Config
from mailbot.db import Database
from mailbot.errors import MailbotError
from mailbot.models import Case, CaseMessage, Challenge, JobRun, Message, OutboxMessage, QuarantineEntry, Reminder
from mailbot.outbox import DRAFT, compose, enqueue
from mailbot.rendering import (
    RIGHTS,
    BusinessInfo,
    CaseSummary,
    ChallengeContext,
    DigestContext,
    DraftInfo,
    PossibleRequest,
    ReminderContext,
    render,
)
from mailbot.rendering import Challenge as ChallengeInfo

log = logging.getLogger(__name__)

DEADLINE = "deadline"
DIGEST_JOB = "digest"
# The states in which the statutory clock runs (mailbot.casework._CLOCK_RUNNING).
RUNNING = (State.NEW.value, State.VERIFIED.value, State.EXTENDED.value, State.AWAITING_APPROVAL.value)


@dataclass(frozen=True)
class SentReminder:
    """One deadline reminder queued for the owner."""

    case_id: int
    reference: str
    offset: int
    days_left: int
    outbox_id: int


@dataclass(frozen=True)
class ReminderReport:
    """What one deadline-reminder pass did; `waiting` says why it sent nothing, if it did not run."""

    day: date | None
    sent: tuple[SentReminder, ...] = ()
    waiting: str = ""

    def lines(self) -> tuple[str, ...]:
        """Printable lines, one per reminder."""
        if self.waiting:
            return (f"deadline reminders: {self.waiting}",)
        return tuple(
            f"deadline reminder for {r.reference}: "
            + (f"{-r.days_left} day(s) overdue" if r.days_left < 0 else f"due in {r.days_left} day(s)")
            + f" (outbox {r.outbox_id})"
            for r in self.sent
        )


@dataclass(frozen=True)
class ChallengeReport:
    """What one challenge pass did: reminders queued to requesters, cases expired."""

    reminded: tuple[str, ...] = ()  # case references
    expired: tuple[str, ...] = ()
    queued: int = 0

    def lines(self) -> tuple[str, ...]:
        """Printable lines, one per case touched."""
        return tuple([f"identity reminder sent for {ref}" for ref in self.reminded]
                     + [f"identity check expired on {ref}" for ref in self.expired])


@dataclass(frozen=True)
class DigestReport:
    """Whether today's digest was queued; `waiting` says why not."""

    day: date
    outbox_id: int | None = None
    cases: int = 0
    drafts: int = 0
    quarantined: int = 0
    waiting: str = ""

    def lines(self) -> tuple[str, ...]:
        """One printable line."""
        if self.outbox_id is None:
            return (f"digest: {self.waiting}",)
        return (f"digest for {self.day} queued (outbox {self.outbox_id}): {self.cases} open case(s), "
                f"{self.drafts} draft(s), {self.quarantined} in quarantine",)


# -- deadline reminders -------------------------------------------------------


def stage(days_left: int, offsets: Sequence[int]) -> int | None:
    """The reminder a case is due for with days_left: its days overdue (negative), the smallest offset
    not below days_left, or None when it is not yet close to its due date."""
    if days_left < 0:
        return days_left
    eligible = [o for o in offsets if days_left <= o]
    return min(eligible) if eligible else None


def reminder_day(now: datetime, config: Config) -> date | None:
    """The business's day to send reminders for at now, or None before the reminder hour."""
    local = now.astimezone(ZoneInfo(config.business.timezone))
    return local.date() if local.hour >= config.schedule.reminder_hour else None


def _days_until(session: Session, column: SQLColumnExpression[date | None], day: date) -> ColumnElement[int]:
    """column - day in whole days, in SQL; each backend has its own date arithmetic."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.julianday(column) - func.julianday(bindparam("today_text", day.isoformat())), Integer)
    return cast(column - bindparam("today", day, type_=Date), Integer)


def _required(value: date | None, case_id: int, column: str) -> date:
    """A date the reminder query has already required to be non-NULL."""
    if value is None:
        raise MailbotError(f"case {case_id} has no {column}, yet the reminder query asked for one")
    return value


@dataclass(frozen=True)
class _Due:
    case_id: int
    reference: str
    requester_address: str
    requester_name: str
    rights: str
    received_at: datetime
    state: str
    clock_started_on: date
    extended: bool
    due_on: date
    days_left: int
    offset: int


def due_reminders(session: Session, config: Config, day: date) -> list[_Due]:
    """The cases owed a deadline reminder on day: one query, whatever the number of open cases.

    The stage is computed in SQL and joined against the ledger, so the pass
    reads only the cases that need a mail, not every reminder ever sent.
    Within a clock cycle offsets only go down: a stage not below one already
    sent is skipped, so a due date that moves later (a clarification pause)
    never brings back an earlier reminder.
    """
    offsets = sorted(set(config.schedule.reminder_days))
    days_left = _days_until(session, Case.due_on, day)
    stage_expr = case((days_left < 0, days_left), *[(days_left <= o, o) for o in offsets], else_=None)
    once = aliased(Reminder)
    today = aliased(Reminder)
    horizon = day + timedelta(days=max(offsets, default=-1))
    query = (
        select(Case.id, Case.reference, Case.requester_address, Case.requester_name, Case.rights,
               Case.received_at, Case.state, Case.clock_started_on, Case.extended, Case.due_on,
               days_left, stage_expr)
        .outerjoin(once, and_(once.case_id == Case.id, once.kind == DEADLINE,
                              once.cycle_start == Case.clock_started_on, once.extended == Case.extended,
                              once.offset <= stage_expr))
        .outerjoin(today, and_(today.case_id == Case.id, today.kind == DEADLINE, today.on_day == day))
        .where(Case.state.in_(RUNNING), Case.due_on.is_not(None), Case.due_on <= horizon,
               Case.clock_started_on.is_not(None), once.id.is_(None), today.id.is_(None))
        .order_by(Case.due_on, Case.id)
    )
    return [
        _Due(row[0], row[1], row[2] or "", row[3] or "", row[4] or "", row[5], row[6],
             _required(row[7], row[0], "clock_started_on"), bool(row[8]), _required(row[9], row[0], "due_on"),
             int(row[10]), int(row[11]))
        for row in session.execute(query)
    ]


def send_deadline_reminders(db: Database, config: Config, now: datetime | None = None) -> ReminderReport:
    """Queue every deadline reminder due now, each with its ledger row, in one transaction."""
    when = now or clock.now()
    day = reminder_day(when, config)
    if day is None:
        return ReminderReport(None, waiting=f"not before {config.schedule.reminder_hour}:00 "
                                            f"{config.business.timezone}")
    business = BusinessInfo.from_config(config)
    sent: list[SentReminder] = []
    try:
        with db.session() as session:
            for due in due_reminders(session, config, day):
                rendered = render("owner_deadline_reminder", ReminderContext(
                    business=business, case=_summary(due, config), today=day, days_left=due.days_left))
                msg = _owner_mail(rendered, config)
                row = enqueue(session, msg, kind="owner_deadline_reminder", bot=config.bot,
                              case_id=due.case_id, when=when)
                session.add(Reminder(case_id=due.case_id, kind=DEADLINE, cycle_start=due.clock_started_on,
                                     extended=due.extended, offset=due.offset, due_on=due.due_on, on_day=day,
                                     sent_at=when, outbox_id=row.id))
                sent.append(SentReminder(due.case_id, due.reference, due.offset, due.days_left, row.id))
            # Flush inside the try: a duplicate (another process was quicker) surfaces here.
            session.flush()
    except IntegrityError:
        # Everything of this pass was rolled back with it; the next pass sends what is still owed.
        log.warning("deadline reminders: another mailbot process recorded some of these first; "
                    "nothing was sent twice, the next pass sends what is still due")
        return ReminderReport(day, waiting="skipped: another process was sending the same reminders")
    return ReminderReport(day, tuple(sent))


def _summary(due: _Due, config: Config) -> CaseSummary:
    """The case as the reminder shows it."""
    tz = ZoneInfo(config.business.timezone)
    return CaseSummary(
        reference=due.reference, requester_address=due.requester_address,
        rights=tuple(r for r in due.rights.split(",") if r in RIGHTS),
        received_on=due.received_at.astimezone(tz).date(), requester_name=due.requester_name,
        due_on=due.due_on, state=due.state,
    )


def _owner_mail(rendered: object, config: Config) -> EmailMessage:
    """A mail to the owner, marked as generated by a machine (not a reply to anyone)."""
    msg = compose(rendered, bot=config.bot, to=config.owner.email)  # type: ignore[arg-type]
    msg["Auto-Submitted"] = "auto-generated"
    return msg


# -- identity challenges ------------------------------------------------------

QueueOutgoing = Callable[[Session, Config, Outgoing], int | None]


def run_challenges(db: Database, config: Config, now: datetime | None = None, *,
                   queue: QueueOutgoing | None = None) -> ChallengeReport:
    """Remind requesters of unanswered codes and expire the codes nobody answered, in one transaction.

    queue renders and queues an Outgoing; by default mailbot.workflow's when it
    has one, else the challenge reminder is queued here and owner notices are
    left to the digest (which lists expired cases as closed-to-be).
    """
    when = now or clock.now()
    policy = CasePolicy.from_config(config)
    send = queue or _workflow_queue(when) or queue_outgoing
    reminded: list[str] = []
    expired: list[str] = []
    queued = 0
    with db.session() as session:
        for out in remind_challenges(session, policy=policy, now=when):
            if send(session, config, out) is not None:
                queued += 1
            reminded.append(out.case_reference)
        before = {c.id: c.reference for c in session.scalars(
            select(Case).where(Case.state == State.AWAITING_IDENTITY.value))}
        for out in expire_challenges(session, when, policy=policy):
            if send(session, config, out) is not None:
                queued += 1
        expired = [ref for cid, ref in before.items()
                   if (c := session.get(Case, cid)) is not None and c.state == State.EXPIRED.value]
    return ChallengeReport(tuple(reminded), tuple(expired), queued)


def _workflow_queue(when: datetime) -> QueueOutgoing | None:
    """mailbot.workflow's queue_outgoing (it renders every kind, owner notices too), when importable."""
    try:
        from mailbot import workflow
    except ImportError as exc:
        log.debug("mailbot.workflow not available (%s); queueing challenge reminders here", exc)
        return None

    def send(session: Session, config: Config, out: Outgoing) -> int | None:
        return workflow.queue_outgoing(session, out, config, now=when).id

    return send


def queue_outgoing(session: Session, config: Config, out: Outgoing) -> int | None:
    """Render and queue the outgoing kinds this module produces; returns the outbox id, None if not queued."""
    if out.kind != "challenge_reminder":
        log.warning("case %s: no way to send a %s (%s) without mailbot.workflow; the daily digest shows the case",
                    out.case_reference, out.kind, out.reason or "-")
        return None
    case_row = session.get(Case, out.case_id)
    challenge = session.get(Challenge, out.challenge_id) if out.challenge_id is not None else None
    if case_row is None or challenge is None or out.expires_at is None:
        return None
    tz = ZoneInfo(config.business.timezone)
    context = ChallengeContext(
        business=BusinessInfo.from_config(config),
        case=CaseSummary(
            reference=case_row.reference, requester_address=case_row.requester_address or "",
            rights=tuple(r for r in case_row.rights.split(",") if r in RIGHTS),
            received_on=case_row.received_at.astimezone(tz).date(), requester_name=case_row.requester_name,
        ),
        challenge=ChallengeInfo(code=challenge.code, expires_on=out.expires_at.astimezone(tz).date(),
                                valid_days=config.identity.code_ttl_days, token=challenge.token),
    )
    rendered = render("challenge_reminder", context)
    if out.subject_tag not in rendered.subject:
        # The token in the subject is how a reply without thread headers finds its challenge.
        rendered = type(rendered)(subject=f"{rendered.subject} {out.subject_tag}", text=rendered.text,
                                  html=rendered.html)
    msg = compose(rendered, bot=config.bot, to=out.to, in_reply_to=out.reply_to_message_id,
                  references=out.references)
    draft = config.responses.policy("challenge_reminder") == "draft"
    row = enqueue(session, msg, kind=out.kind, bot=config.bot, case_id=out.case_id, draft=draft)
    record_mail_out(session, case_row, row.message_id, kind=out.kind, to=out.to)
    return row.id


# -- the digest -----------------------------------------------------------------


def send_digest(db: Database, config: Config, now: datetime | None = None) -> DigestReport:
    """Queue today's digest for the owner once, from `digest_hour` on."""
    when = now or clock.now()
    local = when.astimezone(ZoneInfo(config.business.timezone))
    day = local.date()
    if not config.schedule.digest:
        return DigestReport(day, waiting="switched off ([schedule] digest = false)")
    if local.hour < config.schedule.digest_hour:
        return DigestReport(day, waiting=f"not before {config.schedule.digest_hour}:00 {config.business.timezone}")
    try:
        with db.session() as session:
            if session.scalar(select(JobRun.id).where(JobRun.job == DIGEST_JOB, JobRun.on_day == day)):
                return DigestReport(day, waiting=f"already sent for {day}")
            context = digest_context(session, config, day)
            rendered = render("owner_daily_digest", context)
            row = enqueue(session, _owner_mail(rendered, config), kind="owner_daily_digest", bot=config.bot,
                          when=when)
            session.add(JobRun(job=DIGEST_JOB, on_day=day, at=when, detail=f"outbox {row.id}"))
            session.flush()
    except IntegrityError:
        return DigestReport(day, waiting="another process sent it first")
    return DigestReport(day, row.id, len(context.cases), len(context.drafts), context.quarantined)


def digest_context(session: Session, config: Config, day: date) -> DigestContext:
    """What the digest shows: open cases with their due dates, drafts waiting, quarantined mail."""
    tz = ZoneInfo(config.business.timezone)
    cases = tuple(
        CaseSummary(reference=c.reference, requester_address=c.requester_address or "",
                    rights=tuple(r for r in c.rights.split(",") if r in RIGHTS),
                    received_on=c.received_at.astimezone(tz).date(), requester_name=c.requester_name,
                    due_on=c.due_on, state=c.state)
        for c in session.execute(
            select(Case.reference, Case.requester_address, Case.rights, Case.received_at, Case.requester_name,
                   Case.due_on, Case.state).where(Case.redacted_at.is_(None)).order_by(Case.id)
        )
        if is_open(c.state)
    )
    drafts = tuple(
        DraftInfo(number=d.id, token=d.approval_token or "", kind=d.kind, subject=d.subject, text="")
        for d in session.scalars(select(OutboxMessage).where(OutboxMessage.state == DRAFT).order_by(OutboxMessage.id))
    )
    quarantined = session.scalar(select(func.count()).select_from(QuarantineEntry)) or 0
    possible = possible_requests(session, config, day) if config.owner.possible_requests == "digest" else ()
    return DigestContext(business=BusinessInfo.from_config(config), today=day, cases=cases, drafts=drafts,
                         quarantined=quarantined, possible=possible)


def possible_requests(session: Session, config: Config, day: date) -> tuple[PossibleRequest, ...]:
    """Mail handled since the last digest (or in the last day) that may be a request and joined no case."""
    previous = session.scalar(
        select(JobRun.at).where(JobRun.job == DIGEST_JOB, JobRun.on_day < day).order_by(JobRun.on_day.desc()).limit(1)
    )
    tz = ZoneInfo(config.business.timezone)
    since = previous or datetime.combine(day - timedelta(days=1), time(0), tzinfo=tz)
    own = CasePolicy.from_config(config).own_addresses
    rows = session.scalars(
        select(Message).where(
            Message.status == "accepted", Message.handled_at >= since,
            ~select(CaseMessage.message_id).where(CaseMessage.message_id == Message.id).exists(),
        ).order_by(Message.id)
    )
    found = []
    for message in rows:
        signal = RequestSignal.from_json(message.classification)
        if (message.from_address or "").lower() in own or signal.is_request:
            continue
        if signal.uncertain or signal.follow_up:
            found.append(PossibleRequest(message.id, message.from_address or "(no address)", message.subject,
                                         message.received_at.astimezone(tz).date()))
    return tuple(found)
