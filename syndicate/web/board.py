"""The dashboard's data, apart from its pages: the rows of the posts page (the posts folder,
re-read when a file changed, with the entry ids the publisher settles and the served
Site's feeds), the rows of the notifications page, and the republish jobs, whose state
is a small JSON file any web worker reads. Does I/O (the posts folder, the job files).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from .. import counted
from ..config import Config
from ..documents import FeedInfo, Site
from ..errors import PublishRefused
from ..publisher.report import iso, quiet_posts, republish_json
from .api import failure_message

if TYPE_CHECKING:
    from ..posts import Post, PostProblem
    from ..publisher import IdPlan, Publisher
    from ..store import Attempt, Notification, PostRecord, TargetRefusal

# The dashboard's log lines, as they have always been named.
log = logging.getLogger("syndicate.admin")

ATTEMPTS_PER_TARGET: Final = 10
JOB_KEEP: Final = timedelta(days=1)
_JOB_ID = re.compile(r"[0-9a-f]{16}")

State = Literal["error", "scheduled", "draft", "published"]
STATES: Final[tuple[State, ...]] = ("error", "scheduled", "draft", "published")
Json = dict[str, Any]


# --------------------------------------------------------------------------- posts


@dataclasses.dataclass(frozen=True)
class FeedLink:
    """A feed as a link: its label on the page and its URL path."""

    label: str
    url: str


@dataclasses.dataclass(frozen=True)
class PostRow:
    """One line of the posts page: a post file and what became of it."""

    file: str  # relative to the config's folder, POSIX
    title: str
    state: State
    date: datetime | None  # the post's date (the scheduled time, when scheduled)
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    feeds: tuple[FeedLink, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _order(row: PostRow) -> tuple[int, float, str]:
    """Errors first, then what is scheduled (soonest first), drafts, then newest published."""
    rank = STATES.index(row.state)
    stamp = row.date.timestamp() if row.date is not None else 0.0
    return (rank, -stamp if row.state == "published" else stamp, row.file)


def feed_label(info: FeedInfo, config: Config) -> str:
    """``Site``, ``Category: News``, ``Tag: python``, ``Author: Ann Lee``."""
    if info.kind == "site" or info.name is None:
        return "Site"
    name = info.name
    if info.kind == "author":
        # An author feed is keyed by its `authors:` key (so renaming the person keeps its
        # URL); people know it by the name, as the home page shows it.
        author = config.authors.get(name)
        if author is not None and author.name:
            name = author.name
    return f"{info.kind.capitalize()}: {name}"


def post_rows(
    loaded: Sequence[Post],
    problems: Sequence[PostProblem],
    plan: IdPlan,
    records: Mapping[str, PostRecord],
    site: Site,
    config: Config,
    now: datetime,
) -> list[PostRow]:
    """Every post file with its state and feeds, errors first. Pure.

    ``plan`` has the entry ids settled against the store's ``records`` as a publish
    would (``Publisher.settle_ids``: a renamed post keeps its id), so the feeds a post
    appears in are read off the served Site's feeds.
    """
    in_feeds: dict[str, list[FeedLink]] = {}
    for info in site.feeds:
        # A path, not the public URL: the dashboard's server serves the feeds too.
        link = FeedLink(feed_label(info, config), info.rss_path)
        for entry_id in info.entry_ids:
            in_feeds.setdefault(entry_id, []).append(link)

    errors: dict[Path, list[str]] = {}
    warnings: dict[Path, list[str]] = {}
    for problem in (*problems, *plan.problems):
        target = errors if problem.severity == "error" else warnings
        target.setdefault(Path(problem.path), []).append(problem.message)

    rows: list[PostRow] = []
    seen: set[Path] = set()
    for post in plan.posts:
        seen.add(post.source)
        post_errors = tuple(errors.get(post.source, ()))
        state: State
        if post_errors:
            state = "error"
        elif not post.published:
            state = "draft"
        elif post.date > now:
            state = "scheduled"
        else:
            state = "published"
        rows.append(
            PostRow(
                file=_shown(post.source, config),
                title=post.title,
                state=state,
                date=post.date,
                categories=post.categories,
                tags=post.tags,
                feeds=tuple(in_feeds.get(post.entry_id, ()) if state != "draft" else ()),
                errors=post_errors,
                warnings=tuple(warnings.get(post.source, ())),
            )
        )
    # Files that could not be read as posts at all (and posts left out for a duplicate id).
    for post in loaded:
        if post.source not in seen:
            seen.add(post.source)
            rows.append(
                PostRow(
                    file=_shown(post.source, config),
                    title=post.title,
                    state="error",
                    date=post.date,
                    categories=post.categories,
                    tags=post.tags,
                    errors=tuple(errors.get(post.source, ())) or ("left out of the feeds",),
                    warnings=tuple(warnings.get(post.source, ())),
                )
            )
    for path in sorted(set(errors) - seen):
        record = records.get(_relpath(path, config))
        # The service keeps the last good version of a broken post in its feeds.
        feeds = tuple(in_feeds.get(record.entry_id, ())) if record is not None else ()
        rows.append(
            PostRow(
                file=_shown(path, config),
                title=path.name,
                state="error",
                date=None,
                feeds=feeds,
                errors=tuple(errors[path]),
                warnings=tuple(warnings.get(path, ())),
            )
        )
    rows.sort(key=_order)
    return rows


def _shown(path: Path, config: Config) -> str:
    try:
        return path.relative_to(config.root).as_posix()
    except ValueError:
        return path.as_posix()


def _relpath(path: Path, config: Config) -> str:
    try:
        return path.relative_to(config.posts_dir).as_posix()
    except ValueError:
        return path.name


Scan = tuple[tuple[str, int, int], ...]


def scan_posts(root: Path) -> Scan:
    """(path, size, mtime in ns) of every file under ``root``: cheap, and it changes
    whenever a post does."""
    found: list[tuple[str, int, int]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found.append((path, st.st_size, st.st_mtime_ns))
    found.sort()
    return tuple(found)


class PostBoard:
    """The posts as read from the posts folder, re-read only when a file changed."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._scan: Scan | None = None
        self._loaded: tuple[list[Post], list[PostProblem]] = ([], [])

    def load(self) -> tuple[list[Post], list[PostProblem]]:
        """``posts.load_posts(config)``, cached by a scan of the folder's files."""
        with self._lock:
            scan = scan_posts(self.config.posts_dir)
            if scan != self._scan:
                from ..posts import load_posts

                with quiet_posts():
                    self._loaded = load_posts(self.config)
                self._scan = scan
            return self._loaded


