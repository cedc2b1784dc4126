"""The store's face: what it keeps, as plain values (the records), and the ``Store``
Protocol with its contract. No I/O.

Standard library only, so that what uses records (a build without a store, the
notifier's types) does not import SQLAlchemy; ``store.sql.SqlStore`` implements the
Protocol (import it from there: this module never imports it, so the package has no
import circle).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Final, Literal, Protocol

Kind = Literal["websub", "ping"]
NotificationStatus = Literal["pending", "failed"]
# "refused": the target answered and said no (a 4xx, an XML-RPC fault, flerror): final.
AttemptStatus = Literal["ok", "retry", "failed", "refused"]

#: How many build records are kept (the status page shows the last one).
BUILDS_KEPT: Final = 50

BuildMark = tuple[int, str]
"""The last recorded build as ``(id, time as stored)``: ``Store.build_mark()``."""
#: The mark of a store with no build recorded (or that cannot be read): never the mark of
#: a recorded build, whose id is at least 1.
NO_BUILD_MARK: Final[BuildMark] = (0, "")


# --------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class PostRecord:
    """What the store remembers about one published post, keyed by its path."""

    path: str  # relative to posts_dir, with forward slashes
    digest: str  # digest of everything that shows in a feed entry
    entry_id: str  # the Atom id / RSS guid as first published: minted once, kept on rename
    first_seen: datetime
    last_changed: datetime  # when ``digest`` last changed; the entry's Atom ``updated``
    front_id: str | None = None  # ``id`` from the front matter, if any
    body_digest: str | None = None  # digest of the body alone, to recognise a renamed file


@dataclasses.dataclass(frozen=True)
class FeedRecord:
    """What the store remembers about one feed, keyed by its URL path."""

    path: str  # URL path, e.g. "/feed.atom"
    digest: str  # digest of the feed's content, ignoring build timestamps
    last_changed: datetime
    entry_count: int


@dataclasses.dataclass(frozen=True)
class SlugRecord:
    """The slug a category or tag name was given: minted once, kept while it has a feed.

    ``released_at`` is None while the name has a feed, else when it lost it; the name
    keeps the slug (no other name gets it) for ``feeds.SLUG_GRACE`` after that, and gets
    it back when it returns, unless another name has taken it since.
    """

    kind: str  # "category", "tag" or "author"
    name: str
    slug: str
    released_at: datetime | None = None


@dataclasses.dataclass(frozen=True)
class TombstoneRecord:
    """A post that left the feeds (file deleted, or no longer published): an RFC 6721
    ``at:deleted-entry`` in the Atom feed (kind, name) listed it in, for
    ``feeds.tombstone_days`` after ``when``.

    ``when`` is when a publish first saw it gone, kept so that every later build writes
    the same bytes; the record goes when the window ends or the entry id is back.
    """

    kind: str  # "site", "category", "tag" or "author"
    name: str  # "" for the site feed
    entry_id: str
    when: datetime

    @property
    def key(self) -> tuple[str, str, str]:
        """What it is keyed by: (kind, name, entry id)."""
        return (self.kind, self.name, self.entry_id)


@dataclasses.dataclass(frozen=True)
class NewNotification:
    """A notification to enqueue: tell ``target`` that ``feed_url`` changed."""

    kind: Kind
    target: str  # hub URL, or XML-RPC ping server URL
    feed_url: str  # absolute URL of the feed (the WebSub topic)


@dataclasses.dataclass(frozen=True)
class Notification:
    """A row of the outbox: pending (waiting for ``next_attempt_at``) or failed."""

    id: int
    kind: Kind
    target: str
    feed_url: str
    created_at: datetime
    next_attempt_at: datetime
    attempts: int  # attempts made so far
    status: NotificationStatus
    last_error: str | None = None
    # Bumped each time a later change is coalesced into this row; ``mark_delivered``
    # only removes the row if nothing was coalesced while the attempt was in flight.
    revision: int = 0
    # The earliest time the target allows another attempt (from Retry-After);
    # coalescing never moves ``next_attempt_at`` before it.
    not_before: datetime | None = None


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One delivery attempt, as recorded in the attempt log."""

    kind: Kind
    target: str
    feed_url: str
    time: datetime
    status: AttemptStatus
    attempt: int = 1  # 1 for the first attempt of a notification
    http_status: int | None = None
    latency_ms: int = 0
    error: str | None = None  # HTTP reason, XML-RPC fault, flerror message, transport error
    id: int | None = None  # set when read back from the store


