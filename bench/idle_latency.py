"""IDLE latency benchmark: from another client's APPEND to the message recorded in the database.

Run as root (it starts a private Dovecot, see tests/dovecot.py):

    /work/venv/bin/python bench/idle_latency.py [--rounds 30]

The runner (Intake.run, SQLite) watches a 10-message INBOX in a thread. A
second, already logged-in client APPENDs one message per round; the time
until the runner's pass has recorded and marked it (its on_pass callback) is
measured from the start of the APPEND. Prints the median (goal <= 0.5 s).

For scale it first measures the server's own floor the same way with a bare
imapclient IDLE: Dovecot 2.3 holds back IDLE notifications by a fixed 500 ms
(NOTIFY_DELAY_MSECS in src/lib-storage/index/index-mailbox-check.c), so no
client sees a new message sooner. Reports, asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import queue
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mails import generate  # noqa: E402
from mailbot.config import demo_config  # noqa: E402
from mailbot.db import Database  # noqa: E402
from mailbot.imap import ImapMailbox  # noqa: E402
from mailbot.intake import Intake, PassReport  # noqa: E402
from tests.dovecot import DovecotServer  # noqa: E402

SETTLE = 0.3  # between rounds, so the watcher is back in IDLE


def bare_floor(server: DovecotServer, messages: list[bytes]) -> list[float]:
    """APPEND start to EXISTS seen by a bare imapclient IDLE, per message."""
    watcher = server.client()
    watcher.select_folder("INBOX")
    appender = server.client()
    times = []
    try:
        for raw in messages:
            watcher.idle()
            time.sleep(SETTLE)
            started = time.perf_counter()
            appender.append("INBOX", raw)
            while not any(len(r) > 1 and r[1] == b"EXISTS" for r in watcher.idle_check(timeout=5)):
                pass
            times.append(time.perf_counter() - started)
            watcher.idle_done()
    finally:
        watcher.logout()
        appender.logout()
    return times


def runner_latency(server: DovecotServer, work: Path, messages: list[bytes]) -> tuple[list[float], list[float]]:
    """APPEND start (and APPEND done) to recorded-and-marked by the runner, per message."""
    base = demo_config(work, work)
    config = dataclasses.replace(base, mailbox=server.mailbox_config())
    db = Database(f"sqlite:///{work / 'latency.sqlite3'}")
    db.upgrade()
    intake = Intake(config, db, ImapMailbox(config.mailbox, config.intake.max_message_size))
    intake.run_once()  # the 10 messages already there
    passes: queue.Queue[float] = queue.Queue()
    stop = threading.Event()

    def on_pass(report: PassReport) -> None:
        passes.put(time.perf_counter())

    thread = threading.Thread(target=intake.run, args=(stop, on_pass), daemon=True)
    thread.start()
    appender = server.client()
    from_start, from_done = [], []
    try:
        for raw in messages:
            time.sleep(SETTLE)
            started = time.perf_counter()
            appender.append("INBOX", raw)
            done = time.perf_counter()
            recorded = passes.get(timeout=10)
            from_start.append(recorded - started)
            from_done.append(recorded - done)
    finally:
        appender.logout()
        stop.set()
        thread.join(5)
    return from_start, from_done


def main() -> None:
    """Measure the server floor, then the runner."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.WARNING)
    corpus = list(generate(10 + 2 * args.rounds, seed=11))
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp, DovecotServer() as server:
        server.populate_maildir(corpus[:10])
        server.start()
        floor = bare_floor(server, corpus[10 : 10 + args.rounds])
        print(f"Dovecot floor (bare IDLE, APPEND start to EXISTS): median {statistics.median(floor) * 1e3:.0f} ms, "
              f"max {max(floor) * 1e3:.0f} ms")
        server.new_user()
        server.stop()
        server.populate_maildir(corpus[:10])
        server.start()
        start, done = runner_latency(server, Path(tmp), corpus[10 + args.rounds :])
        median = statistics.median(start)
        print(f"runner (APPEND start to recorded + marked): median {median * 1e3:.0f} ms, "
              f"p90 {statistics.quantiles(start, n=10)[-1] * 1e3:.0f} ms, max {max(start) * 1e3:.0f} ms "
              f"over {len(start)} rounds  (goal <= 500 ms)")
        print(f"  from APPEND completion: median {statistics.median(done) * 1e3:.0f} ms; "
              f"runner's own share above the floor: {(median - statistics.median(floor)) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
