"""The outbox: every message we send, stored whole with its Message-ID before any attempt.

`compose` builds the email from rendered text, `enqueue` freezes it into an
`OutboxMessage` row (state ``queued``, or ``draft`` when it needs approval),
and mailbot.sender delivers it exactly once. Storing the final bytes first
means a retry, or the check after a crash, is always about the very same
message: same Message-ID, same body.
"""

from __future__ import annotations

import email.policy
import email.utils
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import clock
from mailbot.config import BotConfig
from mailbot.errors import MailbotError, NotFound
from mailbot.models import OutboxMessage

QUEUED, DRAFT, SENDING, UNKNOWN, SENT, FAILED = "queued", "draft", "sending", "unknown", "sent", "failed"
CANCELLED = "cancelled"  # a draft the owner rejected; never sent (mailbot.approval)
STATES = (DRAFT, QUEUED, SENDING, UNKNOWN, SENT, FAILED, CANCELLED)


class OutboxError(MailbotError):
    """A message cannot be queued or changed as asked."""


class RenderedLike(Protocol):
    """What compose needs from a rendered template (mailbot.rendering.RenderedMessage fits)."""

    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def html(self) -> str | None: ...


def clean_header(value: str) -> str:
    """value on one line: CR, LF and runs of whitespace become single spaces (no header injection)."""
    return " ".join(value.split())


def compose(
    rendered: RenderedLike,
    *,
    bot: BotConfig,
    to: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
) -> EmailMessage:
    """An email from the bot to `to`: text with an HTML alternative, threaded under in_reply_to.

    references are the parent's References; the parent's Message-ID is added at
    the end as RFC 5322 asks, so the reply threads in every mail client.
    """
    msg = EmailMessage()
    msg["From"] = Address(display_name=clean_header(bot.name), addr_spec=bot.address)
    msg["To"] = clean_header(to)
    msg["Subject"] = clean_header(rendered.subject)
    refs = [clean_header(r) for r in references if r.strip()]
    if in_reply_to:
        parent = clean_header(in_reply_to)
        msg["In-Reply-To"] = parent
        if parent not in refs:
            refs.append(parent)
    if refs:
        msg["References"] = " ".join(refs)
    msg.set_content(rendered.text)
    if rendered.html:
        msg.add_alternative(rendered.html, subtype="html")
    return msg


def _domain(address: str) -> str:
    """The domain of an address, for Message-IDs that say who made them."""
    return address.rsplit("@", 1)[-1].strip(">") or "localhost"


def _recipients(msg: EmailMessage) -> list[str]:
    """Every address in To, Cc and Bcc, in order, each once."""
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])]
    seen: list[str] = []
    for _name, addr in email.utils.getaddresses(fields):
        if addr and addr not in seen:
            seen.append(addr)
    return seen


def enqueue(
    session: Session,
    msg: EmailMessage,
    *,
    kind: str,
    bot: BotConfig,
    case_id: int | None = None,
    approved_by: str | None = None,
    draft: bool = False,
    when: datetime | None = None,
) -> OutboxMessage:
    """Store msg, final and complete, as an outbox row due now (or a draft); flushes to get its id.

    Adds what the sender must never have to invent later: a Message-ID, a Date,
    our loop header, and ``Auto-Submitted: auto-replied`` unless a human
    (approved_by) approved the text or the caller set Auto-Submitted itself.
    A Bcc header is turned into envelope recipients and removed.
    """
    now = when or clock.now()
    recipients = _recipients(msg)
    if not recipients:
        raise OutboxError(f"a {kind} message has no recipient (To, Cc or Bcc): nothing to send")
    if msg["Message-ID"] is None:
        msg["Message-ID"] = email.utils.make_msgid(domain=_domain(bot.address))
    if msg["Date"] is None:
        msg["Date"] = email.utils.format_datetime(now)
    if msg["From"] is None:
        msg["From"] = Address(display_name=clean_header(bot.name), addr_spec=bot.address)
    if msg[bot.loop_header] is None:
        msg[bot.loop_header] = bot.address
    if approved_by is None and msg["Auto-Submitted"] is None:
        msg["Auto-Submitted"] = "auto-replied"
    del msg["Bcc"]
    message_id = str(msg["Message-ID"]).strip()
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.message_id == message_id)) is not None:
        raise OutboxError(f"Message-ID {message_id} is already in the outbox; a message is queued once")
    row = OutboxMessage(
        message_id=message_id,
        kind=kind,
        case_id=case_id,
        to_address=", ".join(recipients),
        from_address=bot.address,
        subject=str(msg["Subject"] or ""),
        # SMTP policy: CRLF line ends, as the bytes go on the wire and into IMAP.
        raw=msg.as_bytes(policy=email.policy.SMTP),
        state=DRAFT if draft else QUEUED,
        attempts=0,
        next_attempt_at=None if draft else now,
        created_at=now,
        queued_at=None if draft else now,
        appended_to_sent=False,
        needs_approval=draft,
        approved_by=approved_by,
        approved_at=now if approved_by else None,
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, number: int) -> OutboxMessage:
    """Outbox row number, or NotFound saying where to look."""
    row = session.get(OutboxMessage, number)
    if row is None:
        raise NotFound(f"no outbox message {number} (see: mailbot outbox list)")
    return row


def retry(session: Session, number: int, *, when: datetime | None = None) -> OutboxMessage:
    """Queue a failed (or unresolved) message again, due now, with a fresh attempt count.

    A message in ``unknown`` state may already have been delivered; retrying it
    is the owner's decision after checking, which is why only the CLI calls this.
    """
    row = get(session, number)
    if row.state not in (FAILED, UNKNOWN):
        raise OutboxError(
            f"outbox message {number} is {row.state}; only failed or unknown messages can be retried"
        )
    now = when or clock.now()
    row.state = QUEUED
    row.attempts = 0
    row.next_attempt_at = now
    # The give-up period starts again from the owner's decision.
    row.queued_at = now
    return row
