"""`mailbot quarantine`: look at the messages that could not be read."""

from __future__ import annotations

import argparse
import sys

from rich.table import Table
from sqlalchemy import select

from mailbot.cli.common import load, make_console, open_db
from mailbot.errors import NotFound
from mailbot.models import QuarantineEntry


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot quarantine list` and `mailbot quarantine show N`."""
    parser = sub.add_parser(
        "quarantine", help="list or show messages that could not be read",
        description=(
            "Messages that could not be parsed are kept raw in the quarantine with the error, "
            "so nothing is lost. Look at them here and answer them by hand if they matter."
        ),
    )
    qsub = parser.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)
    lst = qsub.add_parser("list", help="one line per quarantined message")
    lst.set_defaults(func=list_entries)
    show = qsub.add_parser("show", help="the error and the raw message of entry N")
    show.add_argument("number", type=int, metavar="N", help="the entry number from 'quarantine list'")
    show.add_argument("--raw", action="store_true", help="write only the raw bytes (to save as .eml)")
    show.set_defaults(func=show_entry)


def list_entries(args: argparse.Namespace) -> int:
    """Print the quarantine as a table."""
    db = open_db(load(args, allow_demo=True))
    with db.session() as session:
        entries = session.scalars(select(QuarantineEntry).order_by(QuarantineEntry.id)).all()
    console = make_console()
    if not entries:
        console.print("The quarantine is empty.")
        return 0
    table = Table()
    for col in ("#", "received", "source", "size", "error"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(str(e.id), e.received_at.strftime("%Y-%m-%d %H:%M"), f"{e.source} {e.ref}",
                      f"{e.size:,}", e.error)
    console.print(table)
    return 0


def show_entry(args: argparse.Namespace) -> int:
    """Print one entry: the error, then the raw message."""
    db = open_db(load(args, allow_demo=True))
    with db.session() as session:
        entry = session.get(QuarantineEntry, args.number)
        if entry is None:
            raise NotFound(f"no quarantine entry {args.number} (see: mailbot quarantine list)")
    if args.raw:
        sys.stdout.buffer.write(entry.raw)
        return 0
    print(f"entry:    {entry.id}\nreceived: {entry.received_at.isoformat()}\n"
          f"source:   {entry.source} {entry.ref}\nsize:     {entry.size:,} bytes\n"
          f"sha256:   {entry.sha256}\nerror:    {entry.error}\n")
    print(entry.raw.decode("utf-8", errors="replace"))
    return 0
