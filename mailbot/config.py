"""The configuration: one TOML file, loaded once, validated, frozen.

Every section is a frozen dataclass; the loader checks each key against the
dataclass fields so that a typo or a wrong type is reported with the file and
the key, before anything touches a mailbox.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.errors import ConfigError

Security = Literal["ssl", "starttls", "none"]
Nation = Literal["england-and-wales", "scotland", "northern-ireland"]
Policy = Literal["send", "draft"]

ENV_CONFIG = "MAILBOT_CONFIG"
# The embedded demo's business, owner and privacy notice (`demo_config`).
DEMO_SETTINGS = Path(__file__).resolve().parent / "samples" / "demo.toml"
ENV_SECRETS = {
    ("mailbox", "password"): "MAILBOT_IMAP_PASSWORD",
    ("smtp", "password"): "MAILBOT_SMTP_PASSWORD",
}


@dataclass(frozen=True)
class MailboxConfig:
    """Where mail comes in: an IMAP folder, or a Maildir / folder of .eml files."""

    source: Literal["imap", "maildir"] = "imap"
    host: str = "localhost"
    port: int = 993
    security: Security = "ssl"
    username: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    path: str = ""
    processed: Literal["keyword", "move"] = "keyword"
    processed_keyword: str = "$MailbotSeen"
    processed_folder: str = "Processed"
    sent_folder: str = "Sent"
    poll_interval: float = 60.0
    idle_timeout: float = 25 * 60.0
    batch_size: int = 200
    timeout: float = 30.0


@dataclass(frozen=True)
class IntakeConfig:
    """Limits applied to every incoming message."""

    max_message_size: int = 25 * 1024 * 1024
    keep_attachments: bool = False
    sender_hourly_limit: int = 20


@dataclass(frozen=True)
class SmtpConfig:
    """The outgoing mail server."""

    host: str = "localhost"
    port: int = 465
    security: Security = "ssl"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 60.0
    # Retries of temporary failures (4xx, connection errors): capped exponential backoff.
    retry_base_seconds: float = 60.0
    retry_cap_seconds: float = 3600.0
    # A message still not accepted this long after it was queued fails, and the owner is told.
    give_up_hours: float = 24.0
    # After a crash, how long to look for our own copy before deciding an attempt did not go out.
    unknown_grace_minutes: float = 10.0


@dataclass(frozen=True)
class DatabaseConfig:
    """Where state lives; an SQLAlchemy URL."""

    url: str = ""


@dataclass(frozen=True)
class BotConfig:
    """The identity the bot answers as."""

    address: str
    name: str = "mailbot"
    loop_header: str = "X-Mailbot-Loop"


@dataclass(frozen=True)
class OwnerConfig:
    """The person who approves drafts and receives reminders."""

    email: str
    # A mail that may be a request but matches no case: "notice" tells the owner by email at
    # once; "digest" lists it in the next daily digest instead (fewer mails, up to a day later).
    possible_requests: Literal["notice", "digest"] = "notice"


@dataclass(frozen=True)
class BusinessConfig:
    """The controller the requests are addressed to."""

    name: str
    nation: Nation = "england-and-wales"
    timezone: str = "Europe/London"
    # Postal address and contact shown in replies; contact_email empty means bot.address.
    address: str = ""
    contact_email: str = ""


@dataclass(frozen=True)
class PrivacyConfig:
    """The privacy notice as data: what an access response must tell (UK GDPR Art 15(1)).

    Empty by default because only the controller can say what it does; an access
    response refuses to render until purposes, categories, recipients, retention,
    source, automated_decisions and transfers are filled in.
    """

    purposes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    retention: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    automated_decisions: tuple[str, ...] = ()
    transfers: tuple[str, ...] = ()
    notice_url: str = ""


@dataclass(frozen=True)
class ResponsesConfig:
    """Per kind of message to a requester: "send" at once, or "draft" for the owner to approve."""

    ack: Policy = "send"
    ack_challenge: Policy = "send"
    challenge_reminder: Policy = "send"
    identity_confirmed: Policy = "send"
    identity_wrong_code: Policy = "send"
    identity_locked: Policy = "send"
    identity_expired: Policy = "send"
    complaint_ack: Policy = "send"
    case_closed: Policy = "send"
    clarification: Policy = "draft"
    extension: Policy = "draft"
    refusal: Policy = "draft"
    response_access: Policy = "draft"
    response_rectification: Policy = "draft"
    response_erasure: Policy = "draft"
    response_restriction: Policy = "draft"
    response_objection: Policy = "draft"
    response_portability: Policy = "draft"
    response_withdraw_consent: Policy = "draft"

    def policy(self, kind: str) -> Policy:
        """The policy for one kind of message; ValueError names the known kinds."""
        names = {f.name for f in dataclasses.fields(self)}
        if kind not in names:
            raise ValueError(f"no [responses] policy for {kind!r} (known: {', '.join(sorted(names))})")
        value: Policy = getattr(self, kind)
        return value


@dataclass(frozen=True)
class IdentityConfig:
    """The reply challenge that proves a requester controls the address they wrote from."""

    code_ttl_days: int = 14
    reminder_after_days: int = 7
    max_attempts: int = 5


@dataclass(frozen=True)
class ScheduleConfig:
    """When `mailbot run` reminds, sums up and forgets; hours are in business.timezone."""

    # Owner reminders this many days before a case's due date; then one a day while overdue.
    reminder_days: tuple[int, ...] = (14, 7, 3, 1)
    reminder_hour: int = 9
    digest: bool = True
    digest_hour: int = 8
    # Challenge reminders and expiry are checked this often (and at start).
    challenge_check_minutes: int = 60
    # The sender is woken this often to retry deferred mail (it also polls on its own).
    outbox_retry_seconds: float = 60.0
    # Closed cases lose their personal data this many months after closing.
    retention_months: int = 12
    retention_hour: int = 3


@dataclass(frozen=True)
class Config:
    """The whole configuration, as loaded from one file."""

    path: Path
    mailbox: MailboxConfig
    smtp: SmtpConfig
    database: DatabaseConfig
    bot: BotConfig
    owner: OwnerConfig
    business: BusinessConfig
    intake: IntakeConfig = IntakeConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    responses: ResponsesConfig = ResponsesConfig()
    identity: IdentityConfig = IdentityConfig()
    schedule: ScheduleConfig = ScheduleConfig()

    @property
    def database_url(self) -> str:
        """The database URL; a SQLite file next to the config when none is set."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.path.parent.resolve() / 'mailbot.sqlite3'}"


