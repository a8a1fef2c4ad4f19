"""Domain exceptions: each carries a message the user can act on."""


class MailbotError(Exception):
    """Base class for every error mailbot raises on purpose."""


class ConfigError(MailbotError):
    """The configuration file is missing, unreadable or holds a wrong value."""

    def __init__(self, path: str, key: str | None, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: [{key}]" if key and "." not in key else f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class SchemaOutOfDate(MailbotError):
    """The database schema is older (or newer) than this version of mailbot expects."""


class ParseError(MailbotError):
    """A message could not be read at all; it goes to the quarantine."""


class MailboxError(MailbotError):
    """The mailbox could not be reached or refused an operation."""


class NotFound(MailbotError):
    """A record asked for by number does not exist."""
