"""Shared fixtures: databases (SQLite and PostgreSQL), a fake clock, configs."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailbot import clock
from mailbot.db import Database
from tests.dovecot import *  # noqa: F401,F403  (the Dovecot fixtures)

PG_HOST, PG_PORT = "127.0.0.1", 5432


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
