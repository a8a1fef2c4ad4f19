"""`mailbot drafts`: the messages waiting for the owner's approval; approve, reject or edit them."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.table import Table
from sqlalchemy.orm import Session

from mailbot import approval
from mailbot.cli.common import load, make_console, open_db
from mailbot.errors import MailbotError
from mailbot.models import Case, OutboxMessage


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot drafts list | show N | approve N | reject N --reason ... | edit N`."""
    parser = sub.add_parser(
        "drafts", help="approve, reject or edit the messages that wait for you",
        description=(
            "Messages whose [responses] policy is 'draft' wait here until you decide. You can also "
            "decide by replying to the 'Draft N to approve' email mailbot sent you."
        ),
    )
    dsub = parser.add_subparsers(dest="drafts_command", metavar="ACTION", required=True)
    lst = dsub.add_parser("list", help="the drafts waiting, oldest first")
    lst.set_defaults(func=list_drafts)
    show = dsub.add_parser("show", help="draft N in full")
    show.add_argument("number", type=int, metavar="N", help="the number from 'drafts list'")
    show.set_defaults(func=show_draft)
    approve = dsub.add_parser(
        "approve", help="send draft N as it is",
        description="Queues draft N as it is. --attach sends files with it: the copy of the data an "
                    f"access request asks for, or a portability export (at most "
                    f"{approval.MAX_ATTACHMENT_BYTES // 1024 // 1024} MB in all).",
    )
    approve.add_argument("number", type=int, metavar="N")
    _attach_option(approve)
    approve.set_defaults(func=approve_draft)
    reject = dsub.add_parser("reject", help="do not send draft N; the reason is kept with the case")
    reject.add_argument("number", type=int, metavar="N")
    reject.add_argument("--reason", required=True, help='why, e.g. "we hold no data about this person"')
    reject.set_defaults(func=reject_draft)
    edit = dsub.add_parser(
        "edit", help="change the text of draft N in $EDITOR, then send it",
        description="Opens the text of draft N in $EDITOR (or $VISUAL, else vi). Saving a changed "
                    "text sends it instead of the draft (as plain text); an unchanged text changes nothing.",
    )
    edit.add_argument("number", type=int, metavar="N")
    _attach_option(edit)
    edit.set_defaults(func=edit_draft)


def _attach_option(parser: argparse.ArgumentParser) -> None:
    """--attach FILE, repeatable."""
    parser.add_argument("--attach", metavar="FILE", type=Path, action="append", default=[],
                        help="send this file with the message (repeat for several)")


def list_drafts(args: argparse.Namespace) -> int:
    """Print the drafts waiting as a table."""
    db = open_db(load(args, allow_demo=True))
    console = make_console()
    with db.session() as session:
        rows = approval.drafts(session)
        if not rows:
            console.print("No drafts are waiting for approval.")
            return 0
        table = Table()
        for col in ("#", "created", "kind", "case", "due", "to", "subject"):
            table.add_column(col, overflow="fold")
        for row in rows:
            case = _case(session, row)
            table.add_row(
                str(row.id), row.created_at.strftime("%Y-%m-%d %H:%M"), row.kind,
                case.reference if case else "", str(case.due_on or "") if case else "",
                row.to_address, row.subject,
            )
    console.print(table)
    return 0


def show_draft(args: argparse.Namespace) -> int:
    """Print one draft: who it goes to, its case, and its text."""
    db = open_db(load(args, allow_demo=True))
    with db.session() as session:
        row = approval.get_draft(session, args.number)
        case = _case(session, row)
        print(f"Draft {row.id} ({row.kind}), created {row.created_at:%Y-%m-%d %H:%M} UTC")
        if case is not None:
            print(f"Case:    {case.reference} ({case.state}), due {case.due_on or 'not yet running'}")
        print(f"To:      {row.to_address}")
        print(f"Subject: {row.subject}")
        print()
        sys.stdout.write(approval.draft_text(row))
    return 0


def approve_draft(args: argparse.Namespace) -> int:
    """Queue a draft as it is, with any files to attach."""
    config = load(args, allow_demo=True)
    files = [approval.Attachment.read(path) for path in args.attach]
    db = open_db(config)
    with db.session() as session:
        row = approval.approve(session, args.number, actor=config.owner.email, config=config,
                               attachments=files)
        print(f"draft {row.id} approved{_with(files)}; it goes to {row.to_address} at the next sending pass")
    return 0


def reject_draft(args: argparse.Namespace) -> int:
    """Cancel a draft, keeping the reason."""
    config = load(args, allow_demo=True)
    db = open_db(config)
    with db.session() as session:
        row = approval.reject(session, args.number, args.reason, actor=config.owner.email)
        print(f"draft {row.id} rejected; it will not be sent")
    return 0


def edit_draft(args: argparse.Namespace) -> int:
    """Edit a draft's text in $EDITOR and queue the result; an unchanged text aborts."""
    config = load(args, allow_demo=True)
    files = [approval.Attachment.read(path) for path in args.attach]
    db = open_db(config)
    with db.session() as session:
        original = approval.draft_text(approval.get_draft(session, args.number))
    edited = _edit_in_editor(original, f"mailbot-draft-{args.number}-")
    if edited.strip() == original.strip():
        print(f"draft {args.number}: the text is unchanged; nothing was done "
              f"(to send it as it is: mailbot drafts approve {args.number})", file=sys.stderr)
        return 1
    with db.session() as session:
        row = approval.edit(session, args.number, edited, actor=config.owner.email, config=config,
                            attachments=files)
        print(f"draft {row.id} edited and approved{_with(files)}; it goes to {row.to_address} "
              "at the next sending pass")
    return 0


def _with(files: list[approval.Attachment]) -> str:
    """' with a.zip (1.2 MB)' for the confirmation line, or nothing."""
    return " with " + ", ".join(f.describe() for f in files) if files else ""


def _edit_in_editor(text: str, prefix: str) -> str:
    """text after the user edited it in $VISUAL / $EDITOR (vi when neither is set)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".txt", text=True)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        if done.returncode != 0:
            raise MailbotError(f"the editor {editor!r} exited with status {done.returncode}; nothing was changed")
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


def _case(session: Session, row: OutboxMessage) -> Case | None:
    return session.get(Case, row.case_id) if row.case_id is not None else None
