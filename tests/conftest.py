"""Shared fixtures: databases (SQLite and PostgreSQL), a fake clock, configs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailbot import clock
from mailbot.db import Database
from tests.dovecot import *  # noqa: F401,F403  (the Dovecot fixtures)

PG_HOST, PG_PORT = "127.0.0.1", 5432

# The test that rebuilds the classifier model takes minutes of one core; the model is trained in
# a second process from the moment the test is collected, so the rest of the suite runs beside it.
REBUILD_TEST = "test_committed_model_matches_what_train_produces"
_rebuild_key = pytest.StashKey[tuple[subprocess.Popen[bytes], Path]]()


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what is not to run
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start `mailbot classifier train` in the background if the rebuild test is to run; run that test last."""
    if not any(item.name == REBUILD_TEST for item in items):
        return
    items.sort(key=lambda item: item.name == REBUILD_TEST)  # stable: the others keep their order
    if config.option.collectonly:
        return
    work = Path(tempfile.mkdtemp(prefix="mailbot-rebuild-"))
    with (work / "train.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "classifier", "train", "--out", str(work / "model")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # a group of its own: stopping it stops the members it forks too
        )
    config.stash[_rebuild_key] = (process, work)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the background training if the suite ended first, and remove its files."""
    started = config.stash.get(_rebuild_key, None)
    if started is not None:
        process, work = started
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the training and any member it forked
        except ProcessLookupError:
            pass  # all of them had ended
        process.wait()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def rebuilt_model(request: pytest.FixtureRequest) -> Path:
    """The model directory `mailbot classifier train` wrote in the background (waits for it)."""
    started = request.config.stash.get(_rebuild_key, None)
    assert started is not None, f"the background training starts only for {REBUILD_TEST}"
    process, work = started
    code = process.wait(timeout=3600)
    log = (work / "train.log").read_text(errors="replace")
    assert code == 0, f"mailbot classifier train failed ({code}):\n{log[-3000:]}"
    return work / "model"


def _postgres_reachable() -> str | None:
    """None if PostgreSQL answers on 127.0.0.1:5432 with psycopg installed, else why not."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return None
    except OSError as exc:
        return f"PostgreSQL is not running on {PG_HOST}:{PG_PORT} ({exc.strerror})"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, and a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    why = _postgres_reachable()
    if why:
        pytest.skip(f"PostgreSQL tests skipped: {why}")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} dbname=test user=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test"
            f"?options=-csearch_path%3D{schema}"
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A migrated database on both backends."""
    db = Database(db_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database only (for tests that need no PostgreSQL variant)."""
    db = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def fake_clock() -> Iterator[clock.FakeClock]:
    """Install a FakeClock at 2026-05-04 09:00 UTC for the test's duration."""
    fake = clock.FakeClock(datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc))
    previous = clock.install(fake)
    yield fake
    clock.install(previous)
