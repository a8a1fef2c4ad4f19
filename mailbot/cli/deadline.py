"""`mailbot deadline`: the statutory due date of a request, explained."""

from __future__ import annotations

import argparse
import json
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.cli.common import load
from mailbot.config import find_config_path
from mailbot.deadline import NATIONS, Deadline, DeadlineError, due_date

DEFAULT_NATION = "england-and-wales"
DEFAULT_TIMEZONE = "Europe/London"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMAT = "YYYY-MM-DD or an ISO datetime with offset (e.g. 2026-03-29T00:30:00+01:00 or 2026-03-28T23:30:00Z)"


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `mailbot deadline`."""
    parser = sub.add_parser(
        "deadline", help="compute the statutory due date of a request",
        description=(
            "Print the date a UK GDPR request must be answered by, with the steps that lead "
            "to it: one calendar month from the day of receipt (or of identity confirmation), "
            "the month's last day where the date does not exist, then the next working day "
            "of the business's nation. Needs no configuration; with --config the nation and "
            "time zone default to the [business] section."
        ),
    )
    parser.add_argument("received", metavar="RECEIVED", help=f"when the request arrived: {_FORMAT}")
    parser.add_argument(
        "--nation", metavar="NATION",
        help=f"whose bank holidays count: {', '.join(NATIONS)} (default: config, else {DEFAULT_NATION})",
    )
    parser.add_argument(
        "--timezone", metavar="TZ",
        help=f"the business's IANA time zone, which decides the day of receipt (default: config, else {DEFAULT_TIMEZONE})",
    )
    parser.add_argument(
        "--identity-received", metavar="DATE",
        help="when the identity confirmation arrived; the clock starts that day (same formats as RECEIVED)",
    )
    parser.add_argument(
        "--paused-days", metavar="N", default="0",
        help="days the clock stood still awaiting clarification (default: 0)",
    )
    parser.add_argument(
        "--extended", action="store_true",
        help="apply the two-month extension (refused once the one-month due date has passed)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=show)


def show(args: argparse.Namespace) -> int:
    """Compute and print the due date."""
    nation, timezone = _defaults(args)
    if nation not in NATIONS:
        raise DeadlineError(f"--nation: expected one of {', '.join(NATIONS)}, not {nation!r}")
    deadline = due_date(
        parse_moment(args.received, "RECEIVED"),
        nation=nation,
        timezone=_checked_timezone(timezone),
        identity_received=(
            parse_moment(args.identity_received, "--identity-received")
            if args.identity_received is not None else None
        ),
        paused_days=_parse_days(args.paused_days),
        extended=args.extended,
    )
    if args.json:
        print(json.dumps(as_json(deadline), indent=2))
    else:
        due = deadline.due
        print(f"due {due.isoformat()} ({due:%A} {due.day} {due:%B %Y})")
        for step in deadline.steps:
            print(f"  - {step}")
    return 0


def as_json(deadline: Deadline) -> dict[str, object]:
    """The JSON shape of a deadline: dates as YYYY-MM-DD."""
    return {
        "due": deadline.due.isoformat(),
        "start": deadline.start.isoformat(),
        "received": deadline.received.isoformat(),
        "nation": deadline.nation,
        "timezone": deadline.timezone,
        "extended": deadline.extended,
        "paused_days": deadline.paused_days,
        "standard_due": deadline.standard_due.isoformat(),
        "extended_due": deadline.extended_due.isoformat(),
        "steps": list(deadline.steps),
    }


def parse_moment(text: str, argument: str) -> date | datetime:
    """A plain date, or an aware datetime; DeadlineError naming `argument` otherwise."""
    text = text.strip()
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise DeadlineError(f"{argument}: {text!r} is not a calendar date; expected {_FORMAT}") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DeadlineError(f"{argument}: cannot read {text!r}; expected {_FORMAT}") from None
    if moment.tzinfo is None:
        # Without an offset the day is ambiguous near midnight; make the owner say which.
        raise DeadlineError(f"{argument}: {text!r} has no offset; expected {_FORMAT}")
    return moment


def _defaults(args: argparse.Namespace) -> tuple[str, str]:
    """Nation and time zone: the options, else the config's [business], else the built-in defaults."""
    nation, timezone = DEFAULT_NATION, DEFAULT_TIMEZONE
    if find_config_path(getattr(args, "config", None)) is not None:
        business = load(args).business
        nation, timezone = business.nation, business.timezone
    return args.nation or nation, args.timezone or timezone


def _checked_timezone(name: str) -> str:
    """`name` when it is a known IANA zone; DeadlineError naming --timezone otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeadlineError(
            f"--timezone: unknown time zone {name!r}; expected an IANA name such as Europe/London"
        ) from None
    return name


def _parse_days(text: str) -> int:
    """A whole number of days, 0 or more; DeadlineError naming --paused-days otherwise."""
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise DeadlineError(f"--paused-days: expected a whole number of days (0 or more), not {text!r}")
    return int(text)
