"""`mailbot cases`: see every case, its history, and confirm an identity by hand."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from mailbot import cases, workflow
from mailbot.casework import clock_running
from mailbot.cli.common import load, open_db
from mailbot.config import Config
from mailbot.models import Case, Challenge

Deliver = Callable[[Session, Config, Sequence[cases.Outgoing]], None]


deliver: Deliver = workflow.queue_all
"""Queues (or drafts, per [responses]) what a command decided to send."""


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot cases list|show|log|verify`."""
    parser = sub.add_parser(
        "cases", help="list cases, show one, its history, or confirm an identity by hand",
        description=(
            "Each data-protection request is a case with a statutory due date. "
            "N is the case number from 'cases list' or its reference (e.g. AK-2026-0007)."
        ),
    )
    csub = parser.add_subparsers(dest="cases_command", metavar="ACTION", required=True)
    lst = csub.add_parser("list", help="one line per case, with its due date and days left")
    lst.add_argument("--open", action="store_true", help="only cases that are still open")
    lst.set_defaults(func=list_cases)
    show = csub.add_parser("show", help="everything about case N, with how its due date was reached")
    show.add_argument("case", metavar="N")
    show.set_defaults(func=show_case)
    log = csub.add_parser("log", help="the audit trail of case N, oldest first")
    log.add_argument("case", metavar="N")
    log.set_defaults(func=log_case)
    verify = csub.add_parser(
        "verify", help="confirm the requester's identity yourself (the clock starts today if it waited)",
        description=(
            "Use when the requester could not answer the code (lost mail, too many tries) and you "
            "checked who they are another way. The note is kept in the audit trail."
        ),
    )
    verify.add_argument("case", metavar="N")
    verify.add_argument("--note", required=True, help='how you checked, e.g. "phoned the number on the order"')
    verify.set_defaults(func=verify_case)


def list_cases(args: argparse.Namespace) -> int:
    """Print the cases as a table."""
    config = load(args, allow_demo=True)
    policy = cases.CasePolicy.from_config(config)
    db = open_db(config)
    with db.session() as session:
        rows = cases.list_cases(session, open_only=args.open)
        console = Console()
        if not rows:
            console.print("No cases yet." if not args.open else "No open cases.")
            return 0
        table = Table()
        for col in ("#", "reference", "requester", "rights", "status", "due", "days left"):
            table.add_column(col, overflow="fold")
        for case in rows:
            left = cases.days_left(case, policy)
            status = case.state + (" (!)" if case.owner_attention else "")
            table.add_row(
                str(case.id), case.reference, case.requester_address or "(no address)",
                ", ".join(cases.rights_of(case)) or "-", status,
                case.due_on.isoformat() if case.due_on else "-",
                _days(left, clock_running(case.state)),
            )
        console.print(table)
    return 0


def show_case(args: argparse.Namespace) -> int:
    """Print one case and the steps behind its due date."""
    config = load(args, allow_demo=True)
    policy = cases.CasePolicy.from_config(config)
    db = open_db(config)
    with db.session() as session:
        case = cases.find_case(session, args.case)
        left = cases.days_left(case, policy)
        lines = [
            ("case", f"{case.id} {case.reference}"),
            ("requester", f"{case.requester_name} <{case.requester_address or 'no address'}>".strip()),
            ("subject", case.subject),
            ("rights", ", ".join(cases.rights_of(case)) or "-"),
            ("status", case.state),
            ("received", case.received_at.isoformat()),
            ("identity", _identity(case)),
            ("clock started", case.clock_started_on.isoformat() if case.clock_started_on else "not yet"),
            ("paused days", str(case.paused_days) + (f" (paused since {case.paused_on})" if case.paused_on else "")),
            ("extended", f"yes, on {case.extended_on}" if case.extended else "no"),
            ("due", f"{case.due_on} ({_days(left, clock_running(case.state))} days left)" if case.due_on else "-"),
        ]
        if case.owner_attention:
            lines.append(("needs you", case.owner_attention))
        challenge = cases.active_challenge(case)
        if challenge is not None:
            lines.append(("challenge", _challenge(challenge, policy)))
        if case.closed_at:
            lines.append(("closed", case.closed_at.isoformat()))
        width = max(len(k) for k, _ in lines) + 1
        for key, value in lines:
            print(f"{key + ':':<{width}} {value}")
        found = cases.deadline_of(case, policy)
        if found is not None:
            print("\nhow the due date was reached:")
            for step in found.steps:
                print(f"  - {step}")
    return 0


def log_case(args: argparse.Namespace) -> int:
    """Print the audit trail of one case."""
    db = open_db(load(args, allow_demo=True))
    with db.session() as session:
        case = cases.find_case(session, args.case)
        table = Table(title=f"{case.reference}: audit trail")
        for col in ("time (UTC)", "kind", "actor", "state", "detail"):
            table.add_column(col, overflow="fold")
        for ev in case.events:
            state = f"{ev.from_state or '-'} -> {ev.to_state}" if ev.to_state else ""
            detail = ev.detail + (f" <{ev.message_ref}>" if ev.message_ref else "")
            table.add_row(ev.at.strftime("%Y-%m-%d %H:%M:%S"), ev.kind, ev.actor, state, detail)
        Console().print(table)
    return 0


def verify_case(args: argparse.Namespace) -> int:
    """Confirm identity by hand, as the owner."""
    config = load(args, allow_demo=True)
    policy = cases.CasePolicy.from_config(config)
    db = open_db(config)
    with db.session() as session:
        case = cases.find_case(session, args.case)
        outgoing = cases.verify_manually(session, case, args.note, config.owner.email, policy=policy)
        deliver(session, config, outgoing)
        print(f"case {case.reference}: identity confirmed by {config.owner.email}; "
              f"clock started {case.clock_started_on}, due {case.due_on}")
    return 0


def _days(left: int | None, running: bool) -> str:
    """Days left as the owner should read them."""
    if left is None:
        return "-"
    if left < 0:
        return f"{left} (overdue)"
    return str(left) if running else f"{left} (clock stopped)"


def _identity(case: Case) -> str:
    """How identity was confirmed, or that it is not yet."""
    if not case.identity_method:
        return "not confirmed"
    when = case.identity_confirmed_at.isoformat() if case.identity_confirmed_at else "?"
    return f"{case.identity_method} at {when}: {case.identity_detail or ''}".rstrip(": ")


def _challenge(challenge: Challenge, policy: cases.CasePolicy) -> str:
    """The state of the newest challenge (never its code: the audit view is not the mail)."""
    parts = [f"sent {challenge.sent_at:%Y-%m-%d %H:%M} UTC", f"expires {challenge.expires_at:%Y-%m-%d %H:%M} UTC",
             f"{challenge.attempts} of {policy.identity.max_attempts} wrong tries"]
    if challenge.reminded_at:
        parts.append(f"reminded {challenge.reminded_at:%Y-%m-%d}")
    if challenge.locked_at:
        parts.append("locked")
    if challenge.verified_at:
        parts.append(f"verified ({challenge.method})")
    return ", ".join(parts)
