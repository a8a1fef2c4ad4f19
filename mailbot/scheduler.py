"""The scheduler: which job runs when, as an APScheduler 3.x AsyncIOScheduler.

The jobs only *trigger* passes; what a pass does is decided from the database
(mailbot.reminders, mailbot.retention), so a missed or repeated run is
harmless. Every daily job also runs once at start, which is how a restart or
a machine that was off for days catches up.

Hours are in the business's time zone, so a reminder hour of 9 stays 09:00
across the change to and from summer time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mailbot.config import Config

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its name, when it runs, and whether it also runs at start."""

    name: str
    trigger: BaseTrigger
    at_start: bool
    describe: str


def job_specs(config: Config) -> tuple[JobSpec, ...]:
    """The jobs of a configuration, in the order they are listed by `mailbot status`."""
    sched = config.schedule
    tz = ZoneInfo(config.business.timezone)
    specs = [
        JobSpec("deadline-reminders", CronTrigger(hour=sched.reminder_hour, minute=0, timezone=tz), True,
                f"daily at {sched.reminder_hour:02d}:00, and at start"),
        JobSpec("challenges", IntervalTrigger(minutes=sched.challenge_check_minutes, timezone=tz), True,
                f"every {sched.challenge_check_minutes} min, and at start"),
        JobSpec("outbox-retry", IntervalTrigger(seconds=sched.outbox_retry_seconds, timezone=tz), False,
                f"every {sched.outbox_retry_seconds:g} s"),
        JobSpec("retention", CronTrigger(hour=sched.retention_hour, minute=30, timezone=tz), True,
                f"daily at {sched.retention_hour:02d}:30, and at start"),
    ]
    if sched.digest:
        specs.insert(1, JobSpec("digest", CronTrigger(hour=sched.digest_hour, minute=0, timezone=tz), True,
                                f"daily at {sched.digest_hour:02d}:00, and at start"))
    return tuple(specs)


def build_scheduler(config: Config, jobs: dict[str, Job], *, start_now: datetime | None = None) -> AsyncIOScheduler:
    """An AsyncIOScheduler with one job per spec that has a function in jobs; start it inside the loop."""
    tz = ZoneInfo(config.business.timezone)
    scheduler = AsyncIOScheduler(timezone=tz, job_defaults={
        # One run at a time per job; runs missed while busy collapse into one.
        "max_instances": 1, "coalesce": True, "misfire_grace_time": 3600,
    })
    for spec in job_specs(config):
        func = jobs.get(spec.name)
        if func is None:
            continue
        extra = {"next_run_time": start_now or datetime.now(tz)} if spec.at_start else {}
        scheduler.add_job(func, spec.trigger, id=spec.name, name=spec.name, **extra)
    return scheduler


def next_runs(config: Config, now: datetime) -> tuple[tuple[JobSpec, datetime | None], ...]:
    """When each job would next fire after now (interval jobs: one interval from now)."""
    return tuple((spec, spec.trigger.get_next_fire_time(None, now)) for spec in job_specs(config))
