"""Reminder benchmark: one deadline-reminder pass over 100,000 open cases on SQLite (goal <= 1 s).

    /work/venv/bin/python bench/reminders.py [--cases 100000] [--due-today 100]

The database is a fresh SQLite file (WAL, as mailbot opens it) with N open
cases whose clocks run and whose due dates lie 1 to 90 days ahead, and a
reminder ledger in the steady state of a service that has run every day: each
case already has the reminders of the stages it passed. Of the N cases,
--due-today cross a reminder threshold today and are owed a mail; the rest
must be read past. The timed pass is `send_deadline_reminders` exactly as the
scheduler calls it: the query that finds what is owed, the rendering, the
outbox rows and the ledger rows, committed.

A second pass right after is timed too: it must find nothing (exactly once).
Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert

from mailbot import clock
from mailbot.config import parse_config
from mailbot.db import Database
from mailbot.models import Case, Reminder
from mailbot.reminders import send_deadline_reminders, stage

OFFSETS = (14, 7, 3, 1)


def build(db: Database, count: int, due_today: int, today: date, now: datetime) -> None:
    """Fill the database: cases, and the ledger rows a daily service would have written."""
    rng = random.Random(7)
    # Days left that cross a threshold today (owed a mail) and those that do not.
    crossing = list(OFFSETS)
    quiet = [d for d in range(1, 91) if d not in OFFSETS]
    cases, ledger = [], []
    for i in range(1, count + 1):
        days_left = rng.choice(crossing) if i <= due_today else rng.choice(quiet)
        due = today + timedelta(days=days_left)
        started = due - timedelta(days=30)
        cases.append(dict(
            id=i, reference=f"AK-2026-{i:06d}", requester_address=f"person{i}@example.org",
            requester_name=f"Person {i}", rights="access", subject="Subject access request",
            state="verified", received_at=now - timedelta(days=30 - days_left), clock_started_on=started,
            paused_days=0, due_on=due, extended=False, created_at=now, updated_at=now,
        ))
        # Yesterday's stage (and every one before it) has been sent already.
        yesterday = stage(days_left + 1, OFFSETS)
        for offset in (o for o in OFFSETS if yesterday is not None and o >= yesterday):
            ledger.append(dict(case_id=i, kind="deadline", cycle_start=started, extended=False, offset=offset,
                                   due_on=due, on_day=due - timedelta(days=offset), sent_at=now, outbox_id=None))
    with db.session() as session:
        for chunk in range(0, len(cases), 10_000):
            session.execute(insert(Case), cases[chunk:chunk + 10_000])
        for chunk in range(0, len(ledger), 10_000):
            session.execute(insert(Reminder), ledger[chunk:chunk + 10_000])


def main() -> None:
    """Build the database, time one pass and a repeat, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--due-today", type=int, default=100, help="cases owed a reminder today")
    args = parser.parse_args()
    now = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)  # 09:00 in London: the reminder hour
    clock.install(clock.FakeClock(now))
    today = date(2026, 6, 1)
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_config({
            "mailbox": {"source": "maildir", "path": tmp},
            "bot": {"address": "privacy@ak3dstudio.com", "name": "AK3D Studio"},
            "owner": {"email": "andrei@ak3dstudio.com"},
            "business": {"name": "AK3D Studio"},
        }, Path(tmp) / "mailbot.toml")
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        db.upgrade()
        started = time.perf_counter()
        build(db, args.cases, args.due_today, today, now)
        print(f"built {args.cases:,} open cases and their reminder ledger in {time.perf_counter() - started:.1f} s")
        # Timed cold: the first pass also compiles the templates.
        started = time.perf_counter()
        report = send_deadline_reminders(db, config)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = send_deadline_reminders(db, config)
        second = time.perf_counter() - started
        db.dispose()
    print(f"one reminder pass over {args.cases:,} open cases: {first:.3f} s "
          f"({len(report.sent)} reminder(s) queued; goal <= 1 s)")
    print(f"the same pass again at once: {second:.3f} s ({len(again.sent)} queued: each reminder goes out once)")


if __name__ == "__main__":
    main()
