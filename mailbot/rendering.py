"""Rendering: every message mailbot sends, written from the Jinja2 templates.

All wording lives in `mailbot/templates/` (the repo-root `templates/` is a
symlink to it). Each kind of message has three files: `KIND.subject.j2`,
`KIND.txt.j2` and `KIND.html.j2`. Templates whose names start with `_` are
shared layouts and macros.

Safety rules, enforced here rather than trusted to each template:

* The environment is sandboxed, so a template cannot reach Python internals,
  and `StrictUndefined` turns a misspelt variable into an error instead of
  an empty gap in a letter to a customer.
* Autoescape is on for `.html.j2` only: text mail must not show `&amp;`.
* Customer text (names, quoted requests, corrections) is only ever a value in
  the context, never template source, so `{{ 7*7 }}` in a mail stays literal.
* Subjects lose every control character, so no header can be injected.

The context of each kind is a typed frozen dataclass; `KINDS` says which.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailbot.config import Config, PrivacyConfig
from mailbot.errors import MailbotError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# The rights a case can carry; the templates hold the words for each.
RIGHTS = (
    "access",
    "rectification",
    "erasure",
    "restriction",
    "objection",
    "portability",
    "withdraw_consent",
    "complaint",
)

Audience = Literal["requester", "owner"]
ClosedReason = Literal["answered", "withdrawn", "expired", "refused", "no_reply"]

# Long subjects are cut so a pasted essay cannot become a header; everything we
# must keep (reference, draft token) comes first in every subject template.
MAX_SUBJECT = 200


class RenderError(MailbotError):
    """A message could not be rendered: wrong context, missing template, or a template bug."""


class UnknownKind(RenderError):
    """A kind of message that has no templates."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"unknown kind of message {kind!r} (known: {', '.join(sorted(KINDS))})")


# --- the context -----------------------------------------------------------


@dataclass(frozen=True)
class BusinessInfo:
    """The controller as named in every message: from [business] and [bot]."""

    name: str
    contact_email: str
    address: str = ""
    notice_url: str = ""

    @classmethod
    def from_config(cls, config: Config) -> BusinessInfo:
        """Build from the loaded config; the contact falls back to the bot address."""
        return cls(
            name=config.business.name,
            contact_email=config.business.contact_email or config.bot.address,
            address=config.business.address,
            notice_url=config.privacy.notice_url,
        )


@dataclass(frozen=True)
class CaseSummary:
    """What every message says about a case. Name and request text are the customer's own words."""

    reference: str
    requester_address: str
    rights: tuple[str, ...]
    received_on: date
    requester_name: str = ""
    due_on: date | None = None  # None while the clock has not started (identity check)
    request_text: str = ""  # their words, quoted back so they can see what we understood
    state: str = ""  # mailbot.casework.State value; shown to the owner only

    def __post_init__(self) -> None:
        unknown = [r for r in self.rights if r not in RIGHTS]
        if unknown:
            raise RenderError(f"case {self.reference}: unknown right {unknown[0]!r} (known: {', '.join(RIGHTS)})")


@dataclass(frozen=True)
class Challenge:
    """The identity challenge: the code to send back, until when it is valid, and the subject token."""

    code: str
    expires_on: date
    valid_days: int
    token: str  # unguessable; in the subject, so a reply that lost its threading headers still matches


@dataclass(frozen=True)
class Correction:
    """One correction made for a rectification: which detail, what it was, what it is now."""

    field: str
    old: str
    new: str


@dataclass(frozen=True)
class Outcome:
    """What the owner did for a request, in their words; each template uses the parts it needs."""

    actions: tuple[str, ...] = ()  # what we did, one sentence each
    kept: tuple[str, ...] = ()  # what we keep despite the request, and why
    attachments: tuple[str, ...] = ()  # names of the files attached to the reply
    corrections: tuple[Correction, ...] = ()  # rectification only
    note: str = ""  # anything else the owner wants to say


