"""The workflow stage: what happens to a recorded message after intake (case → draft → approve).

`process_new` takes every accepted message not yet handled, one at a time,
and does all that follows from it in ONE transaction: the case decision
(mailbot.cases), the replies it calls for rendered and put in the outbox
(queued, or a draft for the owner per ``[responses]``), their Message-IDs
recorded on the case so replies find it, and the message marked handled.
A crash anywhere in between rolls all of it back, and the next pass does the
message again from the start: never half of it, never twice.

Mail from the owner's address goes to mailbot.approval instead (approve,
reject or edit a draft). Ordinary mail that is no request is just marked
handled: the owner answers it by hand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import approval, cases, clock, responses
from mailbot.config import Config
from mailbot.db import Database
from mailbot.errors import MailbotError
from mailbot.models import Case, Challenge, Message, OutboxMessage
from mailbot.outbox import compose, enqueue
from mailbot.rendering import (
    KINDS,
    RIGHTS,
    BusinessInfo,
    CaseContext,
    CaseSummary,
    ChallengeContext,
    ClarificationContext,
    ClosedContext,
    Context,
    Correction,
    ExtensionContext,
    NoticeContext,
    Outcome,
    RefusalContext,
    RenderError,
    ResponseContext,
    WrongCodeContext,
    render,
)
from mailbot.rendering import Challenge as ChallengeInfo

log = logging.getLogger(__name__)

# A request quoted back to its sender is cut here: enough to recognise it, never a whole thread.
_QUOTE_LIMIT = 4000


@dataclass(frozen=True)
class Line:
    """One thing the workflow did, printable as one line."""

    message: int | None  # the incoming message's record id
    case: str  # the case reference, "" when there is none
    action: str

    def __str__(self) -> str:
        where = f" [{self.case}]" if self.case else ""
        return f"message {self.message}{where}: {self.action}"


@dataclass(frozen=True)
class WorkflowReport:
    """What one `process_new` pass did: a line per action, the messages handled, those that failed."""

    lines: tuple[Line, ...] = ()
    handled: tuple[int, ...] = ()
    failed: tuple[tuple[int, str], ...] = ()  # (message id, why); each is retried on the next pass

    def __str__(self) -> str:
        return "\n".join(str(line) for line in self.lines)


def process_new(database: Database, config: Config, *, now: datetime | None = None) -> WorkflowReport:
    """Handle every accepted message not yet handled, each in its own transaction."""
    policy = cases.CasePolicy.from_config(config)
    with database.session() as session:
        ids = list(session.scalars(
            select(Message.id).where(Message.status == "accepted", Message.handled_at.is_(None))
            .order_by(Message.id)
        ))
    lines: list[Line] = []
    handled: list[int] = []
    failed: list[tuple[int, str]] = []
    for message_id in ids:
        try:
            with database.session() as session:
                # SKIP LOCKED: a second runner (PostgreSQL) leaves the message to the first.
                message = session.scalar(
                    select(Message).where(Message.id == message_id, Message.handled_at.is_(None))
                    .with_for_update(skip_locked=True)
                )
                if message is None:
                    continue
                done = handle_message(session, message, config, policy=policy, now=now)
        except MailbotError as exc:
            # Rolled back whole; the message stays unhandled and is tried again next pass.
            log.error("message %d could not be handled (it will be tried again): %s", message_id, exc)
            failed.append((message_id, str(exc)))
            lines.append(Line(message_id, "", f"not handled, will be tried again: {exc}"))
            continue
        handled.append(message_id)
        lines.extend(done)
        for line in done:
            log.info("%s", line)
    return WorkflowReport(tuple(lines), tuple(handled), tuple(failed))


def handle_message(session: Session, message: Message, config: Config, *, policy: cases.CasePolicy,
                   now: datetime | None = None) -> tuple[Line, ...]:
    """In session: do all that follows from one recorded message, then mark it handled."""
    when = now or clock.now()
    if message.handled_at is not None:
        return (Line(message.id, "", "already handled"),)
    if is_from_owner(message, config):
        decision = approval.handle_owner_mail(session, message, config, now=when)
        lines = [Line(message.id, decision.case_reference, decision.detail)]
        confirmation = approval.confirm(session, message, decision, config, now=when)
        if confirmation is not None:
            lines.append(Line(message.id, decision.case_reference, _queued(confirmation)))
    else:
        lines = _handle_case_mail(session, message, config, policy, when)
    message.handled_at = when
    return tuple(lines)


def is_from_owner(message: Message, config: Config) -> bool:
    """True when the message's From is the owner's address (the token decides whether it counts)."""
    return bool(message.from_address) and (message.from_address or "").lower() == config.owner.email.lower()


def _handle_case_mail(session: Session, message: Message, config: Config, policy: cases.CasePolicy,
                      now: datetime) -> list[Line]:
    """The case decision for a message, and each mail it calls for queued or drafted."""
    decision = cases.open_or_join(session, message, policy=policy, now=now)
    reference = decision.case_reference or ""
    lines = [Line(message.id, reference, _describe(decision))]
    outgoing = list(decision.outgoing)
    case = session.get(Case, decision.case_id) if decision.case_id is not None else None
    rows = queue_all(session, config, outgoing, parent=message, now=now)
    if case is not None and responses.wanted(session, case):
        # Identity confirmed, a clarification answered or a case reopened: draft the answers now.
        rows.extend(draft_answers(session, case, config, policy=policy, now=now))
    lines.extend(Line(message.id, reference, _queued(row)) for row in rows)
    return lines


def draft_answers(session: Session, case: Case, config: Config, *, policy: cases.CasePolicy,
                  actor: str = cases.BOT, now: datetime | None = None) -> list[OutboxMessage]:
    """Draft (or queue, per [responses]) the answer to each right of a verified case.

    Every answer is rendered once before anything is written: when one cannot
    be (say [privacy] is not filled in), no answer is drafted, the case asks
    for the owner's attention and the owner is told why, and the message that
    confirmed identity is still handled.
    """
    intents = responses.plan(session, case)
    try:
        for intent in intents:
            render(intent.kind, build_context(session, intent, case, config))
    except RenderError as exc:
        case.owner_attention = f"the answers could not be drafted: {exc}; then run: mailbot cases respond {case.id}"
        cases.add_event(session, case, cases.EventKind.NOTE, actor=actor, now=now, detail=case.owner_attention)
        log.error("case %s: %s", case.reference, case.owner_attention)
        if not policy.owner_email:
            return []
        notice = cases.owner_notice(case, policy, "cannot_draft", case.owner_attention)
        return [queue_outgoing(session, notice, config, now=now)]
    return queue_all(session, config, responses.prepare(session, case, intents, actor=actor, now=now), now=now)


def queue_all(session: Session, config: Config, outgoing: Sequence[cases.Outgoing], *,
              parent: Message | None = None, now: datetime | None = None) -> list[OutboxMessage]:
    """Queue (or draft) each intent, then settle the state of every case that got an answer.

    Also the `Deliver` hook of mailbot.cli.cases.
    """
    rows = [queue_outgoing(session, intent, config, parent=parent, now=now) for intent in outgoing]
    answered = {row.case_id for row in rows if row.case_id is not None and responses.is_response(row.kind)}
    for case_id in sorted(answered):
        case = session.get(Case, case_id)
        if case is not None:
            responses.settle(session, case, now=now)
    return rows


def queue_outgoing(session: Session, outgoing: cases.Outgoing, config: Config, *,
                   parent: Message | None = None, now: datetime | None = None) -> OutboxMessage:
    """Render one case intent, put it in the outbox (queued or draft) and tell the case its Message-ID.

    parent is the incoming message being answered, if any: its References are
    carried on so the reply threads in every client.
    """
    when = now or clock.now()
    case = session.get(Case, outgoing.case_id) if outgoing.case_id is not None else None
    context = build_context(session, outgoing, case, config, parent)
    rendered = render(outgoing.kind, context)
    _check_subject_tag(outgoing, rendered.subject)
    msg = compose(rendered, bot=config.bot, to=outgoing.to, in_reply_to=outgoing.reply_to_message_id,
                  references=_references(outgoing, parent))
    to_owner = KINDS[outgoing.kind].audience == "owner"
    if to_owner:
        # A notice we generated, not an answer to anyone (RFC 3834).
        msg["Auto-Submitted"] = "auto-generated"
    draft = not to_owner and config.responses.policy(outgoing.kind) == "draft"
    row = enqueue(session, msg, kind=outgoing.kind, bot=config.bot, case_id=outgoing.case_id, draft=draft,
                  when=when)
    if draft:
        approval.request_approval(session, row, config, now=when)
    elif case is not None:
        cases.record_mail_out(session, case, row.message_id, kind=outgoing.kind, to=outgoing.to,
                              challenge_id=outgoing.challenge_id, now=when)
    return row


def build_context(session: Session, outgoing: cases.Outgoing, case: Case | None, config: Config,
                  parent: Message | None = None) -> Context:
    """The rendering context for one intent, from the case as it stands now."""
    business = BusinessInfo.from_config(config)
    kind = outgoing.kind
    if kind == "owner_notice":
        about = parent if parent is not None and _same_id(parent.message_id, outgoing.reply_to_message_id) else None
        return NoticeContext(
            business=business, reason=outgoing.reason,  # type: ignore[arg-type]
            subject_tag=outgoing.subject_tag, detail=outgoing.detail,
            case=case_summary(session, case, config.business.timezone) if case is not None else None,
            message_from=(about.from_address or "") if about is not None else "",
            message_subject=about.subject if about is not None else "",
        )
    if case is None:
        raise RenderError(f"a {kind} message needs a case, and intent for {outgoing.to} has none")
    summary = case_summary(session, case, config.business.timezone)
    if kind in ("ack_challenge", "challenge_reminder"):
        challenge = session.get(Challenge, outgoing.challenge_id) if outgoing.challenge_id is not None else None
        if challenge is None:
            raise RenderError(f"a {kind} message for case {case.reference} needs its challenge")
        tz = ZoneInfo(config.business.timezone)
        info = ChallengeInfo(
            code=challenge.code, expires_on=challenge.expires_at.astimezone(tz).date(),
            valid_days=config.identity.code_ttl_days, token=challenge.token,
        )
        return ChallengeContext(business, summary, info)
    if kind == "identity_wrong_code":
        return WrongCodeContext(business, summary, attempts_left=outgoing.attempts_left or 0)
    if kind == "clarification":
        return ClarificationContext(business, summary, questions=(outgoing.detail,))
    if kind == "extension":
        if outgoing.due_on is None:
            raise RenderError(f"an extension notice for case {case.reference} needs the new due date")
        return ExtensionContext(business, summary, reasons=(outgoing.reason,), new_due_on=outgoing.due_on)
    if kind in ("identity_confirmed", "identity_locked", "identity_expired", "complaint_ack", "owner_new_case"):
        return CaseContext(business, summary)
    if responses.is_response(kind):
        corrections = requested_corrections(session, case) if kind == "response_rectification" else ()
        return ResponseContext(business, summary, config.privacy, Outcome(corrections=corrections))
    if kind == "refusal":
        return RefusalContext(business, summary, reasons=(outgoing.reason,))
    if kind == "case_closed":
        return ClosedContext(business, summary, reason=outgoing.reason)  # type: ignore[arg-type]
    raise RenderError(f"the workflow has no context for a {kind!r} message (case {case.reference})")


def case_summary(session: Session, case: Case, timezone: str) -> CaseSummary:
    """What the templates say about a case; the request is quoted from the message that opened it.

    timezone is the business's: the day of receipt is a local day.
    """
    requests = cases.messages_of(session, case, "request")
    text = ""
    if requests:
        text = (requests[0].new_text or requests[0].body_text or "").strip()[:_QUOTE_LIMIT]
    return CaseSummary(
        reference=case.reference,
        requester_address=case.requester_address or "",
        rights=tuple(r for r in cases.rights_of(case) if r in RIGHTS),
        received_on=case.received_at.astimezone(ZoneInfo(timezone)).date(),
        requester_name=case.requester_name or "",
        due_on=case.due_on,
        request_text=text,
        state=case.state,
    )


def requested_corrections(session: Session, case: Case) -> tuple[Correction, ...]:
    """The corrections the requester asked for, as the classifier found them in their mail.

    They prefill the rectification draft, which the owner approves only once
    the corrections are made (or edits).
    """
    found: list[Correction] = []
    for message in cases.messages_of(session, case):
        try:
            details = json.loads(message.classification or "{}").get("details") or {}
        except (json.JSONDecodeError, AttributeError):
            continue
        for item in details.get("corrections") or []:
            if isinstance(item, dict) and item.get("right"):
                found.append(Correction(field="", old=str(item.get("wrong") or ""), new=str(item["right"])))
    return tuple(dict.fromkeys(found))


def _references(outgoing: cases.Outgoing, parent: Message | None) -> list[str]:
    """The parent's References (when we answer the parent) followed by the intent's own."""
    refs: list[str] = []
    if parent is not None and _same_id(parent.message_id, outgoing.reply_to_message_id):
        refs.extend(f"<{r.strip('<>')}>" for r in (parent.references or "").split() if r.strip("<>"))
    refs.extend(outgoing.references)
    return list(dict.fromkeys(refs))


def _same_id(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and (a or "").strip().strip("<>") == (b or "").strip().strip("<>")


def _check_subject_tag(outgoing: cases.Outgoing, subject: str) -> None:
    """Refuse a subject that lost part of the tag: a challenge reply is matched by it."""
    for piece in outgoing.subject_tag.strip("[]").split():
        if piece not in subject:
            raise RenderError(
                f"the {outgoing.kind} subject {subject!r} lacks {piece!r} from {outgoing.subject_tag!r}; "
                f"fix templates/{outgoing.kind}.subject.j2"
            )


def _describe(decision: cases.CaseDecision) -> str:
    """The case decision as the owner reads it in a log."""
    detail = f": {decision.detail}" if decision.detail else ""
    if decision.action == "identity_reply" and decision.challenge is not None:
        return f"identity reply, {decision.challenge.outcome}"
    return f"{decision.action.replace('_', ' ')}{detail}"


def _queued(row: OutboxMessage) -> str:
    """One outbox row as a log line."""
    what = f"draft {row.id} waits for approval" if row.state == "draft" else f"queued as outbox {row.id}"
    return f"{row.kind} to {row.to_address} {what}"


__all__ = [
    "Line",
    "WorkflowReport",
    "build_context",
    "case_summary",
    "draft_answers",
    "handle_message",
    "is_from_owner",
    "process_new",
    "queue_all",
    "requested_corrections",
    "queue_outgoing",
]
