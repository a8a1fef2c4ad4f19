"""The one database session factory, and the schema check that guards it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailbot.errors import SchemaOutOfDate


def create_db_engine(url: str) -> Engine:
    """An engine for url; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, pool_pre_ping=True)


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def _alembic(self) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(resources.files("mailbot") / "migrations"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def head(self) -> str | None:
        """The newest migration this version of mailbot ships."""
        return ScriptDirectory.from_config(self._alembic()).get_current_head()

    def current(self) -> str | None:
        """The migration the database is at, or None for an empty database."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def upgrade(self) -> tuple[str | None, str | None]:
        """Bring the schema to the newest migration; returns (before, after)."""
        before = self.current()
        command.upgrade(self._alembic(), "head")
        return before, self.current()

    def check_schema(self) -> None:
        """Raise SchemaOutOfDate unless the schema is exactly at head."""
        current, head = self.current(), self.head()
        if current == head:
            return
        shown = make_url(self.url).render_as_string(hide_password=True)
        if current is None:
            raise SchemaOutOfDate(f"the database {shown} has no mailbot tables yet; run: mailbot db upgrade")
        raise SchemaOutOfDate(
            f"the database {shown} is at schema {current}, this mailbot needs {head}; "
            "run: mailbot db upgrade (back up the database first)"
        )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
