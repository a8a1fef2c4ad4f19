"""One sending pass in its own process, killed (os._exit) at a named step: for the crash test.

Run as ``python -m tests.sender_process '<json>'`` with: db (URL), smtp_port,
dir, imap (host, port, username, password), now (ISO time for a FakeClock),
crash_at (one of mailbot.sender.STEPS) and markers (a directory). The process
dies at crash_at once per message: a marker file remembers that it did, so
the next run gets past it. Exit status 137 means "killed", as SIGKILL would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from mailbot import clock
from mailbot.config import MailboxConfig
from mailbot.db import Database
from mailbot.sender import Sender
from tests.test_sender import make_config


def main(raw: str) -> int:
    args = json.loads(raw)
    clock.install(clock.FakeClock(datetime.fromisoformat(args["now"])))
    mailbox = dataclasses.replace(
        MailboxConfig(), security="none", timeout=10.0, **args["imap"],
    )
    config = make_config(Path(args["dir"]), args["smtp_port"], mailbox=mailbox)
    markers = Path(args["markers"])
    markers.mkdir(exist_ok=True)

    def checkpoint(step: str, row_id: int) -> None:
        marker = markers / f"{step}-{row_id}"
        if step == args["crash_at"] and not marker.exists():
            marker.touch()
            # No cleanup, no flush, no rollback: as close to SIGKILL as a process can do to itself.
            os._exit(137)

    db = Database(args["db"])
    asyncio.run(Sender(db, config, checkpoint=checkpoint).deliver_due())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
