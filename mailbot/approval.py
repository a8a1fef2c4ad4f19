"""Owner approval of drafts: by replying to the "Draft N to approve" email, or from the CLI.

A draft is an outbox row in state ``draft``. When it is made, it gets an
unguessable approval token (128 bits) and the owner is sent an `owner_draft`
email carrying the token in its subject, the draft, and a case summary.

A reply counts only when BOTH hold:

* it comes From the owner's address, and
* it carries the token of a draft still waiting (in the subject, or in the
  quoted text of the body).

A forged From alone approves nothing (the forger does not know the token), a
wrong or spent token approves nothing, and a token sent from another address
is not even looked at (mailbot.workflow only hands owner mail to this module).
The command is read from the newest part of the reply only (Message.new_text),
so the quoted instructions and draft are never taken for the owner's words:

* ``approve`` queues the draft as it is;
* ``reject <reason>`` cancels it and keeps the reason;
* ``edit`` followed by the full replacement text queues that text instead
  (plain text only; the HTML alternative of the draft is dropped).

Files the owner attaches to an ``approve`` or ``edit`` reply go with the answer (or, from
the CLI, ``--attach``): the copy of the data an access request asks for, or the export of
a portability request.

A message approved by a person is not an automatic reply, so its
``Auto-Submitted`` header is removed. Every decision is written to the case's
audit trail with who made it.
"""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import mimetypes
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import cases, clock, responses
from mailbot.config import Config
from mailbot.errors import MailbotError, NotFound
from mailbot.models import Case, Message, OutboxMessage
from mailbot.outbox import CANCELLED, DRAFT, QUEUED, compose, enqueue
from mailbot.rendering import BusinessInfo, DecisionContext, DraftContext, DraftInfo, render

# secrets.token_hex(16): 32 hex digits, 128 bits; unlike the challenge tokens (urlsafe, 22).
_TOKEN_BYTES = 16
_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32}(?![0-9A-Za-z])")
_CHALLENGE_KINDS = ("ack_challenge", "challenge_reminder")

# Files sent with one answer, in all. Base64 makes them a third larger, and many mail servers
# refuse a message above 20 to 25 MB; a larger export goes by a download link instead.
MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024

Verb = Literal["approve", "reject", "edit"]
Action = Literal["approved", "rejected", "edited", "ignored"]


class ApprovalError(MailbotError):
    """A draft cannot be approved, rejected or edited as asked."""


@dataclass(frozen=True)
class Attachment:
    """A file the owner sends with an answer: the copy of the data, an export."""

    filename: str
    content_type: str
    data: bytes

    @classmethod
    def read(cls, path: Path) -> Attachment:
        """The file at path, typed by its name (unknown types go as application/octet-stream)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ApprovalError(f"cannot attach {path}: {exc.strerror or exc}; nothing was changed") from exc
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return cls(path.name, content_type, data)

    def describe(self) -> str:
        """name, size and the start of its SHA-256, for the audit trail."""
        return f"{self.filename} ({_size(len(self.data))}, sha256 {hashlib.sha256(self.data).hexdigest()[:16]})"


@dataclass(frozen=True)
class Command:
    """What the owner's reply asks for; text is the reason (reject) or the new text (edit)."""

    verb: Verb
    text: str = ""


@dataclass(frozen=True)
class Decision:
    """What an owner's email did; "ignored" leaves every draft as it was."""

    action: Action
    draft_id: int | None = None
    case_reference: str = ""
    detail: str = ""
    files: tuple[str, ...] = ()  # the owner's attachments sent with the answer, described


# -- making a draft ------------------------------------------------------------


def new_token() -> str:
    """A fresh, unguessable approval token."""
    return secrets.token_hex(_TOKEN_BYTES)


