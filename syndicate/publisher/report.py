"""Reports: the outcome of a build or a publish (``BuildResult``, ``PublishResult``), and
what the CLI, the editor API and the dashboard show of it and of the store
(``republish_json``, ``status_json``), as JSON values. Reads the store (and the
posts folder, for the posts still waiting when the last build was another process's).
No Flask: ``syndicate status`` needs no web stack.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..config import Config
from ..documents import Site, absolute_url
from ..errors import SyndicateError
from ..site.manifest import held_documents

if TYPE_CHECKING:
    from ..posts import Post, PostProblem
    from ..store import Attempt, BuildRecord, Notification, Store, TargetRefusal

RECENT_ATTEMPTS: Final = 50  # delivery attempts listed by status

DELIVERY_NOTE: Final = (
    "Notifications are queued in the store; the scheduler (syndicate serve or "
    "syndicate worker) delivers them."
)

Json = dict[str, Any]


class Published(Protocol):
    """What a report reads of a ``Publisher``: its config, clock, store and last publish."""

    @property
    def config(self) -> Config: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def last(self) -> PublishResult | None: ...


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """The outcome of one build: the Site and every problem found on the way."""

    site: Site
    problems: tuple[PostProblem, ...]
    post_count: int

    @property
    def errors(self) -> tuple[PostProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[PostProblem, ...]:
        return tuple(p for p in self.problems if p.severity != "error")


@dataclasses.dataclass(frozen=True)
class PublishResult:
    """The outcome of one stateful publish: what changed and what was queued."""

    site: Site
    problems: tuple[PostProblem, ...]
    post_count: int
    changed_feeds: tuple[str, ...]  # URL paths of feed documents whose content changed
    removed_feeds: tuple[str, ...]  # URL paths of feed documents that no longer exist
    queued: int  # notifications queued
    scheduled: tuple[tuple[str, datetime], ...]  # (post path, time) of future posts
    started: datetime
    duration: float
    # (URL path, problem) of each document the publish gate held back (``gate``).
    held: tuple[tuple[str, str], ...] = ()

    @property
    def errors(self) -> tuple[PostProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


def iso(when: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC, ``2024-05-01T12:00:00Z``."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _shown(path: Path | str, config: Config) -> str:
    """A file as a POSIX path relative to the config's folder when inside it."""
    path = Path(path)
    try:
        return path.relative_to(config.root).as_posix()
    except ValueError:
        return path.as_posix()


def _problem(problem: PostProblem, config: Config) -> Json:
    return {"file": _shown(problem.path, config), "message": problem.message}


def _feed(path: str, config: Config) -> Json:
    return {"path": path, "url": absolute_url(config.site.url, path)}


def _held(held: Iterable[tuple[str, str]], config: Config) -> list[Json]:
    """The documents the publish gate held back, each with its problem."""
    return [{**_feed(path, config), "problem": problem} for path, problem in held]


def waiting_posts(posts: Iterable[Post], now: datetime) -> tuple[tuple[str, datetime], ...]:
    """(path, date) of the published ``posts`` dated after ``now``, soonest first."""
    return tuple(
        sorted(
            ((p.relpath, p.date) for p in posts if p.published and p.date > now),
            key=lambda item: (item[1], item[0]),
        )
    )


def _scheduled_item(relpath: str, when: datetime, config: Config) -> Json:
    return {"file": _shown(config.posts_dir / relpath, config), "time": iso(when)}


def republish_json(result: PublishResult, config: Config, force: bool = False) -> Json:
    """What ``POST /api/republish`` answers (and ``syndicate republish`` reports)."""
    return {
        "force": force,
        "changed_feeds": [_feed(p, config) for p in result.changed_feeds],
        "removed_feeds": [_feed(p, config) for p in result.removed_feeds],
        # Kept at their last good version, and not notified (``publisher.gate``).
        "held": _held(result.held, config),
        "queued": result.queued,
        "delivery": DELIVERY_NOTE,
        "errors": [_problem(p, config) for p in result.problems if p.severity == "error"],
        "warnings": [_problem(p, config) for p in result.problems if p.severity != "error"],
        "post_count": result.post_count,
        "feed_count": len(result.site.feeds),
        "scheduled": [_scheduled_item(path, when, config) for path, when in result.scheduled],
        "started": iso(result.started),
        "duration": round(result.duration, 3),
    }


def _build_error(line: str, config: Config) -> Json:
    # The store keeps errors as "path: problem" lines (str(PostProblem)).
    file, _, message = line.partition(": ")
    return {"file": _shown(file, config), "message": message}


