"""What several commands share: finding the config and opening the database."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from mailbot.config import Config, demo_config, find_config_path, load_config
from mailbot.db import Database
from mailbot.errors import ConfigError

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "maildir"


def state_dir() -> Path:
    """Where the embedded demo keeps its database ($XDG_STATE_HOME/mailbot)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mailbot"


def load(args: argparse.Namespace, *, allow_demo: bool = False) -> Config:
    """The config named by --config or $MAILBOT_CONFIG; the embedded demo where allowed."""
    path = find_config_path(getattr(args, "config", None))
    if path is None:
        if allow_demo:
            return demo_config(SAMPLES, state_dir())
        raise ConfigError(
            "(no file)", None,
            "no configuration given: pass --config FILE or set MAILBOT_CONFIG "
            "(start from config.example.toml)",
        )
    return load_config(path)


def open_db(config: Config, *, check: bool = True) -> Database:
    """The database of config; with check, refuse a schema that is not up to date."""
    db = Database(config.database_url)
    if check:
        db.check_schema()
    return db


def make_console() -> Console:
    """Where commands print: a terminal's width, and unbroken lines when piped to a file or a log."""
    return Console(soft_wrap=not sys.stdout.isatty())
