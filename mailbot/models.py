"""The database tables, as typed SQLAlchemy 2.0 models.

Every schema change comes with an Alembic migration in mailbot/migrations.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and gives them back aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use mailbot.clock")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every mailbot table."""


class MailboxState(Base):
    """Where the watcher stopped in one source: resumes exactly there after a restart."""

    __tablename__ = "mailbox_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(500), unique=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Message(Base):
    """One incoming message, recorded once, whatever became of it."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_messages_dedupe_key"),
        Index("ix_messages_source_ref", "source", "ref"),
        Index("ix_messages_from_received", "from_address", "received_at"),
        Index("ix_messages_unmarked", "source", "marked"),
        Index("ix_messages_status_handled", "status", "handled_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(500))
    ref: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    marked: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))  # accepted | screened | oversize
    screen_rule: Mapped[str | None] = mapped_column(String(50))
    screen_reason: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str] = mapped_column(String(500), default="")
    to_addresses: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    size: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    body_text: Mapped[str] = mapped_column(Text, default="")
    new_text: Mapped[str] = mapped_column(Text, default="")
    defects: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str | None] = mapped_column(Text)  # JSON from the classifier
    # Set by mailbot.workflow in the same transaction as the case changes and replies it caused.
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    attachments: Mapped[list[AttachmentRecord]] = relationship(
        back_populates="message", cascade="all, delete-orphan", lazy="selectin"
    )


class AttachmentRecord(Base):
    """A non-text part of a message: its facts, and its bytes only if configured."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)

    message: Mapped[Message] = relationship(back_populates="attachments")


class QuarantineEntry(Base):
    """A message that could not be read: kept raw with the error, for a human to look at."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("source", "sha256", name="uq_quarantine_source_sha256"),
        Index("ix_quarantine_unmarked", "source", "marked"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    ref: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    marked: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    error: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class OutboxMessage(Base):
    """One message we send: stored complete, with its Message-ID, before any attempt.

    States and who moves them (see mailbot.sender for the protocol):

    - ``draft``: waits for the owner's approval; never picked up by the sender.
    - ``queued``: due at ``next_attempt_at``.
    - ``sending``: an attempt began and was committed before SMTP was touched.
    - ``unknown``: an attempt whose outcome nobody saw (crash, or the connection
      dropped during DATA); resolved by looking for our copy before any retry.
    - ``sent``: the server accepted it; ``appended_to_sent`` tells whether the
      copy in the Sent folder is there yet.
    - ``failed``: refused for good (5xx) or given up; the owner has been told.
    - ``cancelled``: a draft the owner rejected (the reason is in decision_note).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_due", "state", "next_attempt_at"),
        UniqueConstraint("approval_token", name="uq_outbox_approval_token"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    to_address: Mapped[str] = mapped_column(Text)  # envelope recipients, comma-separated
    from_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20))  # draft | queued | sending | unknown | sent | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When it last became due (queued, approved, retried): the give-up period counts from here.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    appended_to_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Drafts only: the owner's reply must carry it, so a forged From alone approves nothing.
    approval_token: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # approved, edited or rejected
    decision_note: Mapped[str | None] = mapped_column(Text)  # e.g. the owner's reason for rejecting


class Case(Base):
    """One data-protection request (one thread), which may exercise several rights.

    The case's thread is indexed by its audit trail: every mail in and out is a
    CaseEvent whose message_ref is that mail's Message-ID, so a reply is found
    by its In-Reply-To / References without a separate list to keep in step.
    Dates (clock_started_on, due_on, ...) are local days in the business's time zone.
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_requester_state", "requester_address", "state"),
        Index("ix_cases_state_due", "state", "due_on"),  # the reminder pass
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # e.g. AK-2026-0007
    requester_address: Mapped[str | None] = mapped_column(String(320))  # None: nobody to answer
    requester_name: Mapped[str] = mapped_column(String(500), default="")
    rights: Mapped[str] = mapped_column(Text, default="")  # comma-separated labels, sorted
    subject: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(30), index=True)  # mailbot.casework.State values
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    root_message_id: Mapped[str | None] = mapped_column(String(998))  # the mail that opened it
    clock_started_on: Mapped[date | None] = mapped_column(Date)  # None: not started (identity)
    paused_on: Mapped[date | None] = mapped_column(Date)  # set while awaiting clarification
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    due_on: Mapped[date | None] = mapped_column(Date)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    extended_on: Mapped[date | None] = mapped_column(Date)
    identity_method: Mapped[str | None] = mapped_column(String(30))  # reply_code | manual
    identity_detail: Mapped[str | None] = mapped_column(Text)
    identity_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner_attention: Mapped[str | None] = mapped_column(Text)  # why the owner must act, if they must
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When mailbot.retention removed the case's personal data; the skeleton stays.
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", lazy="selectin"
    )
    challenges: Mapped[list[Challenge]] = relationship(
        back_populates="case", order_by="Challenge.id", lazy="selectin"
    )


class CaseEvent(Base):
    """One line of a case's audit trail; written once, never changed (the database refuses updates)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(20))  # state_change | mail_in | mail_out | approval | identity | note
    actor: Mapped[str] = mapped_column(String(320))  # "bot", "requester" or the owner's address
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str | None] = mapped_column(String(30))
    message_ref: Mapped[str | None] = mapped_column(String(998), index=True)  # Message-ID, no <>
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="")
    # The one change the database allows: retention blanks personal data once (migration 0005).
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(back_populates="events")


class Challenge(Base):
    """A code sent to the requester's address; replying with it proves they control the address."""

    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # in the subject; unguessable
    code: Mapped[str] = mapped_column(String(12))  # in the body; short, for people to see
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)  # our mail's, no <>
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong codes from the right address
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    method: Mapped[str | None] = mapped_column(String(30))  # reply_code | manual, once verified

    case: Mapped[Case] = relationship(back_populates="challenges")


class CaseMessage(Base):
    """Which case an incoming message belongs to; a message belongs to one case at most."""

    __tablename__ = "case_messages"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(30))  # request | follow_up | identity_reply
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Reminder(Base):
    """One deadline reminder sent to the owner: the ledger that makes each go out once.

    A reminder is identified by its case, kind, the case's clock cycle (the day
    the clock started and whether it was extended: an extension or a reopened
    case earns a fresh set) and its offset in days before the due date
    (negative: days overdue). The row is written in the same transaction as
    the outbox row of its mail, so either both exist or neither.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "cycle_start", "extended", "offset", name="uq_reminders_once"),
        UniqueConstraint("case_id", "kind", "on_day", name="uq_reminders_one_a_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(30))  # "deadline"
    cycle_start: Mapped[date] = mapped_column(Date)  # the case's clock_started_on when sent
    extended: Mapped[bool] = mapped_column(Boolean)
    offset: Mapped[int] = mapped_column(Integer)  # days before the due date; negative when overdue
    due_on: Mapped[date] = mapped_column(Date)
    on_day: Mapped[date] = mapped_column(Date)  # the business's local day it was sent for
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outbox_id: Mapped[int | None] = mapped_column(Integer)


class JobRun(Base):
    """A once-a-day job that ran (digest, retention): at most one row per job and day."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "on_day", name="uq_job_runs_job_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(50))
    on_day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(Text, default="")


class Heartbeat(Base):
    """The last sign of life of one part of the running service, for `mailbot status`."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)  # watcher | scheduler | service
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(Text, default="")