def request_approval(session: Session, row: OutboxMessage, config: Config, *,
                     now: datetime | None = None) -> OutboxMessage:
    """Give a draft its token and queue the owner's "Draft N to approve" email; returns that email's row."""
    when = now or clock.now()
    if row.state != DRAFT:
        raise ApprovalError(f"outbox message {row.id} is {row.state}, not a draft; only drafts need approval")
    if row.approval_token is None:
        row.approval_token = new_token()
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    if case is None:
        raise ApprovalError(f"draft {row.id} has no case; the owner's email needs one to summarise")
    from mailbot.workflow import case_summary  # the workflow imports this module

    context = DraftContext(
        business=BusinessInfo.from_config(config),
        case=case_summary(session, case, config.business.timezone),
        draft=DraftInfo(number=row.id, token=row.approval_token, kind=row.kind, subject=row.subject,
                        text=draft_text(row)),
        reply_to=config.bot.address,
    )
    msg = compose(render("owner_draft", context), bot=config.bot, to=config.owner.email)
    msg["Auto-Submitted"] = "auto-generated"
    notice = enqueue(session, msg, kind="owner_draft", bot=config.bot, case_id=row.case_id, when=when)
    cases.add_event(session, case, cases.EventKind.NOTE, actor=cases.BOT, now=when,
                    detail=f"draft {row.id} ({row.kind} to {row.to_address}) waits for the owner's approval")
    cases.record_mail_out(session, case, notice.message_id, kind="owner_draft", to=config.owner.email, now=when)
    return notice


# -- looking drafts up ---------------------------------------------------------


def drafts(session: Session) -> list[OutboxMessage]:
    """The drafts waiting for approval, oldest first."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.state == DRAFT).order_by(OutboxMessage.id)))


def get_draft(session: Session, number: int) -> OutboxMessage:
    """Draft number, locked for the decision; NotFound or ApprovalError saying why not."""
    row = session.get(OutboxMessage, number, with_for_update=True)
    if row is None:
        raise NotFound(f"no draft {number} (see: mailbot drafts list)")
    if row.state != DRAFT:
        decided = f" ({row.decision_note})" if row.decision_note else ""
        raise ApprovalError(f"outbox message {number} is {row.state}{decided}, not a draft waiting for approval")
    return row


def draft_text(row: OutboxMessage) -> str:
    """The plain-text body of an outbox message, as the recipient will read it."""
    body = _parse(row.raw).get_body(preferencelist=("plain",))
    if body is None:
        return ""
    content = body.get_content()  # type: ignore[attr-defined]
    return str(content).replace("\r\n", "\n")


# -- deciding --------------------------------------------------------------------


def approve(session: Session, number: int, *, actor: str, config: Config,
            attachments: Sequence[Attachment] = (), now: datetime | None = None) -> OutboxMessage:
    """Queue draft number as it is (with attachments, if any), approved by actor."""
    when = now or clock.now()
    _check_size(number, attachments)
    row = get_draft(session, number)
    msg = _parse(row.raw)
    _release(session, row, msg, actor=actor, config=config, note="approved as drafted", now=when,
             attachments=attachments)
    return row


def edit(session: Session, number: int, text: str, *, actor: str, config: Config,
         attachments: Sequence[Attachment] = (), now: datetime | None = None) -> OutboxMessage:
    """Queue draft number with text instead of its own (plain text only), approved by actor."""
    when = now or clock.now()
    new_text = text.replace("\r\n", "\n").strip("\n")
    if not new_text.strip():
        raise ApprovalError(f"the replacement text for draft {number} is empty; nothing was changed")
    _check_size(number, attachments)
    row = get_draft(session, number)
    old = _parse(row.raw)
    msg = EmailMessage()
    for name in ("From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", config.bot.loop_header):
        for value in old.get_all(name, []):
            msg[name] = value
    msg.set_content(new_text + "\n")
    _release(session, row, msg, actor=actor, config=config, note="edited and approved", now=when,
             attachments=attachments)
    return row


def _check_size(number: int, attachments: Sequence[Attachment]) -> None:
    """Refuse attachments too large to go by mail, before anything changes."""
    total = sum(len(a.data) for a in attachments)
    if total > MAX_ATTACHMENT_BYTES:
        raise ApprovalError(
            f"the files for draft {number} come to {_size(total)}; mail servers often refuse messages "
            f"that large (the limit here is {_size(MAX_ATTACHMENT_BYTES)}): send a download link instead "
            f"(mailbot drafts edit {number}); nothing was changed"
        )


def _size(n: int) -> str:
    """A byte count as people read it."""
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, round(n / 1024))} KB"


def reject(session: Session, number: int, reason: str, *, actor: str,
           now: datetime | None = None) -> OutboxMessage:
    """Cancel draft number; it is never sent, and the reason is kept."""
    when = now or clock.now()
    if not reason.strip():
        raise ApprovalError(f"say why draft {number} is rejected: it is kept with the case")
    row = get_draft(session, number)
    row.state = CANCELLED
    row.next_attempt_at = None
    row.decided_at = when
    row.decision_note = f"rejected by {actor}: {reason.strip()}"
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    if case is not None:
        cases.record_approval(session, case, f"draft {row.id} ({row.kind}) rejected: {reason.strip()}",
                              actor=actor, now=when)
        if responses.is_response(row.kind):
            responses.settle(session, case, actor=actor, now=when)
    return row


def _release(session: Session, row: OutboxMessage, msg: EmailMessage, *, actor: str, config: Config,
             note: str, now: datetime, attachments: Sequence[Attachment] = ()) -> None:
    """Store msg as the draft's final bytes and queue it, approved by actor; audit it on the case."""
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
    if attachments:
        note += " with " + ", ".join(item.describe() for item in attachments)
    # A person approved it: not an automatic reply (RFC 3834), and dated when it really leaves.
    del msg["Auto-Submitted"]
    del msg["Date"]
    msg["Date"] = email.utils.format_datetime(now)
    row.raw = msg.as_bytes(policy=email.policy.SMTP)
    row.state = QUEUED
    row.next_attempt_at = now
    row.queued_at = now
    row.approved_by = actor
    row.approved_at = now
    row.decided_at = now
    row.decision_note = f"{note} by {actor}"
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    if case is None:
        return
    cases.record_approval(session, case, f"draft {row.id} ({row.kind}) {note}", actor=actor, now=now)
    challenge = cases.active_challenge(case) if row.kind in _CHALLENGE_KINDS else None
    first_address = row.to_address.split(",")[0].strip()
    cases.record_mail_out(session, case, row.message_id, kind=row.kind, to=first_address, actor=actor,
                          challenge_id=challenge.id if challenge is not None else None, now=now)
    if responses.is_response(row.kind):
        responses.settle(session, case, actor=actor, now=now)