def _notification(n: Notification) -> Json:
    return {
        "id": n.id,
        "kind": n.kind,
        "target": n.target,
        "feed": n.feed_url,
        "attempts": n.attempts,
        "created": iso(n.created_at),
        # A failed notification waits for nobody: it is retried only when asked.
        "next_attempt": iso(n.next_attempt_at) if n.status == "pending" else None,
        "last_error": n.last_error,
    }


def _target_refusal(r: TargetRefusal) -> Json:
    return {
        "kind": r.kind,
        "target": r.target,
        "feed": r.feed_url,
        "time": iso(r.time),
        "http_status": r.http_status,
        "message": r.message,
        "count": r.count,
        "since": iso(r.first_time) if r.first_time is not None else None,
    }


def _attempt(a: Attempt) -> Json:
    return {
        "kind": a.kind,
        "target": a.target,
        "feed": a.feed_url,
        "time": iso(a.time),
        "status": a.status,
        "attempt": a.attempt,
        "http_status": a.http_status,
        "latency_ms": a.latency_ms,
        "error": a.error,
    }


class _QuietThreads(logging.Filter):
    """Drops records logged by threads that asked for quiet (see ``quiet_posts``)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.get_ident() not in self.threads


_quiet = _QuietThreads()
# By name: the posts module is imported only when posts are read.
logging.getLogger("syndicate.posts").addFilter(_quiet)
# The publish gate's lines, in a dry run (``preview``): it holds nothing back.
logging.getLogger("syndicate.publisher.gate").addFilter(_quiet)


@contextlib.contextmanager
def quiet_posts() -> Iterator[None]:
    """Silence the posts module's log lines in this thread (re-reading for a status page).

    Re-reading the posts for a status page would log every post problem again on each
    poll; they were logged by the build. Per thread, so other requests still log.
    """
    me = threading.get_ident()
    _quiet.threads.add(me)
    try:
        yield
    finally:
        _quiet.threads.discard(me)


def scheduled_posts(
    publisher: Published, build: BuildRecord | None, now: datetime
) -> Sequence[tuple[str, datetime]]:
    """Posts dated after ``now``: from this process's last publish if it is the latest
    build, else re-read from the posts folder (the build may have run in another process).
    """
    last = publisher.last
    if last is not None and (build is None or last.started >= build.time):
        found: Iterable[tuple[str, datetime]] = last.scheduled
    else:
        from ..posts import load_posts

        with quiet_posts():
            loaded, _ = load_posts(publisher.config)
        found = sorted(
            ((p.relpath, p.date) for p in loaded if p.published and p.date > now),
            key=lambda item: (item[1], item[0]),
        )
    return [(path, when) for path, when in found if when > now]


def status_json(publisher: Published, attempts: int = RECENT_ATTEMPTS) -> Json:
    """What ``GET /api/status`` answers (and ``syndicate status --json`` prints)."""
    store: Store | None = publisher.store
    if store is None:
        raise SyndicateError("status needs a Publisher with a store")
    config = publisher.config
    now = publisher.clock()
    build = store.last_build()
    last_build: Json | None = None
    if build is not None:
        last_build = {
            "time": iso(build.time),
            "duration": round(build.duration, 3),
            "post_count": build.post_count,
            "feed_count": build.feed_count,
            "error_count": len(build.errors),
            "changed_feeds": [_feed(p, config) for p in build.changed_feeds],
        }
    refusal = store.last_refusal()
    return {
        "now": iso(now),
        "last_build": last_build,
        # A publish refused since the last build (the live feeds kept as they were).
        "refused": (
            {"time": iso(refusal.time), "reason": refusal.reason, "message": refusal.message}
            if refusal is not None
            else None
        ),
        "errors": [_build_error(line, config) for line in build.errors] if build else [],
        # Documents the last publish's gate held back: served at their last good version
        # (or not at all, when new), their feeds not notified, until a publish passes.
        "held": _held(held_documents(config.output_dir).items(), config),
        "scheduled": [
            _scheduled_item(path, when, config)
            for path, when in scheduled_posts(publisher, build, now)
        ],
        "pending": [_notification(n) for n in store.pending()],
        # Could not be delivered (retries exhausted, a bad URL): each needs a look.
        "failed": [_notification(n) for n in store.failed()],
        # Answered "no" (a 4xx, an XML-RPC fault, flerror): final, and not failures; the
        # latest refusal of each target, once, however many notifications it refused.
        "refused_by_targets": [_target_refusal(r) for r in store.target_refusals()],
        "recent_attempts": [_attempt(a) for a in store.recent_attempts(attempts)],
    }
