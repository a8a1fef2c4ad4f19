"""The database tables, as typed SQLAlchemy 2.0 models.

Every schema change comes with an Alembic migration in mailbot/migrations.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
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