# --------------------------------------------------------------------------- jobs


class JobBoard:
    """Republish jobs: each runs in a thread; its state is a JSON file any worker reads.

    A job file holds ``id``, ``force``, ``state`` (running, done, failed), ``started``,
    ``finished``, ``result`` (``republish_json``) and ``error`` (and ``refused``, true
    when the publish was refused to keep the live feeds).
    """

    def __init__(self, folder: Path, clock: Callable[[], datetime]) -> None:
        self.folder = folder
        self.clock = clock
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}

    def start(self, publisher: Publisher, force: bool) -> str:
        """Start a republish (or return the one this process is already running)."""
        with self._lock:
            for job_id, thread in self._threads.items():
                if thread.is_alive():
                    return job_id
            self._threads.clear()
            self._prune()
            job_id = secrets.token_hex(8)
            self._write(job_id, self._state(job_id, force, "running"))
            thread = threading.Thread(
                target=self._run,
                args=(job_id, publisher, force),
                name=f"syndicate-republish {job_id}",
            )
            self._threads[job_id] = thread
            thread.start()
            return job_id

    def wait(self, job_id: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a job of this process; True when it is over."""
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        found = self.get(job_id)
        return found is not None and found["state"] != "running"

    def join(self) -> None:
        """Wait for every job of this process (tests; shutdown)."""
        for thread in list(self._threads.values()):
            thread.join()

    def get(self, job_id: str) -> Json | None:
        """A job's state, or None for an unknown id."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        try:
            data = json.loads((self.folder / f"{job_id}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _state(self, job_id: str, force: bool, state: str, **more: Any) -> Json:
        return {
            "id": job_id,
            "force": force,
            "state": state,
            "started": iso(self.clock()),
            "finished": None,
            "result": None,
            "error": None,
            **more,
        }

    def _run(self, job_id: str, publisher: Publisher, force: bool) -> None:
        data = self.get(job_id) or self._state(job_id, force, "running")
        try:
            result = publisher.publish(force=force)
        except PublishRefused as exc:  # the posts' state, not a failure: one line
            log.error("dashboard: republish %s refused: %s", job_id, exc)
            data.update(state="failed", error=str(exc), refused=True)
        except Exception as exc:  # shown on the page; the thread must not die silently
            log.exception("dashboard: republish %s failed", job_id)
            # A short line: the error's own text may name the database, SQL or paths.
            data.update(state="failed", error=failure_message(exc))
        else:
            log.info(
                "dashboard: republish%s: %s changed, %s queued",
                " (force)" if force else "",
                counted(len(result.changed_feeds), "feed"),
                counted(result.queued, "notification"),
            )
            data.update(state="done", result=republish_json(result, publisher.config, force))
        data["finished"] = iso(self.clock())
        self._write(job_id, data)

    def _write(self, job_id: str, data: Json) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{job_id}.json"
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, target)  # a poll sees the old state or the new one, whole

    def _prune(self) -> None:
        cutoff = time.time() - JOB_KEEP.total_seconds()
        try:
            entries = list(self.folder.glob("*.json"))
        except OSError:
            return
        for entry in entries:
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                pass


# --------------------------------------------------------------------------- preview

# One dry run at a time in a web process: each costs a build's CPU, and an editor who
# clicks twice needs one answer.
_previewing = threading.Lock()


def run_preview(publisher: Publisher, force: bool = False) -> Json | None:
    """The dry run of a republish (``publisher.preview``) as JSON, with the publisher's
    config, clock and store (only read); None while another one of this process runs."""
    if not _previewing.acquire(blocking=False):
        return None
    try:
        from ..publisher.preview import preview_json, preview_publish, read_only_cache

        config = publisher.config
        assert publisher.store is not None  # EditorAPI.publisher() always has one
        cache = read_only_cache(config)
        done = preview_publish(config, publisher.clock, publisher.store, cache, force)
        data = preview_json(done)
    finally:
        _previewing.release()
    log.info(
        "dashboard: preview%s: %s would change, %s held",
        " (force)" if force else "",
        counted(len(data["feeds"]), "feed"),
        counted(len(data["held"]), "document"),
    )
    return data


# --------------------------------------------------------------------------- notifications


@dataclasses.dataclass(frozen=True)
class TargetRow:
    """A hub or ping server with its queue and its recent attempts."""

    kind: str
    target: str
    configured: bool
    pending: tuple[Notification, ...]
    failed: tuple[Notification, ...]
    attempts: tuple[Attempt, ...]
    refusal: TargetRefusal | None = None  # its latest refusal, if it ever refused one


def target_rows(
    config: Config,
    pending: Sequence[Notification],
    failed: Sequence[Notification],
    attempts: Sequence[Attempt],
    refusals: Sequence[TargetRefusal] = (),
) -> list[TargetRow]:
    """One row per target: configured ones first, then any the outbox still mentions."""
    latest: dict[tuple[str, str], TargetRefusal] = {(r.kind, r.target): r for r in refusals}
    keys: dict[tuple[str, str], bool] = {}
    for hub in config.websub.hubs:
        keys[("websub", hub)] = True
    for server in config.pings:
        keys[("ping", server)] = True
    for n in (*pending, *failed):
        keys.setdefault((n.kind, n.target), False)
    for a in attempts:
        keys.setdefault((a.kind, a.target), False)
    return [
        TargetRow(
            kind=kind,
            target=target,
            configured=configured,
            pending=tuple(n for n in pending if (n.kind, n.target) == (kind, target)),
            failed=tuple(n for n in failed if (n.kind, n.target) == (kind, target)),
            attempts=tuple(a for a in attempts if (a.kind, a.target) == (kind, target))[
                :ATTEMPTS_PER_TARGET
            ],
            refusal=latest.get((kind, target)),
        )
        for (kind, target), configured in keys.items()
    ]
