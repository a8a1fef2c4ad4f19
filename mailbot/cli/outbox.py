"""`mailbot outbox`: what was sent, what waits, what failed; retry a failed message."""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.table import Table
from sqlalchemy import select

from mailbot import outbox
from mailbot.cli.common import load, make_console, open_db
from mailbot.models import OutboxMessage

EXPLAIN = {
    "draft": "waits for the owner's approval",
    "queued": "due at the time shown",
    "sending": "an attempt is under way (or mailbot stopped during it; it is checked at the next pass)",
    "unknown": "an attempt was interrupted; mailbot looks for its copy in the mailbox before any retry",
    "sent": "accepted by the SMTP server",
    "failed": "refused for good; the owner was told; 'mailbot outbox retry N' queues it again",
    "cancelled": "a draft the owner rejected; never sent",
}


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot outbox list | show N | retry N | send`."""
    parser = sub.add_parser(
        "outbox", help="list, show or retry the messages mailbot sends",
        description=(
            "Every message mailbot sends is stored here, complete, before it is sent. "
            "States: " + "; ".join(f"{k}: {v}" for k, v in EXPLAIN.items()) + "."
        ),
    )
    osub = parser.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    lst = osub.add_parser("list", help="one line per message, newest first")
    lst.add_argument("--state", choices=outbox.STATES, help="only messages in this state")
    lst.add_argument("--limit", type=int, default=50, metavar="N", help="at most N lines (default 50)")
    lst.set_defaults(func=list_messages)
    show = osub.add_parser("show", help="the state and the full message N")
    show.add_argument("number", type=int, metavar="N", help="the number from 'outbox list'")
    show.add_argument("--raw", action="store_true", help="write only the raw bytes (to save as .eml)")
    show.set_defaults(func=show_message)
    retry = osub.add_parser(
        "retry", help="queue a failed (or unresolved) message again",
        description=(
            "Queue message N again, due now. For a message in state 'unknown', check first that "
            "the person did not receive it (look in the Sent mail of the SMTP account)."
        ),
    )
    retry.add_argument("number", type=int, metavar="N", help="the number from 'outbox list'")
    retry.set_defaults(func=retry_message)
    send = osub.add_parser("send", help="one sending pass now (what 'mailbot run' does continuously)")
    send.set_defaults(func=send_now)


def list_messages(args: argparse.Namespace) -> int:
    """Print the outbox as a table."""
    db = open_db(load(args, allow_demo=True))
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(args.limit)
    if args.state:
        query = query.where(OutboxMessage.state == args.state)
    with db.session() as session:
        found = session.scalars(query).all()
    console = make_console()
    if not found:
        console.print("The outbox is empty." if not args.state else f"No {args.state} messages.")
        return 0
    table = Table()
    for col in ("#", "created", "state", "kind", "case", "to", "subject", "attempts", "next / sent", "error"):
        table.add_column(col, overflow="fold")
    for m in found:
        when = m.sent_at if m.state == "sent" else m.next_attempt_at
        table.add_row(
            str(m.id), m.created_at.strftime("%Y-%m-%d %H:%M"), m.state, m.kind,
            "" if m.case_id is None else str(m.case_id), m.to_address, m.subject, str(m.attempts),
            when.strftime("%Y-%m-%d %H:%M") if when else "", m.last_error or "",
        )
    console.print(table)
    return 0


def show_message(args: argparse.Namespace) -> int:
    """Print one message's record, then the message itself."""
    db = open_db(load(args, allow_demo=True))
    with db.session() as session:
        m = outbox.get(session, args.number)
    if args.raw:
        sys.stdout.buffer.write(m.raw)
        return 0

    def at(value: object) -> str:
        return value.isoformat() if hasattr(value, "isoformat") else "-"

    print(
        f"message:     {m.id}\nstate:       {m.state} ({EXPLAIN.get(m.state, '')})\n"
        f"kind:        {m.kind}\ncase:        {m.case_id if m.case_id is not None else '-'}\n"
        f"message-id:  {m.message_id}\nfrom:        {m.from_address}\nto:          {m.to_address}\n"
        f"subject:     {m.subject}\ncreated:     {at(m.created_at)}\nattempts:    {m.attempts}\n"
        f"last try:    {at(m.attempt_started_at)}\nnext try:    {at(m.next_attempt_at)}\n"
        f"sent:        {at(m.sent_at)}\nin Sent:     {'yes' if m.appended_to_sent else 'no'}\n"
        f"approved by: {m.approved_by or '-'}\nlast error:  {m.last_error or '-'}\n"
    )
    print(m.raw.decode("utf-8", errors="replace"))
    return 0


def retry_message(args: argparse.Namespace) -> int:
    """Queue a failed or unknown message again."""
    db = open_db(load(args, allow_demo=True))
    with db.session() as session:
        m = outbox.retry(session, args.number)
        print(f"message {m.id} to {m.to_address} is queued again; it goes out at the next sending pass")
    return 0


def send_now(args: argparse.Namespace) -> int:
    """Run one sending pass and print what it did."""
    from mailbot.sender import Sender

    config = load(args)
    db = open_db(config)
    report = asyncio.run(Sender(db, config).deliver_due())
    for outcome, ids in vars(report).items():
        if ids:
            print(f"{outcome}: {', '.join(str(i) for i in ids)}")
    return 0
