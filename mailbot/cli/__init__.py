"""The `mailbot` command line: one sub-command per job, each in its own module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mailbot import __version__
from mailbot.cli import (
    cases, classifier, database, deadline, drafts, outbox, quarantine, retention, run, status,
)
from mailbot.errors import MailbotError

COMMANDS = (run, status, database, quarantine, classifier, deadline, cases, outbox, drafts, retention)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="mailbot",
        description=(
            "Answers UK GDPR data-protection requests that arrive by email: watches the "
            "contact mailbox, records every message once, screens out machine mail, and "
            "sorts requests by the rights they exercise."
        ),
        epilog="Run 'mailbot COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"mailbot {__version__}")
    parser.add_argument(
        "--config", metavar="FILE",
        help="configuration file (default: $MAILBOT_CONFIG; see config.example.toml)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def setup_logging(verbosity: int) -> None:
    """Log to stderr; INFO by default so a service log shows what the bot did."""
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbosity < 2:
        for noisy in ("imapclient", "alembic", "aiosmtpd", "mail.log", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mailbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except MailbotError as exc:
        print(f"mailbot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