@dataclasses.dataclass(frozen=True)
class TargetRefusal:
    """The latest refusal from one hub or ping server, for ``status``: one per target.

    A hub that answers a 4xx (the Go hub's ``400 subscription not found`` for a topic
    nobody subscribes to) or a ping server that answers a fault or ``flerror`` refused
    the notification: it is final, not retried, and not a delivery failure. Kept once
    per target, so that its steady refusals (one per changed feed per edit) do not
    bury the notifications that could not be delivered.
    """

    kind: Kind
    target: str
    feed_url: str  # the feed of the latest refused notification
    time: datetime  # when the latest refusal was answered
    message: str  # the target's answer: "HTTP 400 Bad Request: subscription not found"
    http_status: int | None = None
    count: int = 1  # refusals since ``first_time``
    first_time: datetime | None = None  # the first refusal of this target (kept on upsert)


@dataclasses.dataclass(frozen=True)
class BuildRecord:
    """Summary of one build, for ``syndicate status`` and ``GET /api/status``."""

    time: datetime  # when the build started
    duration: float  # seconds
    post_count: int
    feed_count: int
    errors: tuple[str, ...] = ()  # "path: problem" lines
    changed_feeds: tuple[str, ...] = ()  # URL paths of feeds whose digest changed


@dataclasses.dataclass(frozen=True)
class Refusal:
    """A publish refused to keep the live feeds (``errors.PublishRefused``), for ``status``."""

    time: datetime  # when the refused publish started
    reason: str  # PublishRefused.reason: "posts_dir" or "removal"
    message: str  # the one line the refusal was logged with


# --------------------------------------------------------------------------- protocol


