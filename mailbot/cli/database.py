"""`mailbot db`: create and upgrade the database schema."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import make_url

from mailbot.cli.common import load, open_db


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot db upgrade` and `mailbot db current`."""
    parser = sub.add_parser(
        "db", help="create or upgrade the database schema",
        description="Manage the database schema (Alembic migrations shipped with mailbot).",
    )
    dbsub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser(
        "upgrade", help="create the tables or bring them up to date",
        description="Apply every migration this version ships. Safe to run twice. Back up first.",
    )
    up.set_defaults(func=upgrade)
    cur = dbsub.add_parser("current", help="show the schema version of the database")
    cur.set_defaults(func=current)


def upgrade(args: argparse.Namespace) -> int:
    """Apply all migrations."""
    config = load(args, allow_demo=True)
    db = open_db(config, check=False)
    before, after = db.upgrade()
    shown = make_url(db.url).render_as_string(hide_password=True)
    if before == after:
        print(f"{shown}: schema already up to date ({after})")
    else:
        print(f"{shown}: schema upgraded from {before or 'empty'} to {after}")
    return 0


def current(args: argparse.Namespace) -> int:
    """Print the current and newest schema versions."""
    config = load(args, allow_demo=True)
    db = open_db(config, check=False)
    cur, head = db.current(), db.head()
    state = "up to date" if cur == head else "out of date: run 'mailbot db upgrade'"
    print(f"schema {cur or 'empty'} (newest {head}): {state}")
    return 0
