"""Schema migrations on SQLite and PostgreSQL, and the refusal to run on an old schema."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from mailbot.cli import main
from mailbot.db import Database
from mailbot.errors import SchemaOutOfDate
from mailbot.models import MailboxState


def test_upgrade_creates_every_table_and_is_idempotent(db_url: str) -> None:
    db = Database(db_url)
    with pytest.raises(SchemaOutOfDate, match="mailbot db upgrade"):
        db.check_schema()
    before, after = db.upgrade()
    assert before is None and after == db.head()
    assert db.upgrade() == (after, after)
    db.check_schema()
    tables = set(inspect(db.engine).get_table_names())
    assert {"messages", "mailbox_state", "attachments", "quarantine", "alembic_version"} <= tables
    db.dispose()


def test_datetimes_come_back_aware_utc(database: Database) -> None:
    bst = timezone(timedelta(hours=1))
    when = datetime(2026, 6, 1, 0, 30, tzinfo=bst)
    with database.session() as session:
        session.add(MailboxState(source="x", uidvalidity=1, last_uid=0, updated_at=when))
    with database.session() as session:
        stored = session.scalar(select(MailboxState.updated_at))
    assert stored == when
    assert stored.utcoffset() == timedelta(0)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()


def test_run_refuses_an_empty_schema_and_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maildir = tmp_path / "mail"
    maildir.mkdir()
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[mailbox]\nsource = "maildir"\npath = "{maildir}"\n'
        '[bot]\naddress = "bot@example.com"\n[owner]\nemail = "owner@example.com"\n'
        '[business]\nname = "Studio"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "run", "--once"]) == 2
    assert "run: mailbot db upgrade" in capsys.readouterr().err
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert "schema upgraded from empty" in capsys.readouterr().out
    assert main(["--config", str(config), "run", "--once"]) == 0
    assert "Nothing new" in capsys.readouterr().out