@dataclass(frozen=True)
class DraftInfo:
    """A drafted message awaiting approval, as the owner sees it."""

    number: int
    token: str  # unguessable; a reply counts only if it carries this
    kind: str
    subject: str
    text: str


@dataclass(frozen=True)
class CaseContext:
    """Context for messages that need only the case: ack, identity_confirmed, complaint_ack, owner_new_case."""

    business: BusinessInfo
    case: CaseSummary


@dataclass(frozen=True)
class ChallengeContext:
    """Context for ack_challenge and challenge_reminder."""

    business: BusinessInfo
    case: CaseSummary
    challenge: Challenge


@dataclass(frozen=True)
class WrongCodeContext:
    """Context for identity_wrong_code: the reply lacked the code; how many tries are left."""

    business: BusinessInfo
    case: CaseSummary
    attempts_left: int


@dataclass(frozen=True)
class ResponseContext:
    """Context for the answer to a right (response_*); privacy is the notice as data."""

    business: BusinessInfo
    case: CaseSummary
    privacy: PrivacyConfig
    outcome: Outcome = Outcome()


@dataclass(frozen=True)
class ClarificationContext:
    """Context for clarification: the questions to ask, in the owner's words."""

    business: BusinessInfo
    case: CaseSummary
    questions: tuple[str, ...]


@dataclass(frozen=True)
class ExtensionContext:
    """Context for extension: why more time is needed and the new due date."""

    business: BusinessInfo
    case: CaseSummary
    reasons: tuple[str, ...]
    new_due_on: date


@dataclass(frozen=True)
class RefusalContext:
    """Context for refusal: the reasons, in the owner's words."""

    business: BusinessInfo
    case: CaseSummary
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ClosedContext:
    """Context for case_closed: why the case ended."""

    business: BusinessInfo
    case: CaseSummary
    reason: ClosedReason


@dataclass(frozen=True)
class DraftContext:
    """Context for owner_draft: the draft, its case, and the address to reply to."""

    business: BusinessInfo
    case: CaseSummary
    draft: DraftInfo
    reply_to: str  # the bot address the owner answers to


@dataclass(frozen=True)
class ReminderContext:
    """Context for owner_deadline_reminder."""

    business: BusinessInfo
    case: CaseSummary
    today: date
    days_left: int  # negative when overdue


@dataclass(frozen=True)
class PossibleRequest:
    """A mail that may be a request and matches no case, listed in the digest for the owner."""

    number: int
    sender: str
    subject: str
    received_on: date  # in the business's time zone


@dataclass(frozen=True)
class DigestContext:
    """Context for owner_daily_digest: the open cases and the drafts waiting."""

    business: BusinessInfo
    today: date
    cases: tuple[CaseSummary, ...]
    drafts: tuple[DraftInfo, ...] = ()
    quarantined: int = 0  # messages that could not be read, waiting in the quarantine
    possible: tuple[PossibleRequest, ...] = ()  # since the last digest ([owner] possible_requests = "digest")


NoticeReason = Literal[
    "unanswerable", "uncertain", "wrong_sender", "locked", "expired", "follow_up",
    "clarification_received", "reopened", "possible_request", "cannot_draft",
]


@dataclass(frozen=True)
class NoticeContext:
    """Context for owner_notice: something about a case (or a message without one) needs the owner.

    subject_tag is what the subject must carry ("[AK-2026-0007]", or "[message 12]"
    when there is no case); detail is the case stage's explanation, shown as given.
    """

    business: BusinessInfo
    reason: NoticeReason
    subject_tag: str
    detail: str
    case: CaseSummary | None = None
    message_from: str = ""  # the incoming message the notice is about, if any
    message_subject: str = ""


@dataclass(frozen=True)
class SendFailedContext:
    """Context for owner_send_failed: an outbox message that permanently failed."""

    business: BusinessInfo
    outbox_id: int
    kind: str
    to_address: str
    subject: str
    attempts: int
    reason: str  # the server's answer, verbatim
    case_reference: str = ""


