"""Backoff delays and the once-per-outage log."""

from __future__ import annotations

import logging
import threading

import pytest

from mailbot.backoff import Backoff, Outage, OutageLog


def test_delays_double_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    top = Backoff(base=1, cap=300, random_fraction=lambda: 1.0)
    assert [top.next_delay() for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    bottom = Backoff(base=1, cap=300, random_fraction=lambda: 0.0)
    assert [bottom.next_delay() for _ in range(4)] == [0.5, 1, 2, 4]


def test_real_jitter_stays_in_range_and_reset_starts_over() -> None:
    backoff = Backoff()
    for attempt in range(2000):
        nominal = min(300.0, 2.0 ** min(attempt, 64))
        assert nominal / 2 <= backoff.next_delay() <= nominal
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=10, cap=5)


def test_sleep_returns_at_once_when_stopped() -> None:
    stop = threading.Event()
    stop.set()
    assert Backoff(base=100, cap=100).sleep(stop) is True
    assert Backoff(base=0.01, cap=0.01).sleep(threading.Event()) is False


def test_an_outage_is_logged_once_going_and_once_coming_back(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    outage = Outage("IMAP server mail.example:993", logging.getLogger("t"), clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="t"):
        outage.recovered()  # no outage yet: nothing to say
        for _ in range(5):
            outage.failed(OSError("Connection refused"), retry_in=4)
            now[0] += 30
        outage.recovered()
        outage.recovered()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "mail.example:993 is unreachable: Connection refused" in lines[0]
    assert "reachable again after 150 s and 5 failed attempts" in lines[1]
    assert not outage.down and outage.failures == 0


def test_outage_log_takes_the_logger_first(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog(logging.getLogger("t"), "imap://u@h:993/INBOX")
    with caplog.at_level(logging.WARNING, logger="t"):
        outage.failed("down")
        outage.failed("down")
    assert len(caplog.records) == 1
