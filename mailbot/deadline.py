"""The statutory deadline for a UK GDPR request, as the ICO explains it.

The rules (ICO, "Time limits for responding to data protection rights requests"):

* The clock starts on the day the request is received, in the business's own
  time zone, so a mail at 00:30 BST belongs to that local day even though it
  is still the previous day in UTC. Where the requester's identity had to be
  confirmed first, the clock starts on the day the confirmation arrived.
* The response is due on the corresponding calendar date in the next month
  (received 3 September, due 3 October). Where that date does not exist, it is
  the last day of that month (31 January -> 28 or 29 February).
* Where the due date falls on a weekend or a bank holiday of the business's
  nation, the requester gets until the next working day.
* Asking for clarification stops the clock; the reply restarts it.
* A two-month extension for complex or numerous requests moves the due date
  to the corresponding date three calendar months after the clock started,
  and is possible only before the original due date has passed.

Everything here is pure calendar arithmetic: no database, no mail. The only
"now" is mailbot.clock, used to refuse a late extension.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from mailbot import clock
from mailbot.config import Nation
from mailbot.errors import MailbotError

NATIONS: tuple[str, ...] = get_args(Nation)

# The `holidays` package names the UK's nations by ISO 3166-2 subdivision code;
# Wales shares England's bank holidays, so "ENG" serves both.
_SUBDIVISIONS: dict[str, str] = {
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}

STANDARD_MONTHS = 1
EXTENDED_MONTHS = 3


class DeadlineError(MailbotError):
    """A deadline cannot be computed from what was given, or an extension is too late."""


@dataclass(frozen=True)
class Pause:
    """One clarification round: the clock stopped when we asked and restarted when they answered."""

    asked: datetime | date
    answered: datetime | date


@dataclass(frozen=True)
class Deadline:
    """When a request must be answered, and how that date was reached."""

    received: date
    start: date
    nation: str
    timezone: str
    paused_days: int
    extended: bool
    standard_due: date
    extended_due: date
    steps: tuple[str, ...]

    @property
    def due(self) -> date:
        """The date that applies: the extended one where the extension was taken."""
        return self.extended_due if self.extended else self.standard_due


def due_date(
    received: datetime | date,
    *,
    nation: str = "england-and-wales",
    timezone: str = "Europe/London",
    identity_received: datetime | date | None = None,
    paused_days: int = 0,
    extended: bool = False,
    extended_on: datetime | date | None = None,
) -> Deadline:
    """Compute the statutory due date of a request received at `received`.

    Aware datetimes are converted to the local day in `timezone`; a plain
    date is taken as already local. Naive datetimes are refused because their
    day is ambiguous.

    Clarification pauses: the ICO says the time limit is paused while we wait
    for the requester to clarify. We model that as: the calendar date one
    month (three when extended) after the start, moved to the month's last
    day where it does not exist, then pushed later by the number of paused
    days (see `count_paused_days`), and only then rolled to the next working
    day. The roll comes last so that a pause can never land the date on a
    holiday.

    With `extended`, the extension must be decided (`extended_on`, default
    now from mailbot.clock) no later than the standard due date; otherwise
    DeadlineError is raised.
    """
    subdiv = _subdivision(nation)
    zone = _zone(timezone)
    if paused_days < 0:
        raise DeadlineError(f"paused days cannot be negative, not {paused_days}")
    received_day = local_day(received, zone, what="received")
    steps = [f"received {received_day} ({_describe_moment(received, zone)})"]
    start = received_day
    if identity_received is not None:
        start = local_day(identity_received, zone, what="identity received")
        if start < received_day:
            raise DeadlineError(
                f"identity received {start} is before the request itself ({received_day})"
            )
        steps.append(f"identity confirmed {start}: the clock starts that day")
    else:
        steps.append(f"the clock starts on the day of receipt, {start}")

    standard_due, standard_steps = _due_after(start, STANDARD_MONTHS, paused_days, subdiv, nation)
    extended_due, extended_steps = _due_after(start, EXTENDED_MONTHS, paused_days, subdiv, nation)
    if extended:
        decided = local_day(extended_on if extended_on is not None else clock.now(), zone,
                            what="extended on")
        if decided > standard_due:
            raise DeadlineError(
                f"too late to extend on {decided}: the due date {standard_due} has passed; "
                "an extension must be decided and notified by the due date"
            )
        steps += extended_steps
        steps.append(f"extended by two months on {decided} (the one-month date was {standard_due})")
    else:
        steps += standard_steps
    return Deadline(
        received=received_day,
        start=start,
        nation=nation,
        timezone=timezone,
        paused_days=paused_days,
        extended=extended,
        standard_due=standard_due,
        extended_due=extended_due,
        steps=tuple(steps),
    )


def count_paused_days(pauses: Iterable[Pause], *, timezone: str = "Europe/London") -> int:
    """Total days the clock stood still: from each question's local day to its answer's."""
    zone = _zone(timezone)
    total = 0
    for pause in pauses:
        asked = local_day(pause.asked, zone, what="clarification asked")
        answered = local_day(pause.answered, zone, what="clarification answered")
        if answered < asked:
            raise DeadlineError(f"clarification answered {answered} before it was asked ({asked})")
        total += (answered - asked).days
    return total


def days_left(deadline: Deadline) -> int:
    """Whole days from today (business time zone, per mailbot.clock) to the due date; negative when overdue."""
    today = clock.now().astimezone(_zone(deadline.timezone)).date()
    return (deadline.due - today).days


def local_day(moment: datetime | date, zone: ZoneInfo, *, what: str = "time") -> date:
    """The calendar day `moment` falls on in `zone`; a plain date is returned as it is."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise DeadlineError(
                f"{what} {moment.isoformat()} has no time zone offset; "
                "give an aware datetime (e.g. ...+01:00 or ...Z) or a plain date"
            )
        return moment.astimezone(zone).date()
    return moment