# -- the owner's email ------------------------------------------------------------


def parse_command(text: str) -> Command:
    """Read approve / reject <reason> / edit <text> from the start of the owner's new text."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise ApprovalError("the reply is empty; start it with approve, reject <reason> or edit")
    first = lines[0].strip()
    word, _, rest = first.partition(" ")
    verb = word.strip(".,:;!").lower()
    following = "\n".join(lines[1:])
    if verb == "approve":
        return Command("approve")
    if verb == "reject":
        reason = " ".join(f"{rest}\n{following}".split())
        if not reason:
            raise ApprovalError("reject needs a reason on the same line, e.g. 'reject we hold no data about them'")
        return Command("reject", reason)
    if verb == "edit":
        replacement = "\n".join(x for x in (rest.strip(), following.strip("\n")) if x).rstrip()
        if not replacement.strip():
            raise ApprovalError("edit needs the replacement text on the lines after it")
        return Command("edit", replacement + "\n")
    raise ApprovalError(f"the reply starts with {first[:40]!r}; start it with approve, reject <reason> or edit")


def find_token(message: Message) -> str | None:
    """The one draft token a reply carries: in the subject, else in the body (quotes included).

    None when there is none, or when the body names several drafts (e.g. a
    reply to a digest), since a reply must be about exactly one draft.
    """
    for text in (message.subject or "", message.body_text or ""):
        found = {t.lower() for t in _TOKEN.findall(text)}
        if len(found) == 1:
            return found.pop()
        if len(found) > 1:
            return None
    return None


def handle_owner_mail(session: Session, message: Message, config: Config, *,
                      now: datetime | None = None) -> Decision:
    """Act on an email from the owner's address, if it carries a waiting draft's token; else nothing."""
    when = now or clock.now()
    sender = (message.from_address or "").lower()
    if sender != config.owner.email.lower():
        return Decision("ignored", detail=f"mail from {sender or 'no address'} is not the owner's; no draft touched")
    token = find_token(message)
    if token is None:
        return Decision("ignored", detail="owner mail without a single draft token: no draft touched")
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.approval_token == token))
    if row is None:
        return Decision("ignored", detail="owner mail with a token that matches no draft: no draft touched")
    reference = _reference(session, row)
    if row.state != DRAFT:
        return Decision("ignored", row.id, reference,
                        f"draft {row.id} was already decided ({row.decision_note or row.state}); nothing done")
    try:
        command = parse_command(message.new_text or "")
    except ApprovalError as exc:
        return Decision("ignored", row.id, reference, f"draft {row.id} left waiting: {exc}")
    actor = config.owner.email
    if command.verb == "reject":
        reject(session, row.id, command.text, actor=actor, now=when)
        return Decision("rejected", row.id, reference, f"draft {row.id} rejected by email: {command.text}")
    files = [Attachment(a.filename or f"attachment-{a.id}", a.content_type, a.content)
             for a in message.attachments if a.content is not None]
    try:
        if command.verb == "approve":
            approve(session, row.id, actor=actor, config=config, attachments=files, now=when)
        else:
            edit(session, row.id, command.text, actor=actor, config=config, attachments=files, now=when)
    except ApprovalError as exc:
        return Decision("ignored", row.id, reference, f"draft {row.id} left waiting: {exc}")
    for record in message.attachments:
        record.content = None  # sent with the answer (and kept in its outbox copy): no second copy
    sent = tuple(f.describe() for f in files)
    with_files = f" with {', '.join(f.filename for f in files)}" if files else ""
    if command.verb == "approve":
        return Decision("approved", row.id, reference, f"draft {row.id} approved by email{with_files}; queued", sent)
    return Decision("edited", row.id, reference, f"draft {row.id} edited by email{with_files}; queued", sent)


def confirm(session: Session, message: Message, decision: Decision, config: Config, *,
            now: datetime | None = None) -> OutboxMessage | None:
    """Tell the owner what their emailed answer about a draft did; None when it named no draft.

    Without it an approval by email would be silent, and a reply that did
    nothing (a typo in the command) would look the same as one that worked.
    """
    if decision.draft_id is None:
        return None
    row = session.get(OutboxMessage, decision.draft_id)
    if row is None:
        return None
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    from mailbot.workflow import case_summary  # the workflow imports this module

    context = DecisionContext(
        business=BusinessInfo.from_config(config), action=decision.action, draft_number=row.id,
        draft_kind=row.kind, to_address=row.to_address,
        detail=(row.decision_note or decision.detail) if decision.action == "rejected" else decision.detail,
        case=case_summary(session, case, config.business.timezone) if case is not None else None,
        files=decision.files,
    )
    parent = f"<{message.message_id.strip('<>')}>" if message.message_id else None
    msg = compose(render("owner_decision", context), bot=config.bot, to=config.owner.email, in_reply_to=parent)
    msg["Auto-Submitted"] = "auto-replied"
    return enqueue(session, msg, kind="owner_decision", bot=config.bot, case_id=row.case_id, when=now)


def _reference(session: Session, row: OutboxMessage) -> str:
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    return case.reference if case is not None else ""


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


__all__ = [
    "ApprovalError",
    "Command",
    "confirm",
    "Decision",
    "approve",
    "draft_text",
    "drafts",
    "edit",
    "find_token",
    "get_draft",
    "handle_owner_mail",
    "new_token",
    "parse_command",
    "reject",
    "request_approval",
]
