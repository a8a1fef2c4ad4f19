"""The one-process service: starts, watches, handles, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailbot.db import Database
from mailbot.models import Heartbeat, Message

SAMPLES = Path(__file__).resolve().parent.parent / "mailbot" / "samples" / "maildir"


def closed_port() -> int:
    """A local port nothing listens on: SMTP is unreachable, as in the demo."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path) -> Path:
    maildir = tmp_path / "maildir"
    shutil.copytree(SAMPLES, maildir)
    path = tmp_path / "mailbot.toml"
    path.write_text(f"""
[mailbox]
source = "maildir"
path = "{maildir}"
poll_interval = 0.5

[smtp]
host = "127.0.0.1"
port = {closed_port()}
security = "none"

[database]
url = "sqlite:///{tmp_path / 'mailbot.sqlite3'}"

[bot]
address = "privacy@ak3dstudio.com"
name = "AK3D Studio"

[owner]
email = "andrei@ak3dstudio.com"

[business]
name = "AK3D Studio"

[schedule]
outbox_retry_seconds = 1
""", encoding="utf-8")
    return path


def mailbot(*args: str, config: Path) -> list[str]:
    return [sys.executable, "-m", "mailbot", "--config", str(config), *args]


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_service_starts_works_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    config = write_config(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(mailbot("db", "upgrade", config=config), check=True, capture_output=True, env=env)
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(mailbot("run", config=config), stdout=out, stderr=subprocess.STDOUT, env=env)
        db = Database(f"sqlite:///{tmp_path / 'mailbot.sqlite3'}")
        try:
            def watcher_beat() -> bool:
                with db.session() as session:
                    return session.get(Heartbeat, "watcher") is not None

            assert wait_for(watcher_beat), log.read_text()
            assert wait_for(lambda: "digest" in log.read_text() or "deadline" in log.read_text(), 10)
            proc.send_signal(sig)
            rc = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert rc == 0, text
    assert f"received {sig.name}" in text and "stopped cleanly" in text
    assert "Traceback" not in text and " ERROR " not in text, text
    with db.session() as session:
        handled = session.query(Message).filter(Message.handled_at.is_not(None)).count()
    db.dispose()
    assert handled > 0  # the workflow ran after the watcher's pass


def test_once_records_handles_and_does_not_send(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    subprocess.run(mailbot("db", "upgrade", config=config), check=True, capture_output=True)
    done = subprocess.run(mailbot("run", "--once", config=config), capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "Recorded" in done.stdout and "Workflow" in done.stdout
    assert "queued" in done.stdout and "was not sent" in done.stdout
    status = subprocess.run(mailbot("status", config=config), capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert status.returncode == 0, status.stderr
    assert "deadline-reminders" in status.stdout and "queued" in status.stdout