def add_months(day: date, months: int) -> date:
    """The corresponding date `months` later; the month's last day where it has no such date."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def holiday_name(day: date, nation: str) -> str | None:
    """The name of the bank holiday on `day` in `nation`, or None on an ordinary day."""
    return _holidays(_subdivision(nation), day.year).get(day)


def is_working_day(day: date, nation: str) -> bool:
    """True from Monday to Friday except on the nation's bank holidays."""
    return day.weekday() < 5 and holiday_name(day, nation) is None


def next_working_day(day: date, nation: str) -> date:
    """`day` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day, nation):
        day += timedelta(days=1)
    return day


def _due_after(start: date, months: int, paused_days: int, subdiv: str, nation: str) -> tuple[date, list[str]]:
    """The due date `months` after start, with the steps that explain it."""
    steps: list[str] = []
    target_month = add_months(start.replace(day=1), months)
    day = add_months(start, months)
    span = "one month" if months == 1 else f"{months} calendar months"
    if day.day != start.day:
        month_name = calendar.month_name[target_month.month]
        steps.append(
            f"{span} later: {month_name} {target_month.year} has no day {start.day}, "
            f"so the last day of the month, {day}"
        )
    else:
        steps.append(f"{span} later: {day}")
    if paused_days:
        day += timedelta(days=paused_days)
        plural = "day" if paused_days == 1 else "days"
        steps.append(f"clock stopped {paused_days} {plural} awaiting clarification: {day}")
    rolled = day
    while True:
        if rolled.weekday() >= 5:
            steps.append(f"{rolled} is a {calendar.day_name[rolled.weekday()]}")
        elif (name := _holidays(subdiv, rolled.year).get(rolled)) is not None:
            steps.append(f"{rolled} is a bank holiday in {_title(nation)} ({name})")
        else:
            break
        rolled += timedelta(days=1)
    if rolled != day:
        steps.append(f"next working day: {rolled}")
    steps.append(f"due {rolled} ({calendar.day_name[rolled.weekday()]})")
    return rolled, steps


def _describe_moment(moment: datetime | date, zone: ZoneInfo) -> str:
    """How a receipt time reads in the business's zone, for the explanation."""
    if isinstance(moment, datetime):
        local = moment.astimezone(zone)
        return f"{local.strftime('%Y-%m-%d %H:%M')} {local.tzname()}, {zone.key}"
    return "a date, taken as local"


def _title(nation: str) -> str:
    """The nation as people write it."""
    return {"england-and-wales": "England and Wales", "scotland": "Scotland",
            "northern-ireland": "Northern Ireland"}[nation]


def _subdivision(nation: str) -> str:
    """The `holidays` subdivision code of a nation, or DeadlineError naming the choices."""
    try:
        return _SUBDIVISIONS[nation]
    except KeyError:
        raise DeadlineError(
            f"unknown nation {nation!r}: expected one of {', '.join(NATIONS)}"
        ) from None


def _zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or DeadlineError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeadlineError(f"unknown time zone {name!r}: expected an IANA name such as Europe/London") from None


@lru_cache(maxsize=64)
def _holidays(subdiv: str, year: int) -> Mapping[date, str]:
    """The bank holidays of one nation and year (cached: the package builds them on each call)."""
    return MappingProxyType(dict(holidays.country_holidays("GB", subdiv=subdiv, years=year).items()))
