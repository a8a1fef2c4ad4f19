"""`mailbot cases`: see every case and its history, and act on one as the owner.

Every action that writes to the requester goes through the outbox like the
bot's own mail: sent at once or kept as a draft for approval, per [responses].
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from rich.table import Table
from sqlalchemy.orm import Session

from mailbot import cases, responses, workflow
from mailbot.casework import clock_running
from mailbot.cli.common import load, make_console, open_db
from mailbot.config import Config
from mailbot.models import Case, Challenge, OutboxMessage

Deliver = Callable[[Session, Config, Sequence[cases.Outgoing]], list[OutboxMessage]]


deliver: Deliver = workflow.queue_all
"""Queues (or drafts, per [responses]) what a command decided to send."""

Action = Callable[[Session, Case, Config, cases.CasePolicy, argparse.Namespace], list[OutboxMessage]]


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot cases` and its actions."""
    parser = sub.add_parser(
        "cases", help="list cases, show one and its history, and act on one (verify, respond, extend...)",
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
    verify = _action(csub, "verify", _verify,
                     "confirm the requester's identity yourself (the clock starts today if it waited)",
                     "Use when the requester could not answer the code (lost mail, too many tries) and you "
                     "checked who they are another way. The note is kept in the audit trail. The answers "
                     "to their rights are then drafted for your approval.")
    verify.add_argument("--note", required=True, help='how you checked, e.g. "phoned the number on the order"')
    _action(csub, "respond", _respond, "draft the answer to each right of a verified case again",
            "The bot drafts the answers by itself once identity is confirmed. Use this after you "
            "rejected them, or after fixing what stopped them (e.g. the [privacy] section).")
    clarify = _action(csub, "clarify", _clarify, "ask the requester a question; the clock stops until they answer",
                      "Only when you genuinely need more to find their data. The clock restarts on their reply.")
    clarify.add_argument("--question", required=True, help='e.g. "Which email address did you order with?"')
    extend = _action(csub, "extend", _extend, "take the two-month extension (complex or numerous requests)",
                     "Allowed once, before the due date passes; the requester is told why.")
    extend.add_argument("--reason", required=True, help='told to the requester, e.g. "ten years of orders to search"')
    _action(csub, "resend", _resend, "send a new identity code (lifts a lock after too many wrong codes)",
            "The old code stops counting.")
    refuse = _action(csub, "refuse", _refuse, "refuse a manifestly unfounded or excessive request",
                     "Drafted answers still waiting are cancelled; the refusal tells the requester they "
                     "can complain to the ICO or go to court.")
    refuse.add_argument("--reason", required=True, help="the reasons the requester is told")
    withdraw = _action(csub, "withdraw", _withdraw, "record that the requester withdrew the request",
                       "Drafted answers still waiting are cancelled.")
    withdraw.add_argument("--note", required=True, help='how they told you, e.g. "phoned on 3 May"')
    close = _action(csub, "close", _close, "close an answered, refused, withdrawn or expired case for good",
                    "The requester gets a short closing note unless --quiet. A later mail from them opens a new case.")
    close.add_argument("--quiet", action="store_true", help="close without writing to the requester")


def _action(csub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str, action: Action,
            help_text: str, description: str) -> argparse.ArgumentParser:
    """Register one owner action on case N."""
    parser = csub.add_parser(name, help=help_text, description=f"{help_text[0].upper()}{help_text[1:]}. {description}")
    parser.add_argument("case", metavar="N")
    parser.set_defaults(func=_run_action, action=action)
    return parser


def _run_action(args: argparse.Namespace) -> int:
    """Do one owner action on a case in one transaction, then say what it queued or drafted."""
    config = load(args, allow_demo=True)
    policy = cases.CasePolicy.from_config(config)
    db = open_db(config)
    with db.session() as session:
        case = cases.find_case(session, args.case)
        rows = args.action(session, case, config, policy, args)
        print(f"case {case.reference}: {case.state}" + (f", due {case.due_on}" if case.due_on else ""))
        if case.owner_attention:
            print(f"needs you: {case.owner_attention}")
        for row in rows:
            if row.state == "draft":
                print(f"  {row.kind} to {row.to_address}: draft {row.id} waits for approval "
                      f"(mailbot drafts show {row.id})")
            else:
                print(f"  {row.kind} to {row.to_address}: queued as outbox {row.id}")
    return 0


def _owner(config: Config) -> str:
    return config.owner.email


def _verify(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
            args: argparse.Namespace) -> list[OutboxMessage]:
    rows = deliver(session, config, cases.verify_manually(session, case, args.note, _owner(config), policy=policy))
    if responses.wanted(session, case):
        rows += workflow.draft_answers(session, case, config, policy=policy, actor=_owner(config))
    return rows


def _respond(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
             args: argparse.Namespace) -> list[OutboxMessage]:
    case.owner_attention = None
    rows = workflow.draft_answers(session, case, config, policy=policy, actor=_owner(config))
    if not rows and not case.owner_attention:
        raise cases.CaseError(f"case {case.reference} needs no new answers: its rights are "
                              f"{', '.join(cases.rights_of(case)) or 'none'} and every answer is drafted or sent")
    return rows


def _clarify(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
             args: argparse.Namespace) -> list[OutboxMessage]:
    return deliver(session, config, [cases.ask_clarification(session, case, args.question, actor=_owner(config),
                                                             policy=policy)])


def _extend(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
            args: argparse.Namespace) -> list[OutboxMessage]:
    return deliver(session, config, [cases.extend(session, case, args.reason, actor=_owner(config), policy=policy)])


def _resend(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
            args: argparse.Namespace) -> list[OutboxMessage]:
    _challenge, mail = cases.resend_challenge(session, case, policy=policy, actor=_owner(config))
    return deliver(session, config, [mail])


def _refuse(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
            args: argparse.Namespace) -> list[OutboxMessage]:
    mail = cases.refuse(session, case, args.reason, actor=_owner(config))
    responses.cancel_waiting(session, case, "the request was refused", actor=_owner(config))
    return deliver(session, config, [mail] if mail is not None else [])


def _withdraw(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
              args: argparse.Namespace) -> list[OutboxMessage]:
    cases.withdraw(session, case, args.note, actor=_owner(config))
    responses.cancel_waiting(session, case, "the requester withdrew the request", actor=_owner(config))
    return []


def _close(session: Session, case: Case, config: Config, policy: cases.CasePolicy,
           args: argparse.Namespace) -> list[OutboxMessage]:
    mail = cases.close(session, case, actor=_owner(config), notify=not args.quiet)
    return deliver(session, config, [mail] if mail is not None else [])


def list_cases(args: argparse.Namespace) -> int:
    """Print the cases as a table."""
    config = load(args, allow_demo=True)
    policy = cases.CasePolicy.from_config(config)
    db = open_db(config)
    with db.session() as session:
        rows = cases.list_cases(session, open_only=args.open)
        console = make_console()
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
        make_console().print(table)
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
