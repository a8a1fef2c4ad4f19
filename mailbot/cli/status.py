"""`mailbot status`: what the service is doing, read from the database (no running process needed)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.table import Table
from sqlalchemy import func, select

from mailbot import clock
from mailbot.casework import is_open
from mailbot.cli.common import load, make_console, open_db
from mailbot.models import Case, JobRun, MailboxState, OutboxMessage, QuarantineEntry, Reminder
from mailbot.outbox import DRAFT, QUEUED
from mailbot.reminders import due_reminders
from mailbot.scheduler import next_runs
from mailbot.service import SCHEDULER, WATCHER, heartbeats


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot status`."""
    parser = sub.add_parser(
        "status", help="the watcher, the outbox, the scheduler's next runs and the open cases",
        description=(
            "Shows, from the database: where the mailbox watcher stands and when it last looked, "
            "the outbox by state, when each scheduled job runs next, and the open cases, drafts and "
            "quarantined mail. Works whether or not `mailbot run` is running."
        ),
    )
    parser.set_defaults(func=status)


def _ago(moment: datetime | None, now: datetime) -> str:
    """A moment as 'YYYY-MM-DD HH:MM (5 min ago)'."""
    if moment is None:
        return "never"
    delta = now - moment
    if delta < timedelta(minutes=1):
        rel = "just now"
    elif delta < timedelta(hours=1):
        rel = f"{int(delta.total_seconds() // 60)} min ago"
    elif delta < timedelta(days=2):
        rel = f"{delta.total_seconds() / 3600:.1f} h ago"
    else:
        rel = f"{delta.days} days ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({rel})"


def status(args: argparse.Namespace) -> int:
    """Print the state of the service."""
    config = load(args, allow_demo=True)
    db = open_db(config)
    now = clock.now()
    tz = ZoneInfo(config.business.timezone)
    today = now.astimezone(tz).date()
    console = make_console()
    beats = heartbeats(db)
    with db.session() as session:
        cursors = session.scalars(select(MailboxState).order_by(MailboxState.source)).all()
        outbox = dict(session.execute(  # type: ignore[arg-type]
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all())
        oldest = session.scalar(select(func.min(OutboxMessage.queued_at)).where(OutboxMessage.state == QUEUED))
        cases = session.execute(select(Case.state, Case.due_on)).all()
        quarantined = session.scalar(select(func.count()).select_from(QuarantineEntry)) or 0
        owed = len(due_reminders(session, config, today))
        last_reminder = session.scalar(select(func.max(Reminder.sent_at)))
        last_runs = dict(session.execute(  # type: ignore[arg-type]
            select(JobRun.job, func.max(JobRun.at)).group_by(JobRun.job)).all())

    console.print("[bold]Watcher[/]")
    beat = beats.get(WATCHER)
    console.print(f"  last pass: {_ago(beat.at if beat else None, now)}"
                  + (f"  {beat.detail}" if beat and beat.detail else ""))
    if not cursors:
        console.print("  no mailbox read yet")
    for c in cursors:
        console.print(f"  {c.source}: UIDVALIDITY {c.uidvalidity}, last UID {c.last_uid}, "
                      f"last new mail {_ago(c.updated_at, now)}")

    console.print("[bold]Outbox[/]")
    if not outbox:
        console.print("  empty")
    else:
        console.print("  " + ", ".join(f"{n} {state}" for state, n in sorted(outbox.items())))
    if oldest is not None:
        console.print(f"  oldest queued: {_ago(oldest, now)}")

    console.print(f"[bold]Scheduler[/] (times in {config.business.timezone})")
    sched = beats.get(SCHEDULER)
    console.print(f"  last job: {_ago(sched.at if sched else None, now)}"
                  + (f"  {sched.detail}" if sched and sched.detail else ""))
    table = Table(show_header=True, box=None, pad_edge=False)
    for col in ("job", "when", "next run", "last daily run"):
        table.add_column(col)
    for spec, when in next_runs(config, now):
        last = last_runs.get(spec.name)
        table.add_row(spec.name, spec.describe,
                      f"{when.astimezone(tz):%Y-%m-%d %H:%M}" if when else "-",
                      f"{last.astimezone(tz):%Y-%m-%d %H:%M}" if last else "")
    console.print(table)
    console.print(f"  deadline reminders owed today: {owed}; last sent: {_ago(last_reminder, now)}")

    console.print("[bold]Cases[/]")
    open_cases = [(s, d) for s, d in cases if is_open(s)]
    overdue = sum(1 for _s, d in open_cases if d is not None and d < today)
    console.print(f"  {len(open_cases)} open ({overdue} overdue), {len(cases) - len(open_cases)} finished; "
                  f"{outbox.get(DRAFT, 0)} draft(s) waiting; {quarantined} message(s) in quarantine")
    return 0
