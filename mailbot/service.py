"""The service: `mailbot run` as one asyncio process that watches, sends and keeps time.

Three parts share one event loop:

* the watcher: the synchronous Intake loop in a worker thread (it blocks on
  IMAP IDLE or sleeps between polls); after each pass it hands the new mail to
  mailbot.workflow and wakes the sender;
* the sender: mailbot.sender.Sender.run, a coroutine;
* the scheduler: an APScheduler AsyncIOScheduler whose jobs run the passes of
  mailbot.reminders and mailbot.retention in threads (they are short
  database transactions).

Stopping (SIGINT or SIGTERM): the watcher finishes its current batch (its
thread sees the stop event between steps), the sender finishes the message it
is on, and a job in flight finishes its transaction. Nothing is cut in the
middle of a transaction, and what is not done is picked up from the database
at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from mailbot import clock, reminders, retention
from mailbot.config import Config
from mailbot.db import Database
from mailbot.errors import MailbotError
from mailbot.intake import Classify, Intake, PassReport
from mailbot.mailbox import Mailbox, create_mailbox
from mailbot.models import Heartbeat
from mailbot.scheduler import Job, build_scheduler
from mailbot.sender import Sender

log = logging.getLogger(__name__)

WATCHER, SCHEDULER = "watcher", "scheduler"
# The sender polls by itself only as a safety net; the outbox-retry job and wake() drive it.
SENDER_POLL_SECONDS = 300.0
# How long a stop waits for a job or the sender to finish before giving up on it.
STOP_GRACE_SECONDS = 30.0


def beat(db: Database, name: str, detail: str = "", now: datetime | None = None) -> None:
    """Record that part `name` of the service was alive now (read by `mailbot status`)."""
    when = now or clock.now()
    touch = update(Heartbeat).where(Heartbeat.name == name).values(at=when, detail=detail)
    with db.session() as session:
        if cast(CursorResult[Any], session.execute(touch)).rowcount:
            return
    try:
        with db.session() as session:
            session.add(Heartbeat(name=name, at=when, detail=detail))
    except IntegrityError:
        # Jobs run concurrently at start: another one inserted this row first; update it instead.
        with db.session() as session:
            session.execute(touch)


def heartbeats(db: Database) -> dict[str, Heartbeat]:
    """Every recorded heartbeat by name."""
    with db.session() as session:
        return {h.name: h for h in session.scalars(select(Heartbeat))}


def process_new(db: Database, config: Config) -> Any | None:
    """Run mailbot.workflow.process_new when the workflow stage is installed; None when it is not."""
    try:
        from mailbot import workflow
    except ImportError as exc:
        log.debug("mailbot.workflow is not available yet (%s); messages wait unhandled", exc)
        return None
    return workflow.process_new(db, config)


@dataclass(frozen=True)
class ServiceOptions:
    """Knobs tests turn; the defaults are the service's."""

    sender_poll_seconds: float = SENDER_POLL_SECONDS
    stop_grace_seconds: float = STOP_GRACE_SECONDS
    handle_signals: bool = True