DecisionAction = Literal["approved", "rejected", "edited", "ignored"]


@dataclass(frozen=True)
class DecisionContext:
    """Context for owner_decision: what the owner's emailed answer about a draft did.

    detail is the approval stage's explanation (the reason kept, or why the
    reply did nothing); case_state is the case's state afterwards.
    """

    business: BusinessInfo
    action: DecisionAction
    draft_number: int
    draft_kind: str
    to_address: str
    detail: str
    case: CaseSummary | None = None
    files: tuple[str, ...] = ()  # what went with an approved or edited answer: "export.csv (2 KB, ...)"


# Any of the contexts above; KINDS says which one each kind needs.
Context = (
    CaseContext
    | ChallengeContext
    | ResponseContext
    | ClarificationContext
    | ExtensionContext
    | RefusalContext
    | ClosedContext
    | DraftContext
    | ReminderContext
    | DigestContext
    | SendFailedContext
    | WrongCodeContext
    | NoticeContext
    | DecisionContext
)


@dataclass(frozen=True)
class Kind:
    """One kind of message: who gets it and which context it needs."""

    name: str
    audience: Audience
    context: type


def _kinds(*kinds: Kind) -> Mapping[str, Kind]:
    return MappingProxyType({k.name: k for k in kinds})


KINDS: Mapping[str, Kind] = _kinds(
    Kind("ack", "requester", CaseContext),
    Kind("ack_challenge", "requester", ChallengeContext),
    Kind("challenge_reminder", "requester", ChallengeContext),
    Kind("identity_confirmed", "requester", CaseContext),
    Kind("identity_wrong_code", "requester", WrongCodeContext),
    Kind("identity_locked", "requester", CaseContext),
    Kind("identity_expired", "requester", CaseContext),
    Kind("response_access", "requester", ResponseContext),
    Kind("response_rectification", "requester", ResponseContext),
    Kind("response_erasure", "requester", ResponseContext),
    Kind("response_restriction", "requester", ResponseContext),
    Kind("response_objection", "requester", ResponseContext),
    Kind("response_portability", "requester", ResponseContext),
    Kind("response_withdraw_consent", "requester", ResponseContext),
    Kind("clarification", "requester", ClarificationContext),
    Kind("extension", "requester", ExtensionContext),
    Kind("refusal", "requester", RefusalContext),
    Kind("complaint_ack", "requester", CaseContext),
    Kind("case_closed", "requester", ClosedContext),
    Kind("owner_new_case", "owner", CaseContext),
    Kind("owner_draft", "owner", DraftContext),
    Kind("owner_deadline_reminder", "owner", ReminderContext),
    Kind("owner_daily_digest", "owner", DigestContext),
    Kind("owner_send_failed", "owner", SendFailedContext),
    Kind("owner_notice", "owner", NoticeContext),
    Kind("owner_decision", "owner", DecisionContext),
)

