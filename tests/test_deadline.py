"""The statutory deadline: every expected date below was worked out by hand.

Each row names why the date is what it is; weekdays were checked against the
calendar, bank holidays against gov.uk's lists for the three nations.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from mailbot.clock import FakeClock
from mailbot.deadline import (
    Deadline,
    DeadlineError,
    Pause,
    add_months,
    count_paused_days,
    days_left,
    due_date,
    is_working_day,
    next_working_day,
)

EW, SC, NI = "england-and-wales", "scotland", "northern-ireland"
D = date.fromisoformat


def utc(text: str) -> datetime:
    """An aware datetime from ISO text (Z or an offset)."""
    return datetime.fromisoformat(text)


# (received, nation, expected due, why)
STANDARD = [
    # Month ends
    ("2026-01-31", EW, "2026-03-02", "no 31 Feb: Sat 28 Feb, then Sun 1 Mar -> Mon 2 Mar"),
    ("2024-01-31", EW, "2024-02-29", "leap year: Thu 29 Feb"),
    ("2023-01-31", EW, "2023-02-28", "common year: Tue 28 Feb"),
    ("2028-01-30", EW, "2028-02-29", "leap year, no 30 Feb: Tue 29 Feb"),
    ("2026-03-31", EW, "2026-04-30", "no 31 Apr: Thu 30 Apr"),
    ("2026-12-31", EW, "2027-02-01", "year change: Sun 31 Jan -> Mon 1 Feb"),
    ("2024-02-29", SC, "2024-04-01", "29 Feb -> Good Friday 29 Mar, weekend, Easter Monday is no holiday in Scotland"),
    # Plain weekdays and weekends
    ("2026-06-10", EW, "2026-07-10", "Fri, nothing to move"),
    ("2026-05-16", EW, "2026-06-16", "received on a Saturday: still counts; Tue"),
    ("2026-02-07", EW, "2026-03-09", "Sat 7 Mar -> Mon 9 Mar"),
    ("2026-07-04", EW, "2026-08-04", "Tue"),
    # Easter Monday: England and Wales, Northern Ireland, not Scotland
    ("2024-02-29", EW, "2024-04-02", "Good Friday 29 Mar, weekend, Easter Monday 1 Apr -> Tue 2 Apr"),
    ("2024-02-29", NI, "2024-04-02", "as England: Easter Monday is a holiday in NI"),
    ("2026-03-06", EW, "2026-04-07", "Easter Monday 6 Apr -> Tue"),
    ("2026-03-06", NI, "2026-04-07", "Easter Monday 6 Apr -> Tue"),
    ("2026-03-06", SC, "2026-04-06", "Easter Monday is a working day in Scotland"),
    ("2026-03-03", SC, "2026-04-06", "Good Friday 3 Apr is a holiday everywhere, then the weekend"),
    ("2026-03-03", EW, "2026-04-07", "Good Friday, weekend, Easter Monday"),
    # 2 January: Scotland only
    ("2025-12-02", SC, "2026-01-05", "Fri 2 Jan holiday in Scotland, weekend -> Mon 5 Jan"),
    ("2025-12-02", EW, "2026-01-02", "2 Jan is a working day in England"),
    ("2025-12-02", NI, "2026-01-02", "2 Jan is a working day in NI"),
    # St Patrick's Day: Northern Ireland only
    ("2026-02-17", NI, "2026-03-18", "Tue 17 Mar St Patrick's Day -> Wed"),
    ("2026-02-17", EW, "2026-03-17", "working day in England"),
    ("2026-02-17", SC, "2026-03-17", "working day in Scotland"),
    # Battle of the Boyne, 12 July: Northern Ireland only (and its substitute)
    ("2027-06-12", NI, "2027-07-13", "Mon 12 Jul -> Tue"),
    ("2027-06-12", EW, "2027-07-12", "working day in England"),
    ("2026-06-13", NI, "2026-07-14", "12 Jul 2026 is a Sunday: Mon 13 Jul substitute -> Tue"),
    ("2026-06-13", SC, "2026-07-13", "no substitute outside NI"),
    # St Andrew's Day, 30 November: Scotland only (and its substitute)
    ("2026-10-30", SC, "2026-12-01", "Mon 30 Nov -> Tue 1 Dec"),
    ("2026-10-30", EW, "2026-11-30", "working day in England"),
    ("2026-10-30", NI, "2026-11-30", "working day in NI"),
    ("2025-10-31", SC, "2025-12-02", "no 31 Nov: Sun 30 Nov, Mon 1 Dec substitute St Andrew's -> Tue"),
    ("2025-10-31", EW, "2025-12-01", "no 31 Nov: Sun 30 Nov -> Mon 1 Dec"),
    # August: first Monday in Scotland, last Monday elsewhere
    ("2026-07-03", SC, "2026-08-04", "Mon 3 Aug Summer bank holiday in Scotland -> Tue"),
    ("2026-07-03", EW, "2026-08-03", "first Monday is a working day in England"),
    ("2026-07-03", NI, "2026-08-03", "first Monday is a working day in NI"),
    ("2026-07-31", EW, "2026-09-01", "Mon 31 Aug late summer holiday -> Tue 1 Sep"),
    ("2026-07-31", NI, "2026-09-01", "Mon 31 Aug late summer holiday -> Tue 1 Sep"),
    ("2026-07-31", SC, "2026-08-31", "last Monday is a working day in Scotland"),
    # Early May bank holiday, everywhere
    ("2026-04-04", SC, "2026-05-05", "Mon 4 May -> Tue"),
    # Substitute days at Christmas and New Year
    ("2021-11-25", EW, "2021-12-29", "Sat 25, Sun 26, substitutes Mon 27 and Tue 28 -> Wed"),
    ("2021-11-27", SC, "2021-12-29", "Mon 27 Dec substitute for Christmas, Tue 28 for Boxing Day"),
    ("2021-11-28", NI, "2021-12-29", "Tue 28 Dec substitute for Boxing Day"),
    ("2021-12-03", EW, "2022-01-04", "Mon 3 Jan substitute for New Year's Day -> Tue"),
    ("2021-12-03", NI, "2022-01-04", "Mon 3 Jan substitute for New Year's Day -> Tue"),
    ("2021-12-03", SC, "2022-01-05", "Mon 3 Jan and Tue 4 Jan (substitute for 2 Jan) -> Wed"),
    ("2021-12-01", EW, "2022-01-04", "Sat 1 Jan, Sun 2, Mon 3 substitute -> Tue 4"),
    ("2021-12-01", SC, "2022-01-05", "Sat 1 Jan, Sun 2, Mon 3, Tue 4 substitutes -> Wed 5"),
    ("2026-11-28", EW, "2026-12-29", "Mon 28 Dec substitute for Boxing Day (Sat 26) -> Tue"),
]


@pytest.mark.parametrize(("received", "nation", "expected", "why"), STANDARD)
def test_standard_due_date(received: str, nation: str, expected: str, why: str) -> None:
    deadline = due_date(D(received), nation=nation)
    assert deadline.due == D(expected), why
    assert deadline.start == D(received)
    assert deadline.standard_due == D(expected)
    assert not deadline.extended


# (aware receipt, time zone, local day the clock starts, expected due, why)
MIDNIGHT = [
    ("2026-06-30T23:30:00Z", "Europe/London", "2026-07-01", "2026-08-03",
     "00:30 BST on 1 Jul; Sat 1 Aug -> Mon 3 Aug"),
    ("2026-06-30T22:59:00Z", "Europe/London", "2026-06-30", "2026-07-30", "23:59 BST still 30 Jun"),
    ("2026-07-01T00:30:00+01:00", "Europe/London", "2026-07-01", "2026-08-03", "the same moment as a BST offset"),
    ("2026-01-14T23:30:00Z", "Europe/London", "2026-01-14", "2026-02-16",
     "23:30 GMT is still 14 Jan; Sat 14 Feb -> Mon 16 Feb"),
    ("2026-01-15T00:30:00+01:00", "Europe/London", "2026-01-14", "2026-02-16",
     "00:30 in Paris is 23:30 GMT the day before in London"),
    ("2026-03-29T00:30:00+01:00", "Europe/London", "2026-03-28", "2026-04-28",
     "BST begins at 01:00 GMT on 29 Mar 2026: 23:30Z is still 28 Mar in London"),
    ("2026-03-29T01:30:00Z", "Europe/London", "2026-03-29", "2026-04-29", "02:30 BST on 29 Mar"),
    ("2026-10-24T23:30:00Z", "Europe/London", "2026-10-25", "2026-11-25", "00:30 BST on the last BST day"),
    ("2026-10-25T23:30:00Z", "Europe/London", "2026-10-25", "2026-11-25", "23:30 GMT after the change"),
    ("2026-06-30T23:30:00Z", "UTC", "2026-06-30", "2026-07-30", "a business on UTC keeps the UTC day"),
]


@pytest.mark.parametrize(("received", "zone", "start", "expected", "why"), MIDNIGHT)
def test_day_of_receipt_is_the_local_day(received: str, zone: str, start: str, expected: str, why: str) -> None:
    deadline = due_date(utc(received), nation=EW, timezone=zone)
    assert deadline.start == D(start), why
    assert deadline.received == D(start)
    assert deadline.due == D(expected), why


def test_summer_midnight_differs_by_nation() -> None:
    # 1 Aug 2026 is a Saturday; Mon 3 Aug is Scotland's summer bank holiday.
    deadline = due_date(utc("2026-06-30T23:30:00Z"), nation=SC)
    assert deadline.due == D("2026-08-04")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(DeadlineError, match="no time zone offset"):
        due_date(datetime(2026, 3, 29, 0, 30))


@pytest.mark.parametrize(("received", "identity", "start", "expected"), [
    ("2026-01-10", "2026-01-20T10:00:00Z", "2026-01-20", "2026-02-20"),    # Fri
    ("2026-04-28", "2026-04-30T23:15:00Z", "2026-05-01", "2026-06-01"),    # 00:15 BST on 1 May; Mon
    ("2026-01-31", "2026-01-31", "2026-01-31", "2026-03-02"),              # same day: no change
    ("2024-01-31", "2024-02-29", "2024-02-29", "2024-04-02"),              # Good Friday, Easter Monday
])
def test_clock_starts_on_identity(received: str, identity: str, start: str, expected: str) -> None:
    moment = utc(identity) if "T" in identity else D(identity)
    deadline = due_date(D(received), nation=EW, identity_received=moment)
    assert deadline.received == D(received)
    assert deadline.start == D(start)
    assert deadline.due == D(expected)


def test_identity_before_request_is_refused() -> None:
    with pytest.raises(DeadlineError, match="before the request"):
        due_date(D("2026-01-31"), identity_received=D("2026-01-30"))


@pytest.mark.parametrize(("received", "paused", "expected", "why"), [
    ("2026-04-04", 3, "2026-05-07", "4 May + 3 days = Thu 7 May"),
    ("2026-01-31", 2, "2026-03-02", "28 Feb (month end first) + 2 days = Mon 2 Mar"),
    ("2026-03-01", 5, "2026-04-07", "1 Apr + 5 = Easter Monday 6 Apr -> Tue 7 Apr"),
    ("2026-02-07", 1, "2026-03-09", "7 Mar + 1 = Sun 8 Mar -> Mon 9 Mar"),
    ("2026-04-04", 0, "2026-05-05", "no pause: May Day -> Tue 5 May"),
])
def test_clarification_pause_pushes_the_date(received: str, paused: int, expected: str, why: str) -> None:
    deadline = due_date(D(received), nation=EW, paused_days=paused)
    assert deadline.due == D(expected), why
    assert deadline.paused_days == paused


def test_negative_pause_is_refused() -> None:
    with pytest.raises(DeadlineError, match="negative"):
        due_date(D("2026-04-04"), paused_days=-1)


def test_count_paused_days_uses_local_days() -> None:
    pauses = [
        # asked 10:00 BST on 10 May, answered 00:30 BST on 14 May: four days stopped
        Pause(asked=utc("2026-05-10T09:00:00Z"), answered=utc("2026-05-13T23:30:00Z")),
        Pause(asked=D("2026-06-01"), answered=D("2026-06-01")),     # answered the same day
        Pause(asked=D("2026-06-10"), answered=D("2026-06-12")),
    ]
    assert count_paused_days(pauses) == 4 + 0 + 2


def test_answer_before_question_is_refused() -> None:
    with pytest.raises(DeadlineError, match="before it was asked"):
        count_paused_days([Pause(asked=D("2026-06-10"), answered=D("2026-06-09"))])


# (received, nation, identity or None, paused days, decided on, expected extended due, why)
EXTENDED = [
    ("2026-01-31", EW, None, 0, "2026-02-15", "2026-04-30", "three months on: no 31 Apr -> Thu 30 Apr"),
    ("2025-11-30", EW, None, 0, "2025-12-15", "2026-03-02", "no 30 Feb: Sat 28 Feb -> Mon 2 Mar"),
    ("2026-02-28", EW, None, 0, "2026-03-01", "2026-05-28", "Thu 28 May"),
    ("2026-01-10", EW, "2026-01-20", 0, "2026-02-01", "2026-04-20", "from identity: Mon 20 Apr"),
    ("2026-01-31", EW, None, 2, "2026-02-15", "2026-05-05",
     "30 Apr + 2 = Sat 2 May, Sun, May Day Mon 4 -> Tue 5 May"),
    ("2026-01-06", NI, None, 0, "2026-01-07", "2026-04-07", "Easter Monday 6 Apr in NI -> Tue"),
    ("2026-01-06", SC, None, 0, "2026-01-07", "2026-04-06", "Easter Monday is a working day in Scotland"),
]


@pytest.mark.parametrize(("received", "nation", "identity", "paused", "decided", "expected", "why"), EXTENDED)
def test_extension(received: str, nation: str, identity: str | None, paused: int,
                   decided: str, expected: str, why: str) -> None:
    deadline = due_date(
        D(received), nation=nation, identity_received=D(identity) if identity else None,
        paused_days=paused, extended=True, extended_on=D(decided),
    )
    assert deadline.extended
    assert deadline.due == D(expected), why
    assert deadline.extended_due == D(expected)
    assert deadline.standard_due < deadline.due


def test_extension_on_the_due_date_itself_is_allowed() -> None:
    # Standard due date of 31 Jan 2026 is Mon 2 Mar; 23:30 GMT is still that day.
    deadline = due_date(D("2026-01-31"), extended=True, extended_on=utc("2026-03-02T23:30:00Z"))
    assert deadline.due == D("2026-04-30")


@pytest.mark.parametrize("decided", ["2026-03-03", "2026-03-03T00:00:00Z", "2026-04-01"])
def test_extension_after_the_due_date_is_refused(decided: str) -> None:
    moment = utc(decided) if "T" in decided else D(decided)
    with pytest.raises(DeadlineError, match="too late to extend.*2026-03-02"):
        due_date(D("2026-01-31"), extended=True, extended_on=moment)


def test_extension_deadline_uses_the_local_day() -> None:
    # Standard due Mon 1 Jun 2026; 23:30Z that evening is already 00:30 BST on 2 Jun.
    with pytest.raises(DeadlineError, match="too late"):
        due_date(D("2026-05-01"), extended=True, extended_on=utc("2026-06-01T23:30:00Z"))


def test_extension_decided_now_uses_the_clock(fake_clock: FakeClock) -> None:
    # The fake clock stands at Mon 4 May 2026 09:00 UTC.
    deadline = due_date(D("2026-04-10"), extended=True)    # standard due Mon 11 May
    assert deadline.due == D("2026-07-10")                  # Fri 10 Jul
    with pytest.raises(DeadlineError, match="too late"):
        due_date(D("2026-03-20"), extended=True)            # standard due Mon 20 Apr, passed


def test_days_left_counts_from_the_local_today(fake_clock: FakeClock) -> None:
    deadline = due_date(D("2026-04-10"))                    # due Mon 11 May; today Mon 4 May
    assert days_left(deadline) == 7
    fake_clock.set(utc("2026-05-11T23:30:00Z"))             # 00:30 BST on 12 May
    assert days_left(deadline) == -1


def test_explanation_names_each_step() -> None:
    deadline = due_date(D("2025-10-31"), nation=SC)
    text = "\n".join(deadline.steps)
    assert "no day 31" in text
    assert "2025-11-30 is a Sunday" in text
    assert "2025-12-01 is a bank holiday in Scotland" in text
    assert deadline.steps[-1] == "due 2025-12-02 (Tuesday)"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"nation": "wales"}, "unknown nation 'wales'.*england-and-wales"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
])
def test_bad_arguments(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(DeadlineError, match=message):
        due_date(D("2026-01-01"), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("day", "months", "expected"), [
    ("2026-01-31", 1, "2026-02-28"),
    ("2024-01-31", 1, "2024-02-29"),
    ("2026-11-30", 3, "2027-02-28"),
    ("2026-12-15", 1, "2027-01-15"),
    ("2026-10-31", 3, "2027-01-31"),
    ("2100-01-29", 1, "2100-02-28"),   # 2100 is not a leap year
])
def test_add_months(day: str, months: int, expected: str) -> None:
    assert add_months(D(day), months) == D(expected)


def test_working_days() -> None:
    assert not is_working_day(D("2026-01-02"), SC)
    assert is_working_day(D("2026-01-02"), EW)
    assert next_working_day(D("2026-12-25"), EW) == D("2026-12-29")    # Fri, Sat, Sun, Mon substitute
    assert next_working_day(D("2026-12-24"), EW) == D("2026-12-24")


def test_deadline_is_frozen() -> None:
    deadline = due_date(D("2026-06-10"))
    with pytest.raises(AttributeError):
        deadline.start = D("2026-06-11")  # type: ignore[misc]
    assert isinstance(deadline, Deadline)


# --- the command line -------------------------------------------------------

@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """mailbot.cli.main with no config from the environment."""
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    from mailbot.cli import main  # imported here so the domain tests above never depend on the CLI

    return lambda *argv: main(list(argv))


def run_json(cli: Callable[..., int], capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    """Run `mailbot deadline ... --json` and return the parsed output."""
    assert cli("deadline", *argv, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_cli_json(cli: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(cli, capsys, "2026-01-31")
    assert out["due"] == "2026-03-02"
    assert out["start"] == "2026-01-31"
    assert out["nation"] == EW
    assert out["timezone"] == "Europe/London"
    assert out["extended"] is False
    assert out["paused_days"] == 0
    assert isinstance(out["steps"], list) and out["steps"]


@pytest.mark.parametrize(("argv", "due", "start"), [
    (["2026-03-29T00:30:00+01:00"], "2026-04-28", "2026-03-28"),      # still GMT in London
    (["2026-06-30T23:30:00Z"], "2026-08-03", "2026-07-01"),           # 00:30 BST
    (["2026-06-30T23:30:00Z", "--nation", SC], "2026-08-04", "2026-07-01"),
    (["2026-06-30T23:30:00Z", "--timezone", "UTC"], "2026-07-30", "2026-06-30"),
    (["2026-03-06", "--nation", NI], "2026-04-07", "2026-03-06"),
    (["2026-01-10", "--identity-received", "2026-01-20T10:00:00Z"], "2026-02-20", "2026-01-20"),
    (["2026-04-04", "--paused-days", "3"], "2026-05-07", "2026-04-04"),
])
def test_cli_due_dates(cli: Callable[..., int], capsys: pytest.CaptureFixture[str],
                       argv: list[str], due: str, start: str) -> None:
    out = run_json(cli, capsys, *argv)
    assert (out["due"], out["start"]) == (due, start)


def test_cli_extended(cli: Callable[..., int], capsys: pytest.CaptureFixture[str], fake_clock: FakeClock) -> None:
    out = run_json(cli, capsys, "2026-04-10", "--extended")
    assert out["extended"] is True
    assert out["due"] == "2026-07-10"
    assert out["standard_due"] == "2026-05-11"


def test_cli_text(cli: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("deadline", "2025-10-31", "--nation", SC) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "due 2025-12-02 (Tuesday 2 December 2025)"
    assert "bank holiday in Scotland" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["2026-02-30"], "RECEIVED: '2026-02-30' is not a calendar date; expected YYYY-MM-DD"),
    (["yesterday"], "RECEIVED: cannot read 'yesterday'; expected YYYY-MM-DD"),
    (["2026-03-01T10:00:00"], "RECEIVED: '2026-03-01T10:00:00' has no offset"),
    (["2026-03-01", "--identity-received", "soon"], "--identity-received: cannot read 'soon'"),
    (["2026-03-01", "--nation", "wales"], "--nation: expected one of england-and-wales, scotland, northern-ireland"),
    (["2026-03-01", "--timezone", "Mars/Olympus"], "--timezone: unknown time zone 'Mars/Olympus'"),
    (["2026-03-01", "--paused-days", "two"], "--paused-days: expected a whole number"),
])
def test_cli_bad_input(cli: Callable[..., int], capsys: pytest.CaptureFixture[str],
                       argv: list[str], message: str) -> None:
    assert cli("deadline", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mailbot: error: ")
    assert message in err


def test_cli_late_extension(cli: Callable[..., int], capsys: pytest.CaptureFixture[str],
                            fake_clock: FakeClock) -> None:
    assert cli("deadline", "2026-03-20", "--extended") == 2
    assert "too late to extend" in capsys.readouterr().err


CONFIG = """\
[mailbox]
source = "maildir"
path = "mail"

[bot]
address = "privacy@example.co.uk"

[owner]
email = "owner@example.co.uk"

[business]
name = "Example Studio"
nation = "scotland"
timezone = "UTC"
"""


def test_cli_defaults_come_from_the_config(cli: Callable[..., int], capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mailbot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    out = run_json(cli, capsys, "2026-06-30T23:30:00Z")
    assert (out["nation"], out["due"]) == (EW, "2026-08-03")     # no config: built-in defaults
    monkeypatch.setenv("MAILBOT_CONFIG", str(path))
    out = run_json(cli, capsys, "2026-06-30T23:30:00Z")
    # UTC keeps 30 Jun; due Thu 30 Jul, Scotland
    assert (out["nation"], out["timezone"], out["start"], out["due"]) == (SC, "UTC", "2026-06-30", "2026-07-30")
    out = run_json(cli, capsys, "2026-07-03", "--nation", EW)
    assert (out["nation"], out["due"]) == (EW, "2026-08-03")     # the option beats the config
    monkeypatch.delenv("MAILBOT_CONFIG")
    assert cli("--config", str(path), "deadline", "2026-07-03", "--json") == 0
    assert json.loads(capsys.readouterr().out)["due"] == "2026-08-04"   # Scotland's 3 Aug holiday
