"""The parsed message: what the parse stage hands to every later stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Attachment:
    """A non-text part: recorded by name, type, size and hash; content only if configured."""

    filename: str
    content_type: str
    size: int
    sha256: str
    content: bytes | None = field(default=None, repr=False)
    # Has a Content-ID: shown inside the HTML body (a logo in a signature), not a file attached.
    embedded: bool = False


@dataclass(frozen=True)
class ParsedMessage:
    """One email, decoded: header fields, readable text and attachment facts.

    Addresses are lower-cased addr-specs. ``headers`` keeps every header as
    (lower-case name, decoded value) in order, for the screening rules.
    """

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    from_address: str | None
    from_name: str
    reply_to: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    date: datetime | None
    return_path: str | None
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body_text: str
    new_text: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    size: int
    truncated: bool
    content_hash: str

    def header(self, name: str) -> str | None:
        """The first value of header name (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key == lname:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        """Every value of header name, in order."""
        lname = name.lower()
        return tuple(value for key, value in self.headers if key == lname)


@dataclass(frozen=True)
class Verdict:
    """The screening stage's answer: pass the message on, or hold it with a reason."""

    passed: bool
    reason: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class ScreenContext:
    """What screening needs to know beyond the message itself."""

    own_addresses: frozenset[str]
    loop_header: str
    sender_count_last_hour: int
    sender_hourly_limit: int
    # The owner answers drafts from these; often the bot's own address, so they must pass
    # the own-mail rule when they lack our loop header (our own copies carry it).
    owner_addresses: frozenset[str] = frozenset()