# Article 15(1) items an access response must state; all come from [privacy].
ACCESS_REQUIRED = ("purposes", "categories", "recipients", "retention", "source", "automated_decisions", "transfers")


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for the outbox: a one-line subject, a text body and its HTML alternative."""

    subject: str
    text: str
    html: str


# --- rendering -------------------------------------------------------------


def clean_subject(raw: str) -> str:
    """One safe header line: control characters become spaces, runs of space collapse, long ones are cut."""
    # Cc covers CR, LF, NUL and U+0085; Zl/Zp are the Unicode line and paragraph separators;
    # Cf holds the invisible bidi overrides that could make a subject read differently.
    chars = (" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in raw)
    subject = " ".join("".join(chars).split())
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    return subject


def _tidy_text(raw: str) -> str:
    """Strip trailing spaces and extra blank lines that conditional blocks leave behind."""
    lines = [line.rstrip() for line in raw.strip("\n").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _long_date(value: date) -> str:
    """A date as people write it in the UK: Friday 5 December 2025."""
    if not isinstance(value, date):
        raise RenderError(f"a template formats {value!r} as a date; the context must give a date there")
    return f"{value:%A} {value.day} {value:%B %Y}"


def _quote(value: str) -> str:
    """Text quoted mail-style, each line prefixed with '> '."""
    return "\n".join(f"> {line}" if line else ">" for line in value.strip("\n").splitlines())


class Renderer:
    """The sandboxed Jinja2 environment over one template directory."""

    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        """Prepare the environment for templates in directory."""
        self.directory = directory
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["long_date"] = _long_date
        self.env.filters["quote"] = _quote

    def render(self, kind: str, context: Context) -> RenderedMessage:
        """Render the subject, text and HTML of one kind of message from its context."""
        spec = KINDS.get(kind)
        if spec is None:
            raise UnknownKind(kind)
        if not isinstance(context, spec.context):
            raise RenderError(
                f"kind {kind!r} needs a {spec.context.__name__}, not a {type(context).__name__}"
            )
        if kind == "response_access" and isinstance(context, ResponseContext):
            _check_privacy(context.privacy)
        # Shallow on purpose: templates see the dataclasses themselves, not dicts.
        values: dict[str, Any] = {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}
        subject = self._render_one(f"{kind}.subject.j2", values)
        text = self._render_one(f"{kind}.txt.j2", values)
        html = self._render_one(f"{kind}.html.j2", values)
        return RenderedMessage(subject=clean_subject(subject), text=_tidy_text(text), html=html)

    def _render_one(self, name: str, values: dict[str, Any]) -> str:
        """Render one template file, turning Jinja2's errors into RenderError with the file name."""
        try:
            return self.env.get_template(name).render(values)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"template {exc.name!r} is missing from {self.directory}") from exc
        except jinja2.UndefinedError as exc:
            raise RenderError(f"template {name} uses a value the context does not give: {exc.message}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"template {exc.name or name} line {exc.lineno}: {exc.message}") from exc
        except SecurityError as exc:
            raise RenderError(f"template {name} tried something the sandbox forbids: {exc}") from exc


def _check_privacy(privacy: PrivacyConfig) -> None:
    """Refuse an access response that would leave out something Article 15 requires."""
    missing = [name for name in ACCESS_REQUIRED if not getattr(privacy, name)]
    if missing:
        keys = ", ".join(f"privacy.{m}" for m in missing)
        raise RenderError(f"an access response must state what the privacy notice says; fill in {keys} in the config")


@cache
def default_renderer() -> Renderer:
    """The renderer over the templates shipped with mailbot (built once)."""
    return Renderer()


def render(kind: str, context: Context) -> RenderedMessage:
    """Render one kind of message with the shipped templates."""
    return default_renderer().render(kind, context)


def known_kinds(audience: Audience | None = None) -> tuple[str, ...]:
    """The kinds of message there are templates for, optionally only those for one audience."""
    return tuple(k.name for k in KINDS.values() if audience is None or k.audience == audience)


__all__ = [
    "ACCESS_REQUIRED",
    "KINDS",
    "RIGHTS",
    "BusinessInfo",
    "CaseContext",
    "CaseSummary",
    "Context",
    "Challenge",
    "ChallengeContext",
    "ClarificationContext",
    "ClosedContext",
    "Correction",
    "DecisionAction",
    "DecisionContext",
    "DigestContext",
    "PossibleRequest",
    "DraftContext",
    "DraftInfo",
    "ExtensionContext",
    "Kind",
    "NoticeContext",
    "NoticeReason",
    "Outcome",
    "RefusalContext",
    "RenderError",
    "RenderedMessage",
    "Renderer",
    "ReminderContext",
    "ResponseContext",
    "SendFailedContext",
    "UnknownKind",
    "WrongCodeContext",
    "clean_subject",
    "default_renderer",
    "known_kinds",
    "render",
]