class Store(Protocol):
    """Persistent state of one syndicate deployment.

    Contract, for every implementation:

    - Each method is one transaction: it either happens entirely or not at all, and
      a failure of the underlying database is raised as ``StoreError``.
    - Methods may be called from several threads at once, and several processes (the
      server and the CLI) may use the same database at once. Writing transactions
      are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), so
      the read-then-write steps below (coalescing, claiming, upserts, creating the
      tables) hold across processes.
    - The store never reads the clock. Datetimes passed in must be aware; datetimes
      returned are aware and in UTC.
    - Posts are keyed by path, feeds by URL path, slugs by (kind, name) and tombstones
      by (kind, name, entry id); ``save_*``
      applies deletes, then upserts, in one transaction (so a renamed post can move its
      entry id, and a slug can pass from a name long gone to a new one).
    - Outbox: ``enqueue`` writes notifications before any network I/O is attempted.
      There is at most one *pending* notification per ``(kind, target, feed_url)``:
      enqueueing one that is already pending keeps the existing row, bumps its
      ``revision`` and sets ``next_attempt_at`` to ``min(existing, now)`` (but never
      before ``not_before``). A notification leaves the outbox only through
      ``mark_delivered`` (success) or ``mark_refused`` (the target said no, for good),
      or stays as ``failed`` until ``retry``: at-least-once.
    - ``due(now, limit)`` returns pending notifications with ``next_attempt_at <= now``,
      most overdue first. With ``claim_until``, their ``next_attempt_at`` is moved
      there in the same transaction, so that another process delivering from the same
      outbox does not send them too; a crash leaves them due again at ``claim_until``.
    """

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    # posts
    def posts(self) -> dict[str, PostRecord]:
        """All post records, keyed by path."""
        ...

    def find_post(self, entry_id: str) -> PostRecord | None:
        """The post published with ``entry_id``, if any (the first by path)."""
        ...

    def upsert_post(self, record: PostRecord) -> None:
        """Insert or replace the record with ``record.path``."""

    def delete_post(self, path: str) -> bool:
        """Forget a post; True if it was there."""
        ...

    def save_posts(self, upsert: Iterable[PostRecord], delete: Iterable[str] = ()) -> None:
        """Delete the paths in ``delete``, then upsert ``upsert``, in one transaction."""

    # feeds
    def feeds(self) -> dict[str, FeedRecord]:
        """All feed records, keyed by URL path."""
        ...

    def upsert_feed(self, record: FeedRecord) -> None:
        """Insert or replace the record with ``record.path``."""

    def delete_feed(self, path: str) -> bool:
        """Forget a feed; True if it was there."""
        ...

    def save_feeds(self, upsert: Iterable[FeedRecord], delete: Iterable[str] = ()) -> None:
        """Delete the paths in ``delete``, then upsert ``upsert``, in one transaction."""

    # slugs
    def slugs(self) -> dict[tuple[str, str], SlugRecord]:
        """Every slug record, keyed by (kind, name)."""
        ...

    def save_slugs(
        self, upsert: Iterable[SlugRecord], delete: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Delete the (kind, name) keys in ``delete``, then upsert ``upsert``, in one
        transaction; a slug is held by one name of a kind at a time."""

    # tombstones
    def tombstones(self) -> list[TombstoneRecord]:
        """Every tombstone record (deleted posts, by the feed that listed them)."""
        ...

    def save_tombstones(
        self, upsert: Iterable[TombstoneRecord], delete: Iterable[tuple[str, str, str]] = ()
    ) -> None:
        """Delete the (kind, name, entry id) keys in ``delete``, then upsert ``upsert``,
        in one transaction."""

    # outbox
    def enqueue(self, items: Iterable[NewNotification], now: datetime) -> list[Notification]:
        """Add notifications, coalescing with pending ones; return the resulting rows.

        A new notification supersedes the failed ones of the same kind, target and feed
        (they are removed): it tells the target of the feed as it is now, which covers
        what they were about, so a target that stays down keeps one failed row per feed,
        not one per change."""
        ...

    def due(
        self, now: datetime, limit: int = 100, claim_until: datetime | None = None
    ) -> list[Notification]:
        """Pending notifications due at ``now``, most overdue first (see class doc)."""
        ...

    def get_notification(self, id: int) -> Notification | None:
        """One outbox row by id."""
        ...

    def mark_delivered(self, id: int, revision: int | None = None) -> bool:
        """Remove a delivered notification; if ``revision`` no longer matches (a later
        change was coalesced meanwhile) keep it pending with attempts reset, and
        return False."""
        ...

    def reschedule(
        self,
        id: int,
        next_attempt_at: datetime,
        attempts: int,
        error: str | None,
        not_before: datetime | None = None,
    ) -> None:
        """Record a failed attempt that will be retried at ``next_attempt_at``."""

    def mark_failed(self, id: int, reason: str, attempts: int | None = None) -> None:
        """Give up on a notification: it stays in the outbox as failed, with ``reason``."""

    def mark_refused(self, id: int, revision: int | None, refusal: TargetRefusal) -> None:
        """The target refused the notification: remove it as ``mark_delivered`` does (kept
        pending if a later change was coalesced meanwhile) and record ``refusal`` as its
        target's latest, in one transaction (``count`` grows, ``first_time`` is kept)."""

    def target_refusals(self) -> list[TargetRefusal]:
        """The latest refusal of each target that ever refused one, newest first."""
        ...

    def retry(self, id: int, now: datetime) -> Notification | None:
        """Put a failed notification back to pending, due at ``now``; None if not failed."""
        ...

    def pending(self) -> list[Notification]:
        """Pending notifications, oldest first."""
        ...

    def failed(self) -> list[Notification]:
        """Failed notifications, oldest first."""
        ...

    def next_due_time(self) -> datetime | None:
        """The earliest ``next_attempt_at`` of a pending notification (the scheduler's
        wake-up time), or None when nothing is pending."""
        ...

    # attempts
    def record_attempt(self, attempt: Attempt) -> None:
        """Append to the attempt log."""

    def recent_attempts(self, limit: int = 50) -> list[Attempt]:
        """The last ``limit`` attempts, newest first."""
        ...

    def prune_attempts(self, before: datetime) -> int:
        """Delete attempts older than ``before``, and target refusals last seen before
        then; return how many attempts."""
        ...

    # builds
    def record_build(self, build: BuildRecord) -> None:
        """Remember a build (the last ``BUILDS_KEPT`` are kept); it clears the refusal."""

    def last_build(self) -> BuildRecord | None:
        """The most recent build, if any."""
        ...

    def build_mark(self) -> BuildMark:
        """The mark of the most recent build, ``NO_BUILD_MARK`` if none: every
        ``record_build`` gives a new one, and another database another one (so the
        publish stamp sees another publish, or another store). A reader without this
        class may compute it from the ``builds`` table (``store.peek``): the same value."""
        ...

    # refusals
    def record_refusal(self, refusal: Refusal) -> None:
        """Remember a refused publish, in place of any refusal before it."""

    def last_refusal(self) -> Refusal | None:
        """The refusal recorded since the last build, if any."""
        ...

    # live tree
    def next_generation(self, after: int = 0) -> int:
        """A generation number for the live tree's next manifest, kept: greater than
        ``after`` (the generation of the manifest on disk, 0 if none) and than every
        number given before, so a tree removed and written again never goes back."""
        ...
