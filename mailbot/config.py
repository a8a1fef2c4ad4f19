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

ENV_CONFIG = "MAILBOT_CONFIG"
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


@dataclass(frozen=True)
class BusinessConfig:
    """The controller the requests are addressed to."""

    name: str
    nation: Nation = "england-and-wales"
    timezone: str = "Europe/London"


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
    for key, address in (("bot.address", config.bot.address), ("owner.email", config.owner.email)):
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
    data = {
        "mailbox": {"source": "maildir", "path": str(maildir)},
        "database": {"url": f"sqlite:///{state_dir / 'demo.sqlite3'}"},
        "bot": {"address": "andrei@ak3dstudio.com", "name": "AK3D Studio"},
        "owner": {"email": "andrei@ak3dstudio.com"},
        "business": {"name": "AK3D Studio", "nation": "england-and-wales"},
    }
    return parse_config(data, state_dir / "demo.toml")
