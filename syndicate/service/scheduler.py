"""The service: APScheduler 3 and file-watcher wiring around the Publisher. Starts threads.

``Service`` owns one ``BackgroundScheduler`` (with its own in-memory job store:
APScheduler 3 job stores must never be shared between schedulers) and one watchdog
``Observer`` on ``posts_dir``. It decides *when* to publish and deliver; *what* that
does is the Publisher's and the Outbox's business. Its jobs:

``publish``          a rebuild, debounced: a burst of saves under ``posts_dir`` is one rebuild,
                     ``watch.debounce`` seconds after the last of them
``scan``             a full rebuild every ``watch.scan_interval`` seconds (the safety net)
``post:<path>``      one per post dated in the future, at its date; replanned from
                     ``PublishResult.scheduled`` after every publish, so a restart restores them
``deliver``          ``Outbox.deliver_due()`` right after a publish that queued something,
                     else when the outbox next has work (``DeliveryReport.next_due``)
``deliver-poll``     the same every few seconds, for notifications that another process
                     (``syndicate republish``, the editor API) queued
``prune``            daily: delivery attempts older than 30 days are deleted
``wait-for``         with ``wait_for``, until that URL answers: deliveries are held till
                     then (a hub fetches the feed as soon as it hears of a change)

A publish refused to keep the live feeds (``PublishRefused``: no posts folder, or most
posts gone at once) is logged once, in one line, and tried again at the next change or
full scan; the service goes on, and a posts folder that was missing (even at start) or
made anew is watched again once a publish finds it.

Nothing here sleeps: APScheduler does the waiting. Publishes run one at a time, and so
do deliveries; a trigger that comes while one runs makes it run once more afterwards.
The ``clock`` is the Publisher's time; the scheduler fires in real time, which is the
same thing in production (tests keep the scheduler paused and call ``run_due()``).

``run_worker()`` is ``syndicate worker``: the service until a stop event
(``supervise.WorkerProcess`` is how ``syndicate serve`` runs it as a child process).
I/O: reads file-system events; the jobs do the Publisher's and the Outbox's I/O.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Final, Generic, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from .. import counted
from ..config import Config
from ..errors import PublishRefused, SyndicateError
from ..notify import DeliveryReport, Outbox
from ..posts.walk import skip_reason
from ..publisher import Clock, Publisher, PublishResult, open_publisher
from ..store import Attempt, Notification, Store
from .process import give_back_free_memory
from .supervise import signal_ready, web_answers

# Named as before the service/ package: log lines (and filters on them) keep their name.
log = logging.getLogger("syndicate.scheduler")

T = TypeVar("T")

PUBLISH_JOB: Final = "publish"
SCAN_JOB: Final = "scan"
DELIVER_JOB: Final = "deliver"
POLL_JOB: Final = "deliver-poll"
PRUNE_JOB: Final = "prune"
WAIT_JOB: Final = "wait-for"
POST_JOB_PREFIX: Final = "post:"

#: Seconds between looks at the outbox for work queued by another process.
POLL_INTERVAL: Final = 5.0
#: Delivery attempts are kept this long (the status page shows recent ones).
KEEP_ATTEMPTS: Final = timedelta(days=30)
#: A stream of saves that never pauses still gets a rebuild this many debounces after it began.
MAX_DEBOUNCES: Final = 10
# A publish this long, or that changed this many feeds, rebuilt much and let go of much:
# the memory it freed goes back to the system (give_back_free_memory) rather than stay.
TRIM_AFTER: Final = 0.5  # seconds
TRIM_AFTER_FEEDS: Final = 64
#: Notifications sent per delivery run before the service checks whether it is stopping.
DELIVERY_BATCH: Final = 100
#: Seconds between looks at the web tier while deliveries wait for it, the longest each
#: look may take, and how often the wait is logged again.
WAIT_INTERVAL: Final = 0.2
WAIT_TIMEOUT: Final = 5.0
WAIT_LOG_EVERY: Final = 30.0

# What a write to a post looks like through watchdog. Not "opened", "closed_no_write" nor
# "attrib": the publisher itself opens and reads every post, and that must not trigger
# another rebuild.
_CHANGE_EVENTS: Final = frozenset({"created", "modified", "deleted", "moved", "closed"})


class _OneAtATime(Generic[T]):
    """Runs a function in one thread at a time. A call made while it runs returns None at
    once and makes the running call go round once more, so the last trigger is never lost
    and a burst of triggers costs at most one extra run."""

    def __init__(self, func: Callable[[], T], stopping: threading.Event) -> None:
        self._func = func
        self._stopping = stopping  # once set, no more rounds: that is new work, not in flight
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def __call__(self) -> T | None:
        with self._lock:
            if self._running:
                self._again = True
                return None
            self._running = True
            self._again = False
        try:
            while True:
                result = self._func()
                with self._lock:
                    # Decided under the lock, so a call arriving now either sees us
                    # running (and is run by this loop) or runs itself.
                    if not self._again or self._stopping.is_set():
                        self._running = False
                        return result
                    self._again = False
        except BaseException:
            with self._lock:
                self._running = False
            raise


class _PostsHandler(FileSystemEventHandler):
    """Turns file-system events under posts_dir into debounced rebuild requests."""

    def __init__(self, service: Service, root: Path, ignored: tuple[Path, ...]) -> None:
        self.service = service
        self.root = root
        self.ignored = ignored

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _CHANGE_EVENTS:
            return
        if event.is_directory and event.event_type in ("modified", "closed"):
            return  # the events of the files inside say what changed
        paths = [event.src_path, getattr(event, "dest_path", "")]
        for raw in paths:
            if not raw:
                continue
            path = Path(os.fsdecode(raw))
            if self.relevant(path, event.is_directory):
                # A folder event may hide many files: that needs a full scan.
                changed = [] if event.is_directory else [Path(os.fsdecode(p)) for p in paths if p]
                self.service.request_publish(
                    f"{event.event_type} {self._shown(path)}", paths=changed or None
                )
                return

    def relevant(self, path: Path, is_directory: bool) -> bool:
        """Whether a change to path can change a post: not hidden, not an editor's
        temporary file, not our own output or state, and a post file type."""
        if any(path == d or d in path.parents for d in self.ignored):
            return False
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return False
        if not parts or any(part.startswith(".") for part in parts):
            return False
        if is_directory:
            return True  # a folder of posts created, deleted or moved
        return skip_reason(parts[-1]) is None  # the walk's own rule, as a scan applies it

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


class Service:
    """The scheduler and the file watcher of one deployment; see the module docstring.

    ``start()`` publishes once (so the live tree exists), then starts watching and the
    jobs; ``shutdown()`` stops watching and waits for the job in flight, leaving the
    rest in the outbox. The job functions (``run_publish``, ``run_delivery``,
    ``run_prune``) and the planners (``plan_scheduled``, ``plan_delivery``) can be
    called directly; ``run_due()`` runs the one-off jobs that are due by ``clock``.

    ``wait_for``: a URL of the web tier; nothing is delivered until it answers
    (``release_deliveries()``, called by the ``wait-for`` job when it does).
    """

    def __init__(
        self,
        config: Config,
        publisher: Publisher,
        clock: Clock | None = None,
        *,
        poll_interval: float = POLL_INTERVAL,
        wait_for: str | None = None,
    ) -> None:
        if publisher.store is None or publisher.outbox is None:
            raise SyndicateError("the service needs a publisher with a store and an outbox")
        self.config = config
        self.publisher = publisher
        self.store: Store = publisher.store
        self.outbox: Outbox = publisher.outbox
        self.clock: Clock = clock or publisher.clock
        self.poll_interval = poll_interval
        self.scheduler = BackgroundScheduler(
            # Its own job store, never shared: APScheduler 3 requires that.
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                # A job that could not run on time (busy, suspended machine) still runs:
                # a scheduled post must appear even if its moment was missed.
                "misfire_grace_time": None,
            },
            timezone=UTC,
        )
        self._observer: BaseObserver | None = None
        # (device, inode) of the posts folder being watched; None: not watched.
        self._watched: tuple[int, int] | None = None
        self._events = True  # False once file-system events turned out to be unavailable
        self._refusal: str | None = None  # the last refusal logged, until a publish works
        # Held by whoever calls the scheduler from a job or the watcher, and by shutdown()
        # to set _stopping: APScheduler 3's shutdown(wait=True) holds its job-store lock
        # while it waits for running jobs, so a job that called the scheduler after that
        # would deadlock. Once _stopping is set, jobs leave the scheduler alone.
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._burst_started: datetime | None = None
        # Files changed since the last publish (None: something needs a full scan).
        self._changed: set[Path] | None = set()
        self._publish = _OneAtATime(self._publish_once, self._stopping)
        self._deliver = _OneAtATime(self._deliver_once, self._stopping)
        self.wait_for = wait_for
        self._web_answers = threading.Event()  # set: deliveries may go out
        if wait_for is None:
            self._web_answers.set()
        self._waiting_since: float | None = None  # monotonic, for the wait's log lines
        self._wait_logged = 0.0

    # ------------------------------------------------------------------ lifecycle

    def start(self, paused: bool = False) -> PublishResult | None:
        """Publish once, then watch posts_dir and start the jobs.

        ``paused`` plans every job but runs none by itself (tests drive time with
        ``run_due()`` and a fake clock). Errors of the first publish are raised, but for
        a refused one (None): the service starts, keeps the live tree it finds, and
        publishes once the posts are back.
        """
        self.scheduler.start(paused=True)
        try:
            # Watch before the first publish, so a save during it is not missed.
            self._follow_root()
            result: PublishResult | None = None
            try:
                result = self.publisher.publish()
            except PublishRefused as exc:
                self._refused("first publish", exc)
            else:
                self._after_publish(result)
            self.plan_delivery(self.store.next_due_time())
            self._add_periodic_jobs()
            if not self._web_answers.is_set():
                self._wait_for_web()
        except BaseException:
            self.shutdown()
            raise
        if not paused:
            self.scheduler.resume()
        log.info(
            "service started: %s %s, full scan every %g s",
            "watching" if self._observer is not None else "not watching",
            self.config.posts_dir,
            self.config.watch.scan_interval,
        )
        return result

    def shutdown(self) -> None:
        """Stop watching, let the job in flight finish, drop the rest (the outbox keeps it)."""
        with self._lock:
            self._stopping.set()
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
            log.info("service stopped")
        # The cache and the stamp are saved now and then while running; this keeps the latest.
        self.publisher.save()

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _watch(self) -> BaseObserver | None:
        # Never made here: a missing folder is an error to report, not an empty site.
        root = self.config.posts_dir.resolve()
        output = self.config.output_dir.resolve()
        # The live tree may be under posts_dir, and its index.html looks like a post: writing
        # it is no edit. (The state files are hidden or not post files, so they never count.)
        ignored = (output,) if output not in (root, *root.parents) else ()
        handler = _PostsHandler(self, root, ignored)
        observer = Observer()
        observer.schedule(handler, str(root), recursive=True)
        observer.daemon = True
        try:
            observer.start()
        except OSError as exc:
            # No events here (inotify watches used up, some network file systems): the full
            # scan is the safety net for exactly this.
            observer.unschedule_all()
            if not root.is_dir():
                return None  # gone meanwhile: watched once it is back (_follow_root)
            self._events = False
            log.warning(
                "%s: no file-system events (%s); changes are found by the full scan every %g s",
                root,
                exc,
                self.config.watch.scan_interval,
            )
            return None
        return observer

    def _follow_root(self) -> None:
        """Watch the posts folder that is there now: one that appeared (the service
        started without it) or was made anew (removed and restored, a checkout) is not
        the one an old watch sees; a folder gone is watched no more."""
        if not self._events:
            return  # the full scan is all there is
        found = _identity(self.config.posts_dir)
        with self._lock:
            if found == self._watched or self._stopping.is_set():
                return
            old, self._observer, self._watched = self._observer, None, None
        if old is not None:
            old.stop()
            old.join()
        if found is None:
            return
        observer = self._watch()
        with self._lock:
            if not self._stopping.is_set():
                # Not watched (gone again meanwhile): the next publish tries again.
                self._observer = observer
                self._watched = found if observer is not None else None
                log.debug("watching %s (%s)", self.config.posts_dir, found)
                return
        if observer is not None:  # shutdown() came meanwhile
            observer.stop()
            observer.join()

    def _refused(self, reason: str, exc: PublishRefused) -> None:
        """Log a refused publish in one line, once: a folder gone for an hour is one
        error, not one a scan (the same refusal again is logged at debug level)."""
        message = str(exc)
        if message == self._refusal:
            log.debug("publish refused again (%s): %s", reason, message)
            return
        self._refusal = message
        log.error(
            "publish refused (%s): %s; the live feeds stay as they are, and are published "
            "again once this is fixed",
            reason,
            message,
        )

    def _add_periodic_jobs(self) -> None:
        self.scheduler.add_job(
            self._publish_job,
            "interval",
            seconds=self.config.watch.scan_interval,
            args=["full scan", True],
            id=SCAN_JOB,
            name="full scan of the posts",
        )
        self.scheduler.add_job(
            self.run_delivery,
            "interval",
            seconds=self.poll_interval,
            id=POLL_JOB,
            name="look for queued notifications",
            max_instances=2,  # see DELIVER_JOB
        )
        self.scheduler.add_job(
            self.run_prune, "interval", days=1, id=PRUNE_JOB, name="prune old attempts"
        )

    def _wait_for_web(self, delay: float = 0.0) -> None:
        if delay == 0.0:
            log.info("deliveries wait until %s answers", self.wait_for)
            self._waiting_since = self._wait_logged = time.monotonic()
        with self._lock:
            if self._stopping.is_set():
                return
            # One look at a time, each planned when the last is done: a look may take
            # up to WAIT_TIMEOUT, far longer than the interval between them.
            self.scheduler.add_job(
                self._look_for_web_job,
                "date",
                run_date=datetime.now(UTC) + timedelta(seconds=delay),
                id=WAIT_JOB,
                name="wait for the web tier",
                replace_existing=True,
            )

    def _look_for_web_job(self) -> None:
        if not self.look_for_web():
            self._wait_for_web(WAIT_INTERVAL)

    def look_for_web(self) -> bool:
        """Whether deliveries may go out: the web tier at ``wait_for`` answers now (the
        wait ends) or did before. Logs a warning every ``WAIT_LOG_EVERY`` s of waiting."""
        if self._web_answers.is_set() or self.wait_for is None:
            return True
        problem = web_answers(self.wait_for, WAIT_TIMEOUT)
        now = time.monotonic()
        if problem is not None:
            if now - self._wait_logged >= WAIT_LOG_EVERY:
                self._wait_logged = now
                log.warning(
                    "%s does not answer (%s): deliveries still wait, for %.0f s now",
                    self.wait_for,
                    problem,
                    now - (self._waiting_since or now),
                )
            return False
        self.release_deliveries()
        return True

    def release_deliveries(self) -> None:
        """Let deliveries go out from now on, starting with those already due."""
        if self._web_answers.is_set():
            return
        self._web_answers.set()
        log.info("%s answers: deliveries start", self.wait_for)
        self.plan_delivery(self.clock())

    # ------------------------------------------------------------------ triggers

    def request_publish(self, reason: str, paths: Sequence[Path] | None = None) -> None:
        """Rebuild once things are quiet: ``watch.debounce`` seconds after the last request
        of a burst (and at most ``MAX_DEBOUNCES`` debounces after its first).

        ``paths`` are the files that changed: the rebuild then reads only those; without
        them (a folder event), the rebuild scans the whole posts folder.
        """
        debounce = timedelta(seconds=self.config.watch.debounce)
        # Real time, not the clock: the debounce measures quiet on the file system.
        now = datetime.now(UTC)
        with self._lock:
            if self._stopping.is_set():
                return
            if paths is None:
                self._changed = None
            elif self._changed is not None:
                self._changed.update(paths)
            first = self._burst_started is None
            if self._burst_started is None:
                self._burst_started = now
            run_at = min(now + debounce, self._burst_started + MAX_DEBOUNCES * debounce)
            self.scheduler.add_job(
                self._publish_job,
                "date",
                run_date=run_at,
                args=[reason],
                id=PUBLISH_JOB,
                name="rebuild after changes",
                replace_existing=True,
                # If this fires while the previous rebuild still runs, it must reach
                # _OneAtATime (which runs the rebuild once more), not be skipped.
                max_instances=2,
            )
        if first:
            log.info("%s: rebuild in %g s", reason, debounce.total_seconds())
        else:
            log.debug("%s: rebuild postponed", reason)

    def _publish_job(self, reason: str, full: bool = False) -> None:
        with self._lock:
            self._burst_started = None  # a change from now on starts a new burst
            if full:
                self._changed = None
        log.debug("publishing: %s", reason)
        try:
            self.run_publish()
        except PublishRefused as exc:
            self._refused(reason, exc)
        except SyndicateError as exc:
            # A failure syndicate can name (someone else's output_dir, a live file it
            # cannot write) is one line; the next change or full scan tries again.
            log.error("publish failed (%s): %s", reason, exc)
        except Exception:
            # Not one syndicate foresaw: the traceback is for whoever fixes it. The
            # scheduler goes on.
            log.exception("publish failed (%s)", reason)

    def _scheduled_post_job(self, relpath: str) -> None:
        log.info("scheduled post %s is due: publishing", relpath)
        self._publish_job(f"scheduled post {relpath}", full=True)

    # ------------------------------------------------------------------ jobs

    def run_publish(self) -> PublishResult | None:
        """Publish now and plan what follows: scheduled posts and delivery.

        None if a publish was already running (it publishes once more when it is done).
        """
        return self._publish()

    def _publish_once(self) -> PublishResult:
        with self._lock:
            # Only file events name what changed; a scan, a scheduled post or a direct
            # call rereads everything (the safety net stays a real full scan).
            changed, self._changed = self._changed, set()
        self._follow_root()
        if changed:
            result = self.publisher.publish(paths=sorted(changed))
        else:
            result = self.publisher.publish()
        if self._refusal is not None:
            log.info("publish no longer refused: the live feeds are up to date again")
            self._refusal = None
        self._after_publish(result)
        return result

    def _after_publish(self, result: PublishResult) -> None:
        self.plan_scheduled(result)
        if result.duration >= TRIM_AFTER or len(result.changed_feeds) >= TRIM_AFTER_FEEDS:
            # A publish that rebuilt much let go of much (every feed's bytes, once
            # written): given back, not kept for allocations that will not come.
            give_back_free_memory()
        if result.queued:
            # Deliver at once, in another thread, so a slow hub does not hold up publishing.
            self.plan_delivery(self.clock())

    def run_delivery(self) -> DeliveryReport | None:
        """Deliver the notifications that are due, then plan the next delivery.

        None if a delivery was already running (it looks for due ones once more).
        """
        return self._deliver()

    def _deliver_once(self) -> DeliveryReport:
        if not self._web_answers.is_set():
            # Held: release_deliveries() plans the delivery of everything due then.
            return DeliveryReport()
        delivered: list[Notification] = []
        retried: list[Notification] = []
        failed: list[Notification] = []
        refused: list[Notification] = []
        attempts: list[Attempt] = []
        next_due = None
        # One at a time, so a shutdown waits for one request at most; the rest stay queued.
        for _ in range(DELIVERY_BATCH):
            if self._stopping.is_set():
                next_due = self.store.next_due_time()
                break
            report = self.outbox.deliver_due(limit=1)
            next_due = report.next_due
            if not report.attempts:
                break
            delivered += report.delivered
            retried += report.retried
            failed += report.failed
            refused += report.refused
            attempts += report.attempts
        total = DeliveryReport(
            delivered=tuple(delivered),
            retried=tuple(retried),
            failed=tuple(failed),
            refused=tuple(refused),
            attempts=tuple(attempts),
            next_due=next_due,
        )
        if attempts:
            log.info(
                "delivery: %d sent, %d to retry, %d failed, %d refused; next due %s",
                len(delivered),
                len(retried),
                len(failed),
                len(refused),
                next_due.isoformat() if next_due else "never (outbox empty)",
            )
        self.plan_delivery(next_due)
        return total

    def run_prune(self) -> int:
        """Delete delivery attempts older than ``KEEP_ATTEMPTS``; returns how many."""
        removed = self.store.prune_attempts(self.clock() - KEEP_ATTEMPTS)
        if removed:
            log.info(
                "pruned %s older than %s",
                counted(removed, "delivery attempt"),
                counted(KEEP_ATTEMPTS.days, "day"),
            )
        return removed

    # ------------------------------------------------------------------ planning

    def plan_scheduled(self, result: PublishResult) -> None:
        """One date job per post dated in the future, at its date; stale ones removed."""
        wanted = {POST_JOB_PREFIX + relpath: (relpath, when) for relpath, when in result.scheduled}
        with self._lock:
            if self._stopping.is_set():
                return  # the next start plans them again, from the posts
            for job in self.scheduler.get_jobs():
                if job.id.startswith(POST_JOB_PREFIX) and job.id not in wanted:
                    self._remove(job.id)
                    relpath = job.id[len(POST_JOB_PREFIX) :]
                    log.info("scheduled post %s: no longer scheduled", relpath)
            for job_id, (relpath, when) in wanted.items():
                existing = self.scheduler.get_job(job_id)
                if existing is not None and _run_time(existing) == when:
                    continue
                self.scheduler.add_job(
                    self._scheduled_post_job,
                    "date",
                    run_date=when,
                    args=[relpath],
                    id=job_id,
                    name=f"publish scheduled post {relpath}",
                    replace_existing=True,
                    max_instances=2,  # as for PUBLISH_JOB: never skipped while a publish runs
                )
                log.info("scheduled post %s due at %s", relpath, when.isoformat())

    def plan_delivery(self, when: datetime | None) -> None:
        """Run delivery at ``when`` (None: the outbox is empty, the poll will notice work).

        An earlier planned run is kept: a report computed before a publish queued more
        work must not postpone its delivery."""
        if when is None:
            return
        with self._lock:
            if self._stopping.is_set():
                return
            planned = self.scheduler.get_job(DELIVER_JOB)
            if planned is not None and (earlier := _run_time(planned)) and earlier <= when:
                return
            self.scheduler.add_job(
                self.run_delivery,
                "date",
                run_date=when,
                id=DELIVER_JOB,
                name="deliver notifications",
                replace_existing=True,
                # If this fires while a delivery runs, it must reach _OneAtATime (which
                # looks for due notifications once more), not be skipped by APScheduler.
                max_instances=2,
            )

    def _remove(self, job_id: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(job_id)

    # ------------------------------------------------------------------ inspection

    def jobs(self) -> dict[str, datetime | None]:
        """Every job's id and its next run time (None: the job is paused)."""
        return {job.id: _run_time(job) for job in self.scheduler.get_jobs()}

    def scheduled_posts(self) -> dict[str, datetime]:
        """The post path and time of every scheduled-post job."""
        found: dict[str, datetime] = {}
        for job in self.scheduler.get_jobs():
            when = _run_time(job)
            if job.id.startswith(POST_JOB_PREFIX) and when is not None:
                found[job.id[len(POST_JOB_PREFIX) :]] = when
        return found

    def run_due(self, max_rounds: int = 100) -> list[str]:
        """Run in this thread, earliest first, every one-off job due by ``clock``, and then
        those that they made due (a publish plans a delivery); the ids of the jobs run.

        For driving time with a fake clock (the scheduler paused); in production the
        scheduler runs them itself, in real time.
        """
        ran: list[str] = []
        for _ in range(max_rounds):
            now = self.clock()
            due = [
                (when, job.id, job)
                for job in self.scheduler.get_jobs()
                if isinstance(job.trigger, DateTrigger)
                and (when := _run_time(job)) is not None
                and when <= now
            ]
            if not due:
                break
            for _when, job_id, job in sorted(due, key=lambda item: item[:2]):
                self._remove(job_id)
                job.func(*job.args, **job.kwargs)
                ran.append(job_id)
        return ran


def _identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of a folder; None when there is no folder there."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _run_time(job: Job) -> datetime | None:
    """A job's next run time; a one-off job not yet in a started scheduler has its date."""
    when: datetime | None = getattr(job, "next_run_time", None)
    if when is None and isinstance(job.trigger, DateTrigger):
        run_date: datetime = job.trigger.run_date
        return run_date
    return when


def run_worker(config: Config, stop: threading.Event, wait_for: str | None = None) -> None:
    """Run the service on the configured store until ``stop`` is set, then shut down;
    with ``wait_for``, nothing is delivered until that URL answers."""
    publisher = open_publisher(config)
    assert publisher.store is not None
    try:
        service = Service(config, publisher, wait_for=wait_for)
        service.start()
        signal_ready()  # if the stamp did not already confirm the live tree
        # What the first publish loaded (every post, feed and entry) lives as long as the
        # worker: out of the collector's sight, a full collection no longer walks it
        # again and again during later publishes.
        gc.freeze()
        try:
            stop.wait()
        finally:
            service.shutdown()
    finally:
        publisher.store.close()
