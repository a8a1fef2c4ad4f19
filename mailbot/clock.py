"""The one clock: every 'now' in mailbot comes from here, so tests can move time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo


class Clock:
    """Wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.now(timezone.utc)

    def local(self, tz: str) -> datetime:
        """Return the current time in the named IANA time zone."""
        return self.now().astimezone(ZoneInfo(tz))


class FakeClock(Clock):
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the fake current time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by delta and return the new time."""
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to an absolute aware time."""
        with self._lock:
            self._now = when.astimezone(timezone.utc)


_clock: Clock = Clock()


def now() -> datetime:
    """Return the current aware UTC time from the installed clock."""
    return _clock.now()


def install(clock: Clock) -> Clock:
    """Replace the process-wide clock; returns the previous one so tests can restore it."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def local(tz: str) -> datetime:
    """Return the current time in the named IANA time zone, from the installed clock."""
    return _clock.now().astimezone(ZoneInfo(tz))
