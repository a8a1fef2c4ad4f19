"""Ingest benchmark: `mailbot run --once` over a 10,000-message IMAP mailbox vs a bare fetch + parse.

Run as root (it starts a private Dovecot, see tests/dovecot.py):

    /work/venv/bin/python bench/ingest.py [--count 10000] [--database-url URL]

In one run, on the same messages (bench/mails.py, ~5 KB each, varied):

1. bare: imapclient fetches every message with BODY.PEEK[] in batches of 200
   and the stdlib parses each (BytesParser with policy.default, the main
   headers read, the body found with get_body and decoded);
2. `mailbot run --once` as a child process (the CLI, the runner, parse,
   screen, record to the database, mark on the server), its wall time and
   peak RSS taken from wait4;
3. the runner in-process without the CLI and classifier (Intake.run_once), on
   a second copy of the mailbox, for comparison.

It prints the ratio runner / bare (goal <= 1.5) and the peak RSS (goal <=
200 MB). Reports, asserts nothing.

The mailboxes are filled by writing Maildir files straight into Dovecot's
mail directory before the first login (10,000 in a few seconds); APPEND
would take far longer. A first untimed SELECT + FETCH RFC822.SIZE lets
Dovecot build its index and warms the page cache, so neither timed run pays
for that.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from imapclient import IMAPClient  # noqa: E402

from mails import generate  # noqa: E402
from tests.dovecot import DovecotServer  # noqa: E402

BATCH = 200


def warm(server: DovecotServer, user: str) -> float:
    """Let Dovecot index the folder (untimed in the comparison); returns the seconds it took."""
    started = time.perf_counter()
    with server.client(user) as c:
        c.select_folder("INBOX", readonly=True)
        uids = c.search("ALL")
        for i in range(0, len(uids), 1000):
            c.fetch(uids[i : i + 1000], ["RFC822.SIZE"])
    return time.perf_counter() - started


def bare(server: DovecotServer, user: str, parse: str) -> tuple[float, int]:
    """Fetch every message and parse it with the stdlib; returns (seconds, messages).

    parse: "" fetch only; "parse" BytesParser(policy.default) alone (the
    issue's baseline); "read" also reads the main headers and decodes the body.
    """
    parser = BytesParser(policy=policy.default)
    count = 0
    started = time.perf_counter()
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=30) as c:
        c.login(user, server.password)
        c.select_folder("INBOX", readonly=True)
        uids = c.search("ALL")
        for i in range(0, len(uids), BATCH):
            for data in c.fetch(uids[i : i + BATCH], ["BODY.PEEK[]"]).values():
                raw = data[b"BODY[]"]
                count += 1
                if parse:
                    msg = parser.parsebytes(raw)
                if parse == "read":
                    _ = (msg["subject"], msg["from"], msg["to"], msg["date"], msg["message-id"])
                    body = msg.get_body(("plain", "html"))
                    if body is not None:
                        body.get_content()
    return time.perf_counter() - started, count


def config_file(directory: Path, server: DovecotServer, user: str, database_url: str) -> Path:
    """A mailbot config for user's INBOX on server."""
    path = directory / f"{user}.toml"
    path.write_text(
        f"""\
[mailbox]
source = "imap"
host = "{server.host}"
port = {server.port}
security = "none"
username = "{user}"
password = "{server.password}"
[database]
url = "{database_url}"
[bot]
address = "andrei@ak3dstudio.com"
name = "AK3D Studio"
[owner]
email = "andrei@ak3dstudio.com"
[business]
name = "AK3D Studio"
"""
    )
    return path


def timed_child(argv: list[str]) -> tuple[float, float, int, str]:
    """Run argv; returns (wall seconds, peak RSS in MB, exit status, stdout)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as log:
        # Files, not pipes: the child logs a line per message and would
        # block on a full pipe nobody reads until it exits.
        proc = subprocess.Popen(argv, stdout=out, stderr=log)
        # wait4 gives this child's own rusage, not the sum over all children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        log.seek(0)
        text, err = out.read().decode(errors="replace"), log.read().decode(errors="replace")
    if proc.returncode:
        print(f"  ! {' '.join(argv[:4])}... exited {proc.returncode}:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, proc.returncode, text


def inprocess(config_path: str) -> None:
    """Child mode: Intake.run_once without the CLI or classifier; prints the seconds."""
    from mailbot.config import load_config
    from mailbot.db import Database
    from mailbot.imap import ImapMailbox
    from mailbot.intake import Intake

    config = load_config(config_path)
    db = Database(config.database_url)
    started = time.perf_counter()
    report = Intake(config, db, ImapMailbox(config.mailbox, config.intake.max_message_size)).run_once()
    print(f"{time.perf_counter() - started:.3f} {len(report.outcomes)}")


def main() -> None:
    """Build the mailbox, time the three readers, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--database-url", help="default: a SQLite file in the temp directory")
    ap.add_argument("--inprocess", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inprocess:
        inprocess(args.inprocess)
        return
    # SIGTERM unwinds like Ctrl-C, so the Dovecot below is stopped and removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    python, mailbot = sys.executable, str(Path(sys.executable).with_name("mailbot"))
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp, DovecotServer() as server:
        work = Path(tmp)
        users = {}
        for role in ("cli", "inproc"):
            user = server.new_user(f"bench{role}")
            started = time.perf_counter()
            n = server.populate_maildir(generate(args.count), user)
            users[role] = user
            print(f"populated {user}: {n} messages in {time.perf_counter() - started:.2f} s (Maildir files)")
        server.start()
        for user in users.values():
            print(f"warm-up (Dovecot indexes {user}): {warm(server, user):.2f} s")
        total = sum(f.stat().st_size for f in (server.user_maildir(users["cli"]) / "new").iterdir()) or sum(
            f.stat().st_size for f in (server.user_maildir(users["cli"]) / "cur").iterdir())
        print(f"mailbox: {args.count} messages, {total / 1e6:.1f} MB")

        fetch_only, n = bare(server, users["cli"], parse="")
        print(f"bare imapclient fetch:                    {fetch_only:6.2f} s ({n} messages)")
        baseline, n = bare(server, users["cli"], parse="parse")
        print(f"bare fetch + stdlib parse (the baseline): {baseline:6.2f} s")
        reading, n = bare(server, users["cli"], parse="read")
        print(f"bare fetch + parse + headers + body text: {reading:6.2f} s")

        urls = {}
        for role, user in users.items():
            url = args.database_url or f"sqlite:///{work / f'{role}.sqlite3'}"
            if args.database_url:
                print("note: one --database-url serves both runs; the second sees the first's records")
            urls[role] = config_file(work, server, user, url)
            subprocess.run([mailbot, "--config", str(urls[role]), "db", "upgrade"], check=True,
                           stdout=subprocess.DEVNULL)

        wall, rss, status, _ = timed_child([mailbot, "--config", str(urls["cli"]), "run", "--once"])
        print(f"mailbot run --once:              {wall:6.2f} s, peak RSS {rss:.0f} MB (exit {status})")
        print(f"  ratio run --once / bare fetch+parse: {wall / baseline:.2f}  (goal <= 1.5); "
              f"against fetch+parse+read: {wall / reading:.2f}")
        print(f"  peak RSS: {rss:.0f} MB  (goal <= 200 MB)")

        _, rss, status, out = timed_child([python, __file__, "--inprocess", str(urls["inproc"])])
        if status == 0 and out.strip():
            seconds, recorded = out.split()[-2:]
            print(f"Intake.run_once in-process (no CLI, no classifier): {float(seconds):6.2f} s "
                  f"for {recorded} messages, ratio {float(seconds) / baseline:.2f}, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
