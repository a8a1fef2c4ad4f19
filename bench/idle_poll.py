"""Idle-poll benchmark: a pass that finds nothing new costs the same on 10 and on 10,000 messages.

Run as root (it starts a private Dovecot, see tests/dovecot.py):

    /work/venv/bin/python bench/idle_poll.py [--big 10000] [--repeat 300]

Two users on one Dovecot hold 10 and 10,000 messages (bench/mails.py,
written as Maildir files before the first login: fast). Each mailbox is
ingested once by the runner (Intake.run_once, SQLite), so everything is
recorded and carries the processed keyword. Then, on an open connection,
`Intake.run_pass()` — read the cursor, UID SEARCH after it, record nothing —
is timed --repeat times on each. Prints the medians and the ratio big/small
(goal <= 1.2). Reports, asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mails import generate  # noqa: E402
from mailbot.config import demo_config  # noqa: E402
from mailbot.db import Database  # noqa: E402
from mailbot.imap import ImapMailbox  # noqa: E402
from mailbot.intake import Intake  # noqa: E402
from tests.dovecot import DovecotServer  # noqa: E402


def intake_for(server: DovecotServer, user: str, work: Path) -> Intake:
    """A runner for user's INBOX with its own SQLite database."""
    base = demo_config(work, work)
    config = dataclasses.replace(base, mailbox=dataclasses.replace(server.mailbox_config(), username=user))
    db = Database(f"sqlite:///{work / f'{user}.sqlite3'}")
    db.upgrade()
    return Intake(config, db, ImapMailbox(config.mailbox, config.intake.max_message_size))


def time_passes(intake: Intake, repeat: int) -> list[float]:
    """Seconds of each of repeat empty passes on an open connection."""
    intake.open()
    times = []
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            report = intake.run_pass()
            times.append(time.perf_counter() - started)
            assert not report.outcomes, "the mailbox was expected to hold nothing new"
    finally:
        intake.mailbox.close()
    return times


def main() -> None:
    """Fill, ingest, then time empty passes on both mailboxes."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=300)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp, DovecotServer() as server:
        work = Path(tmp)
        sizes = {"small": args.small, "big": args.big}
        for name, n in sizes.items():
            server.populate_maildir(generate(n, seed=7), server.new_user(f"poll{name}"))
        server.start()
        medians = {}
        for name, n in sizes.items():
            intake = intake_for(server, f"poll{name}", work)
            started = time.perf_counter()
            recorded = len(intake.run_once().outcomes)
            print(f"{name}: ingested {recorded} of {n} messages in {time.perf_counter() - started:.1f} s")
            time_passes(intake, 20)  # warm both sides' caches
            times = time_passes(intake, args.repeat)
            medians[name] = statistics.median(times)
            print(f"{name} ({n} messages): empty pass median {medians[name] * 1e3:.2f} ms, "
                  f"p90 {statistics.quantiles(times, n=10)[-1] * 1e3:.2f} ms over {args.repeat}")
        print(f"ratio {args.big} / {args.small} messages: {medians['big'] / medians['small']:.2f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
