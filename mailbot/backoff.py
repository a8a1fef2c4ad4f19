"""Retrying a server that went away: capped exponential backoff, and logging an outage once.

Both the IMAP watcher and the SMTP sender use these, so a mail server that is
down for an hour costs a handful of connection attempts and two log lines
(gone, back), not a line per retry.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable


class Backoff:
    """Delays before the next retry: base * 2**attempt, capped, with jitter.

    The jitter is "equal jitter": the delay is drawn from [d/2, d] so that
    clients that lost the same server at the same moment spread out, while
    each still waits at least half of its nominal delay.
    """

    def __init__(
        self,
        base: float = 1.0,
        cap: float = 300.0,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base:
            raise ValueError("Backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.attempts = 0
        self._random = random_fraction

    def next_delay(self) -> float:
        """The seconds to wait before the next attempt; each call doubles the nominal delay."""
        # min() before the power would overflow float after ~1000 attempts.
        exponent = min(self.attempts, 64)
        nominal = min(self.cap, self.base * (2.0**exponent))
        self.attempts += 1
        return nominal / 2 + self._random() * nominal / 2

    def reset(self) -> None:
        """Start again from base after a success."""
        self.attempts = 0

    def sleep(self, stop: threading.Event) -> bool:
        """Wait the next delay unless stop is set first; True if stopped."""
        return stop.wait(self.next_delay())


class Outage:
    """Logs once when a server goes away and once when it comes back.

    Call `failed` on every failed attempt and `recovered` on every success;
    only the transitions are logged at WARNING/INFO, the retries at DEBUG.
    """

    def __init__(self, what: str, logger: logging.Logger, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.logger = logger
        self.down = False
        self.failures = 0
        self._since = 0.0
        self._clock = clock

    def failed(self, error: BaseException | str, retry_in: float | None = None) -> None:
        """Record a failed attempt; logs a warning only for the first of an outage."""
        self.failures += 1
        later = f"; retrying in {retry_in:.0f} s" if retry_in is not None else ""
        if not self.down:
            self.down = True
            self._since = self._clock()
            self.logger.warning(
                "%s is unreachable: %s (retrying with backoff; logged again when it is back)",
                self.what, error,
            )
        else:
            self.logger.debug("%s still unreachable (attempt %d): %s%s", self.what, self.failures, error, later)

    def recovered(self) -> None:
        """Record a success; logs once if it ends an outage."""
        if self.down:
            self.logger.info(
                "%s is reachable again after %.0f s and %d failed attempts",
                self.what, self._clock() - self._since, self.failures,
            )
        self.down = False
        self.failures = 0


class OutageLog(Outage):
    """`Outage` with the logger first, as the intake runner spells it."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        super().__init__(what, logger)
