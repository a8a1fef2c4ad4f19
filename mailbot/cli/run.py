"""`mailbot run`: watch the mailbox and record every new message once."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from types import FrameType

from rich.console import Console
from rich.table import Table

from mailbot.cli.common import load, open_db
from mailbot.config import Config
from mailbot.db import Database
from mailbot.intake import Classify, Intake, PassReport
from mailbot.mailbox import create_mailbox
from mailbot.message import ParsedMessage

log = logging.getLogger(__name__)

STATUS_STYLE = {
    "accepted": "green", "screened": "yellow", "oversize": "magenta",
    "quarantined": "red", "duplicate": "dim",
}


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot run`."""
    parser = sub.add_parser(
        "run", help="watch the mailbox and record new mail (the main job)",
        description=(
            "Watch the contact mailbox and record every new message exactly once: machine mail "
            "(bounces, auto-replies, lists, our own mail) is screened out, unreadable mail goes to "
            "the quarantine, and each request is classified. Runs until SIGINT or SIGTERM. "
            "Without --config or MAILBOT_CONFIG it runs on the embedded demo: the sample mails "
            "shipped with mailbot, no mail server needed."
        ),
    )
    parser.add_argument("--once", action="store_true",
                        help="process what is new, print what was recorded, and exit")
    parser.set_defaults(func=run)


def _classifier() -> Classify | None:
    """The trained classifier as a pipeline stage, or None when no model is installed."""
    try:
        from mailbot.classifier import classify
    except ImportError:
        return None

    def classify_message(message: ParsedMessage) -> str:
        # The newest text the sender wrote: an old request quoted below a new mail is history.
        return json.dumps(classify(message.subject, message.new_text or message.body_text).to_json())

    return classify_message


def run(args: argparse.Namespace) -> int:
    """Run the intake once, or until a signal arrives."""
    config = load(args, allow_demo=True)
    demo = args.config is None and config.path.name == "demo.toml"
    db = _database(config, demo)
    intake = Intake(config, db, create_mailbox(config), classify=_classifier())
    console = Console()
    if demo:
        console.print(
            f"[bold]Embedded demo[/]: reading the sample mails in {config.mailbox.path}\n"
            f"database: {config.database_url.removeprefix('sqlite:///')}"
        )
    if args.once:
        report = intake.run_once()
        _print_report(console, report, db)
        return 0
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping after the current step", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    log.info("watching %s", intake.mailbox.key)
    intake.run(stop)
    log.info("stopped cleanly")
    return 0


def _database(config: Config, demo: bool) -> Database:
    """Open the database; the demo creates its own schema, a real install must run `db upgrade`."""
    db = open_db(config, check=not demo)
    if demo:
        db.upgrade()
    return db


def _print_report(console: Console, report: PassReport, db: Database) -> None:
    """A table of what one pass recorded, and a one-line summary."""
    if report.remarked:
        console.print(f"finished {report.remarked} server mark(s) left by an interrupted run")
    new = [o for o in report.outcomes if o.status != "duplicate"]
    if not new:
        console.print("Nothing new: every message in the mailbox is already recorded.")
        return
    table = Table(show_lines=False)
    for col in ("#", "status", "from", "subject", "detail"):
        table.add_column(col, overflow="fold")
    for o in new:
        style = STATUS_STYLE.get(o.status, "")
        table.add_row(
            str(o.record_id or ""), f"[{style}]{o.status}[/]", o.sender or "?",
            o.subject[:60], o.detail[:80],
        )
    console.print(table)
    summary = ", ".join(
        f"{n} {status}" for status in ("accepted", "screened", "oversize", "quarantined", "duplicate")
        if (n := report.count(status))  # type: ignore[arg-type]
    )
    console.print(f"Recorded {len(new)} new message(s): {summary}. Run again: nothing is recorded twice.")