class Service:
    """The long-running `mailbot run`: watcher, sender and scheduler in one event loop."""

    def __init__(self, config: Config, db: Database, *, mailbox: Mailbox | None = None,
                 classify: Classify | None = None, sender: Sender | None = None,
                 options: ServiceOptions = ServiceOptions()) -> None:
        self.config = config
        self.db = db
        self.intake = Intake(config, db, mailbox or create_mailbox(config), classify=classify)
        self.sender = sender or Sender(db, config)
        self.options = options
        self._stop: asyncio.Event | None = None
        self._thread_stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._jobs_running: set[asyncio.Task[None]] = set()

    # -- life ----------------------------------------------------------------

    def stop(self) -> None:
        """Ask the service to stop after the work in hand (safe from any thread)."""
        self._thread_stop.set()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def run(self) -> None:
        """Run until stop() or SIGINT/SIGTERM; raises when the watcher died of an unexpected error."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.options.handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(sig, self._on_signal, sig)
        scheduler = build_scheduler(self.config, self._job_table())
        watcher = asyncio.create_task(
            asyncio.to_thread(self.intake.run, self._thread_stop, self._after_pass), name="watcher")
        sending = asyncio.create_task(
            self.sender.run(self._stop, poll_interval=self.options.sender_poll_seconds), name="sender")
        stopped = asyncio.create_task(self._stop.wait(), name="stop")
        try:
            scheduler.start()
            log.info("watching %s; sending through %s:%d; jobs: %s", self.intake.mailbox.key,
                     self.config.smtp.host, self.config.smtp.port,
                     ", ".join(job.id for job in scheduler.get_jobs()))
            await asyncio.wait({watcher, sending, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.stop()
            scheduler.shutdown(wait=False)
            await self._finish(watcher, sending, stopped)
            if self.options.handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    self._loop.remove_signal_handler(sig)
        if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
            raise watcher.exception()  # type: ignore[misc]
        log.info("stopped cleanly")

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s, stopping after the work in hand", sig.name)
        self.stop()

    async def _finish(self, watcher: asyncio.Task[None], sending: asyncio.Task[None],
                      stopped: asyncio.Task[bool]) -> None:
        """Let each part end its current step; the watcher thread cannot be cut, so it is waited for."""
        grace = self.options.stop_grace_seconds
        if self._jobs_running:
            _done, late = await asyncio.wait(self._jobs_running, timeout=grace)
            for task in late:
                log.warning("job %s did not finish within %g s; its transaction rolls back, "
                            "the next start redoes it", task.get_name(), grace)
                task.cancel()
        try:
            await asyncio.wait_for(sending, timeout=grace)
        except asyncio.TimeoutError:
            log.warning("the sender did not finish within %g s; an interrupted message is checked "
                        "in the mailbox at the next start, never sent blindly twice", grace)
        except (MailbotError, SQLAlchemyError) as exc:
            log.error("the sender stopped with an error: %s", exc)
        # The watcher thread leaves its loop at its next check of the stop event.
        await asyncio.wait({watcher})
        if watcher.exception() is not None:
            log.error("the mailbox watcher stopped with an error: %s", watcher.exception())
        stopped.cancel()

    # -- the watcher's hook ------------------------------------------------------

    def _after_pass(self, report: PassReport) -> None:
        """In the watcher thread after every pass: heartbeat, workflow, then wake the sender."""
        try:
            new = [o for o in report.outcomes if o.status != "duplicate"]
            beat(self.db, WATCHER, f"{self.intake.mailbox.key}: {len(new)} new message(s) in the last pass")
            result = process_new(self.db, self.config)
        except (MailbotError, SQLAlchemyError) as exc:
            # The messages stay unhandled in the database; the next pass tries them again.
            log.error("handling new mail failed, it will be tried again after the next pass: %s", exc)
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.sender.wake)
        if result is not None and getattr(result, "lines", None):
            log.info("workflow: %d action(s)", len(result.lines))

    # -- the jobs --------------------------------------------------------------

    def _job_table(self) -> dict[str, Job]:
        return {
            "deadline-reminders": self._threaded("deadline-reminders", reminders.send_deadline_reminders),
            "digest": self._threaded("digest", reminders.send_digest),
            "challenges": self._threaded("challenges", reminders.run_challenges),
            "retention": self._threaded("retention", retention.apply_retention),
            "outbox-retry": self._wake_sender,
        }

    async def _wake_sender(self) -> None:
        self.sender.wake()

    def _threaded(self, name: str, func: Callable[[Database, Config], Any]) -> Job:
        """A job that runs func(db, config) in a thread, logs what it did, and wakes the sender."""

        async def job() -> None:
            if self._stop is not None and self._stop.is_set():
                return
            task = asyncio.current_task()
            assert task is not None
            task.set_name(name)
            self._jobs_running.add(task)
            def work() -> Any:
                result = func(self.db, self.config)
                beat(self.db, SCHEDULER, f"{name} ran")
                return result

            try:
                report = await asyncio.to_thread(work)
            except (MailbotError, SQLAlchemyError) as exc:
                # Rolled back whole; the next run (at the latest, the next start) does it again.
                log.error("job %s failed, it will run again: %s", name, exc)
                return
            finally:
                self._jobs_running.discard(task)
            for line in report.lines():
                log.info("%s", line)
            self.sender.wake()

        job.__name__ = name.replace("-", "_")
        return job


def run_service(config: Config, db: Database, **kwargs: Any) -> None:
    """Run the service in a fresh event loop until a signal stops it."""
    asyncio.run(Service(config, db, **kwargs).run())