SECTIONS: dict[str, type] = {
    "mailbox": MailboxConfig,
    "intake": IntakeConfig,
    "smtp": SmtpConfig,
    "database": DatabaseConfig,
    "bot": BotConfig,
    "owner": OwnerConfig,
    "business": BusinessConfig,
    "privacy": PrivacyConfig,
    "responses": ResponsesConfig,
    "identity": IdentityConfig,
    "schedule": ScheduleConfig,
}
REQUIRED_SECTIONS = {"mailbox", "bot", "owner", "business"}


def _check_value(path: str, key: str, value: Any, annotation: Any) -> Any:
    """Return value converted to annotation's type, or raise ConfigError naming key."""
    origin = get_origin(annotation)
    if origin is Literal:
        choices = get_args(annotation)
        if value not in choices:
            allowed = ", ".join(f'"{c}"' for c in choices)
            raise ConfigError(path, key, f"must be one of {allowed}, not {value!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        raise TypeError("unions are not used in config sections")
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, key, f"must be true or false, not {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, key, f"must be a whole number, not {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, key, f"must be a number, not {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(path, key, f"must be a string in quotes, not {value!r}")
        return value
    if origin is tuple and get_args(annotation) == (str, Ellipsis):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(path, key, f'must be a list of strings, e.g. ["one", "two"], not {value!r}')
        return tuple(value)
    if origin is tuple and get_args(annotation) == (int, Ellipsis):
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(path, key, f"must be a list of whole numbers, e.g. [14, 7], not {value!r}")
        return tuple(value)
    raise TypeError(f"unsupported config type {annotation!r}")


def _build_section(path: str, name: str, cls: type, raw: dict[str, Any]) -> Any:
    """Build one section dataclass from its TOML table, checking every key."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise ConfigError(path, f"{name}.{unknown[0]}", f"unknown key (known keys: {known})")
    values: dict[str, Any] = {}
    for fname, f in fields.items():
        key = f"{name}.{fname}"
        env = ENV_SECRETS.get((name, fname))
        if env and os.environ.get(env):
            values[fname] = os.environ[env]
            continue
        if fname in raw:
            values[fname] = _check_value(path, key, raw[fname], hints[fname])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(path, key, "is required but missing")
    return cls(**values)


def _validate(config: Config) -> None:
    """Cross-field checks that a single type cannot express."""
    path = str(config.path)
    addresses = [("bot.address", config.bot.address), ("owner.email", config.owner.email)]
    if config.business.contact_email:
        addresses.append(("business.contact_email", config.business.contact_email))
    for key, address in addresses:
        if "@" not in address or address.strip() != address or " " in address:
            raise ConfigError(path, key, f"must be an email address, not {address!r}")
    try:
        ZoneInfo(config.business.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(path, "business.timezone", f"unknown time zone {config.business.timezone!r}") from exc
    mb = config.mailbox
    if mb.source == "imap":
        if not mb.username:
            raise ConfigError(path, "mailbox.username", "is required when mailbox.source is \"imap\"")
        if mb.security == "none" and mb.host not in ("localhost", "127.0.0.1", "::1"):
            raise ConfigError(
                path, "mailbox.security",
                '"none" sends the password in clear and is allowed only for localhost; use "ssl" or "starttls"',
            )
        if not 0 < mb.idle_timeout <= 29 * 60:
            raise ConfigError(path, "mailbox.idle_timeout", "must be above 0 and at most 1740 seconds (RFC 2177)")
    elif not mb.path:
        raise ConfigError(path, "mailbox.path", "is required when mailbox.source is \"maildir\"")
    if mb.batch_size < 1:
        raise ConfigError(path, "mailbox.batch_size", "must be at least 1")
    if mb.poll_interval <= 0:
        raise ConfigError(path, "mailbox.poll_interval", "must be above 0 seconds")
    ident = config.identity
    if ident.code_ttl_days < 1:
        raise ConfigError(path, "identity.code_ttl_days", "must be at least 1 day")
    if not 0 < ident.reminder_after_days < ident.code_ttl_days:
        raise ConfigError(
            path, "identity.reminder_after_days",
            f"must be above 0 and below identity.code_ttl_days ({ident.code_ttl_days})",
        )
    if ident.max_attempts < 1:
        raise ConfigError(path, "identity.max_attempts", "must be at least 1")
    _validate_schedule(path, config.schedule)


def _validate_schedule(path: str, sched: ScheduleConfig) -> None:
    """Hours are clock hours, offsets are days before the due date, periods are positive."""
    if any(d < 0 or d > 366 for d in sched.reminder_days) or len(set(sched.reminder_days)) != len(sched.reminder_days):
        raise ConfigError(path, "schedule.reminder_days",
                          "must be distinct whole days between 0 and 366, e.g. [14, 7, 3, 1]")
    for key in ("reminder_hour", "digest_hour", "retention_hour"):
        if not 0 <= getattr(sched, key) <= 23:
            raise ConfigError(path, f"schedule.{key}", "must be an hour of the day, 0 to 23")
    if sched.challenge_check_minutes < 1:
        raise ConfigError(path, "schedule.challenge_check_minutes", "must be at least 1 minute")
    if sched.outbox_retry_seconds < 1:
        raise ConfigError(path, "schedule.outbox_retry_seconds", "must be at least 1 second")
    if sched.retention_months < 1:
        raise ConfigError(path, "schedule.retention_months", "must be at least 1 month")


def parse_config(data: dict[str, Any], path: Path) -> Config:
    """Build a validated Config from an already-parsed TOML document."""
    spath = str(path)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(spath, unknown[0], f"unknown section (known: {', '.join(SECTIONS)})")
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name)
        if raw is None:
            if name in REQUIRED_SECTIONS:
                raise ConfigError(spath, name, "section is required but missing")
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(spath, name, "must be a table ([section])")
        sections[name] = _build_section(spath, name, cls, raw)
    mailbox = sections["mailbox"]
    if mailbox.source == "maildir" and mailbox.path and not Path(mailbox.path).is_absolute():
        mailbox = dataclasses.replace(mailbox, path=str((path.parent / mailbox.path).resolve()))
        sections["mailbox"] = mailbox
    config = Config(path=path, **sections)
    _validate(config)
    return config


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, parse and validate the TOML file at path."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(p), None, "file not found (copy config.example.toml and edit it)") from exc
    except OSError as exc:
        raise ConfigError(str(p), None, f"cannot be read: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), None, f"is not valid TOML: {exc}") from exc
    return parse_config(data, p)


def find_config_path(explicit: str | None) -> Path | None:
    """The config path from --config, else $MAILBOT_CONFIG, else None."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    return Path(env) if env else None


def demo_config(maildir: Path, state_dir: Path) -> Config:
    """The embedded default: the bundled sample mails, a SQLite file in state_dir."""
    with DEMO_SETTINGS.open("rb") as fh:
        data = tomllib.load(fh)
    data["mailbox"] = {"source": "maildir", "path": str(maildir)}
    data["database"] = {"url": f"sqlite:///{state_dir / 'demo.sqlite3'}"}
    return parse_config(data, DEMO_SETTINGS)
