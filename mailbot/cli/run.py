"""`mailbot run`: watch the mailbox and record every new message once."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from mailbot.cli.common import load, make_console, open_db
from mailbot.config import Config
from mailbot.db import Database
from mailbot.intake import Classify, Intake, PassReport
from mailbot.mailbox import create_mailbox
from mailbot.message import ParsedMessage
from mailbot.models import OutboxMessage
from mailbot.sender import Sender
from mailbot.service import process_new, run_service

log = logging.getLogger(__name__)

TABLE_ROWS = 50
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
            "the quarantine, and each request is classified and handled (cases, replies). "
            "The long-running mode also sends the outbox, reminds the owner of deadlines, sends the "
            "daily digest and applies retention, in one process, until SIGINT or SIGTERM. "
            "Without --config or MAILBOT_CONFIG it runs on the embedded demo: the sample mails "
            "shipped with mailbot, no mail server needed."
        ),
    )
    parser.add_argument("--once", action="store_true",
                        help="record what is new, handle it (cases, replies queued or drafted), print it, "
                             "and exit; nothing is sent unless --send is given")
    parser.add_argument("--send", action="store_true",
                        help="with --once: also try to send the queued mail once through [smtp]")
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
    """Run one pass (--once), or the whole service until a signal arrives."""
    config = load(args, allow_demo=True)
    demo = args.config is None and config.path.name == "demo.toml"
    db = _database(config, demo)
    console = make_console()
    if demo:
        console.print(
            f"[bold]Embedded demo[/]: reading the sample mails in {config.mailbox.path}\n"
            f"database: {config.database_url.removeprefix('sqlite:///')}"
        )
    if not args.once:
        if args.send:
            console.print("--send only goes with --once: the service always sends")
            return 2
        run_service(config, db, classify=_classifier())
        return 0
    intake = Intake(config, db, create_mailbox(config), classify=_classifier())
    report = intake.run_once()
    _print_report(console, report, db)
    workflow = process_new(db, config)
    _print_workflow(console, workflow)
    if args.send:
        delivery = asyncio.run(Sender(db, config).deliver_due())
        console.print(f"Sending: {len(delivery.sent)} sent, {len(delivery.deferred)} deferred, "
                      f"{len(delivery.failed)} failed, {len(delivery.unknown)} unknown.")
    _print_outbox(console, db, sent=args.send)
    return 0


def _print_workflow(console: Console, workflow: object | None) -> None:
    """What the workflow did with the new mail, one line per action."""
    if workflow is None:
        console.print("The workflow stage (cases and replies) is not installed; messages wait unhandled.")
        return
    lines = getattr(workflow, "lines", ())
    if not lines:
        console.print("Workflow: nothing new to handle.")
        return
    console.print("[bold]Workflow[/]:")
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False)


def _print_outbox(console: Console, db: Database, *, sent: bool) -> None:
    """The outbox by state, and how to send what waits."""
    with db.session() as session:
        counts = dict(session.execute(  # type: ignore[arg-type]
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
    if not counts:
        return
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    console.print(f"Outbox: {summary}.")
    if counts.get("queued") and not sent:
        console.print("Queued mail was not sent: `mailbot run` sends it (or `mailbot run --once --send`).")
    if counts.get("draft"):
        console.print("Drafts wait for the owner's approval.")


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
    for o in new[:TABLE_ROWS]:
        style = STATUS_STYLE.get(o.status, "")
        table.add_row(
            str(o.record_id or ""), f"[{style}]{o.status}[/]", o.sender or "?",
            o.subject[:60], o.detail[:80],
        )
    console.print(table)
    if len(new) > TABLE_ROWS:
        # A table of thousands of rows helps nobody and costs more than the ingest itself.
        console.print(f"... and {len(new) - TABLE_ROWS} more (each is in the log above)")
    summary = ", ".join(
        f"{n} {status}" for status in ("accepted", "screened", "oversize", "quarantined", "duplicate")
        if (n := report.count(status))  # type: ignore[arg-type]
    )
    console.print(f"Recorded {len(new)} new message(s): {summary}. Run again: nothing is recorded twice.")
