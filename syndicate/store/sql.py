"""Persistent state: ``SqlStore``, the ``Store`` Protocol on SQLAlchemy Core. Does database I/O.

What lives here: one row per published post (its entry id as first published, so ids
are minted once), one row per feed (a digest of its entries, so unchanged feeds are not
notified), one row per category or tag name ever published (its slug as first minted, so
a feed URL never passes to another name), the tombstones of deleted posts (RFC 6721),
the notification outbox, a log of delivery
attempts, the latest refusal of each hub or ping server, the last builds, the last
refused publish (until a build clears it) and the live tree's last generation number.

SQLite is the default (``sqlite:///syndicate.db``); any SQLAlchemy URL works, because
the tables (``schema``) use portable types only, and PostgreSQL is tested
(``postgresql+psycopg://user@host/db``). The store never reads the clock: every method
where time matters takes ``now``. Datetimes go in aware (any zone) and come back aware,
in UTC; they are stored as fixed-width ISO 8601 UTC strings, which sort like the
instants they name, so ``next_attempt_at <= now`` is a plain string comparison in SQL.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from ..errors import StoreBusy, StoreError
from . import (
    BUILDS_KEPT,
    NO_BUILD_MARK,
    Attempt,
    BuildMark,
    BuildRecord,
    FeedRecord,
    NewNotification,
    Notification,
    NotificationStatus,
    PostRecord,
    Refusal,
    SlugRecord,
    TargetRefusal,
    TombstoneRecord,
)
from .schema import (
    SCHEMA_VERSION,
    attempts_table,
    builds_table,
    feeds_table,
    live_tree_table,
    metadata,
    outbox_table,
    posts_table,
    refusals_table,
    schema_version_table,
    slugs_table,
    target_refusals_table,
    tombstones_table,
)

# The package's name: log lines keep naming the store as they did before it was one.
log = logging.getLogger("syndicate.store")

__all__ = ["SqlStore"]

# --------------------------------------------------------------------------- SqlStore

# SQLite waits this long for another process's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS: Final = 15_000
_WRITE: Final = "syndicate_write"
# PostgreSQL: every writing transaction first takes this transaction-level advisory lock
# (the key is b"syndicat" as a bigint), the counterpart of SQLite's BEGIN IMMEDIATE.
_PG_WRITE_LOCK: Final = sa.text("SELECT pg_advisory_xact_lock(8320803164087607668)")


def _is_busy(exc: sa.exc.OperationalError) -> bool:
    """Whether the database refused for a lock another process held (SQLite's "database
    is locked" or "busy"; PostgreSQL's lock_not_available), not for a fault of its own."""
    if getattr(exc.orig, "pgcode", None) == "55P03":
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _is_sqlite_memory(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _setup_sqlite(engine: Engine) -> None:
    """Make SQLite safe to share between the server and the CLI.

    WAL lets readers run while one process writes (with ``synchronous = NORMAL``, see
    below); the busy timeout makes a writer
    wait for the lock instead of failing. Transactions are begun by us (the
    SQLAlchemy recipe for the sqlite3 driver, whose own BEGIN handling skips
    SELECTs), and writes begin with ``BEGIN IMMEDIATE``: a deferred transaction that
    reads and then writes can fail at once with SQLITE_BUSY under WAL if another
    process wrote in between, and the busy timeout does not help there.
    """

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a crash of
            # the process loses nothing, a power cut may lose the last transactions, in
            # order (never one in the middle), so the store is only older, and never
            # corrupt. Older is safe: feed digests are saved after the notifications
            # they cause are queued, so a lost digest means the change is found again
            # and notified again (at least once), never missed. Saves an fsync (several
            # ms, far more on network disks) in each of a publish's transactions.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


R = TypeVar("R")


def _record(cls: type[R], row: sa.Row[Any]) -> R:
    """A record dataclass from a row whose columns carry the same names as its fields."""
    mapping = row._mapping
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: mapping[name] for name in names})


def _post(row: sa.Row[Any]) -> PostRecord:
    return _record(PostRecord, row)


def _feed(row: sa.Row[Any]) -> FeedRecord:
    return _record(FeedRecord, row)


def _slug(row: sa.Row[Any]) -> SlugRecord:
    return _record(SlugRecord, row)


def _name_key(name: str) -> str:
    # surrogatepass: as the slugs' own digests, whatever a name holds.
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _tombstone_key(key: tuple[str, str, str]) -> str:
    return hashlib.sha256("\x1f".join(key).encode("utf-8", "surrogatepass")).hexdigest()


def _notification(row: sa.Row[Any]) -> Notification:
    return _record(Notification, row)


def _attempt(row: sa.Row[Any]) -> Attempt:
    return _record(Attempt, row)


class SqlStore:
    """The ``Store`` on SQLAlchemy Core: one Engine, one connection per call.

    ``SqlStore("sqlite:///path/to/syndicate.db")`` creates the tables on first use and
    checks the schema version; use it as a context manager or call ``close()``.
    """

    def __init__(self, url: str | sa.URL, **engine_kwargs: Any) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"{url}: not a database URL: {exc}") from exc
        self.url = parsed.render_as_string(hide_password=True)
        if _is_sqlite_memory(parsed):
            # One shared connection, so every thread sees the same in-memory database.
            engine_kwargs.setdefault("poolclass", StaticPool)
            engine_kwargs.setdefault("connect_args", {"check_same_thread": False})
        if parsed.get_backend_name() == "postgresql":
            # Whatever the server's default_transaction_isolation (see ``_lock_writes``).
            engine_kwargs.setdefault("isolation_level", "READ COMMITTED")
        try:
            self._engine = sa.create_engine(parsed, **engine_kwargs)
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"{self.url}: cannot open store: {exc}") from exc
        if self._engine.dialect.name == "sqlite":
            _setup_sqlite(self._engine)
        # PostgreSQL runs read-then-write steps (``enqueue`` coalescing, ``due`` claiming,
        # ``_upsert``, creating the tables) that another connection could interleave
        # with: two pending rows for one key, one row claimed twice, a duplicate key.
        # Writers therefore queue on one advisory lock, and read committed isolation
        # makes each statement after the lock see what the previous writer committed.
        self._lock_writes = self._engine.dialect.name == "postgresql"
        try:
            self._open()
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The underlying Engine (for tests and maintenance tools)."""
        return self._engine

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        """One transaction; database errors become ``StoreError`` naming the URL."""
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if write and self._lock_writes:
                        conn.execute(_PG_WRITE_LOCK)
                    yield conn
        except sa.exc.OperationalError as exc:
            if _is_busy(exc):
                raise StoreBusy(f"{self.url}: {exc}") from exc
            raise StoreError(f"{self.url}: {exc}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    def _open(self) -> None:
        """Check the schema version, then create missing tables (first start)."""
        with self._tx(write=True) as conn:
            if sa.inspect(conn).has_table(schema_version_table.name):
                version = conn.scalar(
                    sa.select(schema_version_table.c.version).where(schema_version_table.c.id == 1)
                )
            else:
                version = None
            if version is not None and version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.url}: database schema version {version} is newer than this "
                    f"syndicate supports ({SCHEMA_VERSION}); upgrade syndicate"
                )
            # Creates the tables a database lacks: all of them at first, the ones added
            # since on an older database (version 2 added ``slugs``, empty at first: the
            # publisher takes the slugs the live tree serves).
            metadata.create_all(conn)
            if version is None:
                conn.execute(schema_version_table.insert().values(id=1, version=SCHEMA_VERSION))
                log.info("%s: created store (schema version %d)", self.url, SCHEMA_VERSION)
            elif version < SCHEMA_VERSION:
                conn.execute(
                    schema_version_table.update()
                    .where(schema_version_table.c.id == 1)
                    .values(version=SCHEMA_VERSION)
                )
                log.info(
                    "%s: upgraded store from schema version %d to %d",
                    self.url,
                    version,
                    SCHEMA_VERSION,
                )

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        with self._tx() as conn:
            version = conn.scalar(sa.select(schema_version_table.c.version))
        if version is None:
            raise StoreError(f"{self.url}: no schema version recorded")
        return int(version)

    # ------------------------------------------------------------------ posts

    def posts(self) -> dict[str, PostRecord]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(posts_table).order_by(posts_table.c.path))
            return {row.path: _post(row) for row in rows}

    def find_post(self, entry_id: str) -> PostRecord | None:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(posts_table)
                .where(posts_table.c.entry_id == entry_id)
                .order_by(posts_table.c.path)
                .limit(1)
            ).first()
            return _post(row) if row else None

    def upsert_post(self, record: PostRecord) -> None:
        self.save_posts([record])

    def delete_post(self, path: str) -> bool:
        return self._delete(posts_table, path)

    def save_posts(self, upsert: Iterable[PostRecord], delete: Iterable[str] = ()) -> None:
        self._save(posts_table, upsert, delete)

    def _delete(self, table: sa.Table, path: str) -> bool:
        with self._tx(write=True) as conn:
            result = conn.execute(table.delete().where(table.c.path == path))
            return result.rowcount > 0

    def _save(
        self, table: sa.Table, upsert: Iterable[PostRecord | FeedRecord], delete: Iterable[str]
    ) -> None:
        """Deletes, then upserts, in one transaction (a renamed post takes its id along)."""
        with self._tx(write=True) as conn:
            for path in delete:
                conn.execute(table.delete().where(table.c.path == path))
            for record in upsert:
                _upsert(conn, table, dataclasses.asdict(record))

    # ------------------------------------------------------------------ feeds

    def feeds(self) -> dict[str, FeedRecord]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(feeds_table).order_by(feeds_table.c.path))
            return {row.path: _feed(row) for row in rows}

    def upsert_feed(self, record: FeedRecord) -> None:
        self.save_feeds([record])

    def delete_feed(self, path: str) -> bool:
        return self._delete(feeds_table, path)

    def save_feeds(self, upsert: Iterable[FeedRecord], delete: Iterable[str] = ()) -> None:
        self._save(feeds_table, upsert, delete)

    # ------------------------------------------------------------------ slugs

    def slugs(self) -> dict[tuple[str, str], SlugRecord]:
        t = slugs_table
        with self._tx() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.kind, t.c.slug))
            return {(row.kind, row.name): _slug(row) for row in rows}

    def save_slugs(
        self, upsert: Iterable[SlugRecord], delete: Iterable[tuple[str, str]] = ()
    ) -> None:
        t = slugs_table
        with self._tx(write=True) as conn:
            for kind, name in delete:
                conn.execute(t.delete().where(t.c.kind == kind, t.c.name_key == _name_key(name)))
            rows = [{**dataclasses.asdict(r), "name_key": _name_key(r.name)} for r in upsert]
            if not rows:
                return
            # A first publish records every name at once: the new rows go in one
            # executemany (a statement per row is slow on SQLite: bench/RESULTS.md).
            present = {
                (r.kind, r.name_key) for r in conn.execute(sa.select(t.c.kind, t.c.name_key))
            }
            new = [row for row in rows if (row["kind"], row["name_key"]) not in present]
            for row in rows:
                if (row["kind"], row["name_key"]) in present:
                    conn.execute(
                        t.update()
                        .where(t.c.kind == row["kind"], t.c.name_key == row["name_key"])
                        .values(**row)
                    )
            if new:
                conn.execute(t.insert(), new)

    # ------------------------------------------------------------------ tombstones

    def tombstones(self) -> list[TombstoneRecord]:
        t = tombstones_table
        with self._tx() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.key))
            return [
                TombstoneRecord(row.kind, row.name, row.entry_id, row.deleted_at) for row in rows
            ]

    def save_tombstones(
        self, upsert: Iterable[TombstoneRecord], delete: Iterable[tuple[str, str, str]] = ()
    ) -> None:
        t = tombstones_table
        rows = {
            _tombstone_key(r.key): {
                "key": _tombstone_key(r.key),
                "kind": r.kind,
                "name": r.name,
                "entry_id": r.entry_id,
                "deleted_at": r.when,
            }
            for r in upsert
        }
        gone = [_tombstone_key(key) for key in delete]
        with self._tx(write=True) as conn:
            # An upsert is a delete then an insert: the row holds nothing else to keep.
            keys = [*gone, *rows]
            for start in range(0, len(keys), 500):  # within SQLite's bound parameters
                conn.execute(t.delete().where(t.c.key.in_(keys[start : start + 500])))
            if rows:
                conn.execute(t.insert(), list(rows.values()))

    # ------------------------------------------------------------------ outbox

    def enqueue(self, items: Iterable[NewNotification], now: datetime) -> list[Notification]:
        t = outbox_table
        out: list[Notification] = []
        seen: set[NewNotification] = set()
        with self._tx(write=True) as conn:
            for item in items:
                if item in seen:
                    continue
                seen.add(item)
                conn.execute(
                    t.delete().where(
                        t.c.status == "failed",
                        t.c.kind == item.kind,
                        t.c.target == item.target,
                        t.c.feed_url == item.feed_url,
                    )
                )
                row = conn.execute(
                    sa.select(t)
                    .where(
                        t.c.status == "pending",
                        t.c.kind == item.kind,
                        t.c.target == item.target,
                        t.c.feed_url == item.feed_url,
                    )
                    .order_by(t.c.id)
                    .limit(1)
                ).first()
                if row is None:
                    key = conn.execute(
                        t.insert().values(
                            kind=item.kind,
                            target=item.target,
                            feed_url=item.feed_url,
                            created_at=now,
                            next_attempt_at=now,
                            not_before=None,
                            attempts=0,
                            status="pending",
                            last_error=None,
                            revision=0,
                        )
                    ).inserted_primary_key
                    assert key is not None
                    new_id = key[0]
                else:
                    new_id = row.id
                    _hurried(conn, _notification(row), now)
                fresh = conn.execute(sa.select(t).where(t.c.id == new_id)).one()
                out.append(_notification(fresh))
        return out

    def due(
        self, now: datetime, limit: int = 100, claim_until: datetime | None = None
    ) -> list[Notification]:
        t = outbox_table
        with self._tx(write=claim_until is not None) as conn:
            rows = conn.execute(
                sa.select(t)
                .where(t.c.status == "pending", t.c.next_attempt_at <= now)
                .order_by(t.c.next_attempt_at, t.c.id)
                .limit(limit)
            ).all()
            found = [_notification(row) for row in rows]
            if claim_until is not None and found:
                conn.execute(
                    t.update()
                    .where(t.c.id.in_([n.id for n in found]))
                    .values(next_attempt_at=claim_until)
                )
            return found

    def get_notification(self, id: int) -> Notification | None:
        with self._tx() as conn:
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.id == id)).first()
            return _notification(row) if row else None

    def mark_delivered(self, id: int, revision: int | None = None) -> bool:
        with self._tx(write=True) as conn:
            return _remove_sent(conn, id, revision)

    def reschedule(
        self,
        id: int,
        next_attempt_at: datetime,
        attempts: int,
        error: str | None,
        not_before: datetime | None = None,
    ) -> None:
        t = outbox_table
        with self._tx(write=True) as conn:
            conn.execute(
                t.update()
                .where(t.c.id == id)
                .values(
                    next_attempt_at=next_attempt_at,
                    attempts=attempts,
                    last_error=error,
                    not_before=not_before,
                )
            )

    def mark_refused(self, id: int, revision: int | None, refusal: TargetRefusal) -> None:
        t = target_refusals_table
        with self._tx(write=True) as conn:
            _remove_sent(conn, id, revision)
            row = conn.execute(
                sa.select(t)
                .where(t.c.kind == refusal.kind, t.c.target == refusal.target)
                .order_by(t.c.id)
                .limit(1)
            ).first()
            values = {
                "kind": refusal.kind,
                "target": refusal.target,
                "feed_url": refusal.feed_url,
                "time": refusal.time,
                "http_status": refusal.http_status,
                "message": refusal.message,
            }
            if row is None:
                conn.execute(
                    t.insert().values(
                        **values,
                        first_time=refusal.first_time or refusal.time,
                        count=refusal.count,
                    )
                )
            else:
                conn.execute(
                    t.update()
                    .where(t.c.id == row.id)
                    .values(**values, count=t.c.count + refusal.count)
                )

    def target_refusals(self) -> list[TargetRefusal]:
        t = target_refusals_table
        with self._tx() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.time.desc(), t.c.id.desc()))
            return [_record(TargetRefusal, row) for row in rows]

    def mark_failed(self, id: int, reason: str, attempts: int | None = None) -> None:
        t = outbox_table
        values: dict[str, Any] = {"status": "failed", "last_error": reason, "not_before": None}
        if attempts is not None:
            values["attempts"] = attempts
        with self._tx(write=True) as conn:
            conn.execute(t.update().where(t.c.id == id).values(**values))

    def retry(self, id: int, now: datetime) -> Notification | None:
        t = outbox_table
        with self._tx(write=True) as conn:
            row = conn.execute(sa.select(t).where(t.c.id == id, t.c.status == "failed")).first()
            if row is None:
                return None
            twin = conn.execute(
                sa.select(t)
                .where(
                    t.c.status == "pending",
                    t.c.kind == row.kind,
                    t.c.target == row.target,
                    t.c.feed_url == row.feed_url,
                )
                .limit(1)
            ).first()
            if twin is not None:
                # Keep the one-pending-per-key rule: the failed row merges into it.
                conn.execute(t.delete().where(t.c.id == id))
                _hurried(conn, _notification(twin), now)
                id = twin.id
            else:
                conn.execute(
                    t.update()
                    .where(t.c.id == id)
                    .values(status="pending", attempts=0, next_attempt_at=now, not_before=None)
                )
            return _notification(conn.execute(sa.select(t).where(t.c.id == id)).one())

    def _list(self, status: NotificationStatus) -> list[Notification]:
        t = outbox_table
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.status == status).order_by(t.c.created_at, t.c.id)
            )
            return [_notification(row) for row in rows]

    def pending(self) -> list[Notification]:
        return self._list("pending")

    def failed(self) -> list[Notification]:
        return self._list("failed")

    def next_due_time(self) -> datetime | None:
        t = outbox_table
        with self._tx() as conn:
            value: datetime | None = conn.scalar(
                sa.select(sa.func.min(t.c.next_attempt_at)).where(t.c.status == "pending")
            )
            return value

    # ------------------------------------------------------------------ attempts

    def record_attempt(self, attempt: Attempt) -> None:
        values = dataclasses.asdict(attempt)
        del values["id"]
        with self._tx(write=True) as conn:
            conn.execute(attempts_table.insert().values(**values))

    def recent_attempts(self, limit: int = 50) -> list[Attempt]:
        t = attempts_table
        with self._tx() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.time.desc(), t.c.id.desc()).limit(limit))
            return [_attempt(row) for row in rows]

    def prune_attempts(self, before: datetime) -> int:
        with self._tx(write=True) as conn:
            result = conn.execute(attempts_table.delete().where(attempts_table.c.time < before))
            # A target that has refused nothing since is no longer news either.
            refusals = target_refusals_table
            conn.execute(refusals.delete().where(refusals.c.time < before))
            return result.rowcount

    # ------------------------------------------------------------------ builds

    def record_build(self, build: BuildRecord) -> None:
        t = builds_table
        with self._tx(write=True) as conn:
            conn.execute(
                t.insert().values(
                    time=build.time,
                    duration=build.duration,
                    post_count=build.post_count,
                    feed_count=build.feed_count,
                    errors=json.dumps(list(build.errors)),
                    changed_feeds=json.dumps(list(build.changed_feeds)),
                )
            )
            # The id of the newest build that falls off the end, found first: MySQL
            # refuses LIMIT inside an IN subquery.
            cutoff = conn.scalar(
                sa.select(t.c.id).order_by(t.c.id.desc()).offset(BUILDS_KEPT).limit(1)
            )
            if cutoff is not None:
                conn.execute(t.delete().where(t.c.id <= cutoff))
            # A publish went through: whatever was refused before is over.
            conn.execute(refusals_table.delete())

    def last_build(self) -> BuildRecord | None:
        t = builds_table
        with self._tx() as conn:
            row = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return BuildRecord(
            time=row.time,
            duration=row.duration,
            post_count=row.post_count,
            feed_count=row.feed_count,
            errors=tuple(json.loads(row.errors)),
            changed_feeds=tuple(json.loads(row.changed_feeds)),
        )

    def build_mark(self) -> BuildMark:
        t = builds_table
        # The time as stored, not as a datetime: what ``store.peek`` reads is the text.
        stored = sa.type_coerce(t.c.time, sa.String)
        with self._tx() as conn:
            row = conn.execute(sa.select(t.c.id, stored).order_by(t.c.id.desc()).limit(1)).first()
        return (int(row[0]), str(row[1])) if row is not None else NO_BUILD_MARK

    # ------------------------------------------------------------------ refusals

    def record_refusal(self, refusal: Refusal) -> None:
        with self._tx(write=True) as conn:
            conn.execute(refusals_table.delete())
            conn.execute(
                refusals_table.insert().values(
                    time=refusal.time, reason=refusal.reason, message=refusal.message
                )
            )

    def last_refusal(self) -> Refusal | None:
        t = refusals_table
        with self._tx() as conn:
            row = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(1)).first()
        return _record(Refusal, row) if row is not None else None

    # ------------------------------------------------------------------ live tree

    def next_generation(self, after: int = 0) -> int:
        t = live_tree_table
        with self._tx(write=True) as conn:
            kept = conn.scalar(sa.select(t.c.generation).where(t.c.id == 1))
            generation = max(after, kept or 0) + 1
            if kept is None:
                conn.execute(t.insert().values(id=1, generation=generation))
            else:
                conn.execute(t.update().where(t.c.id == 1).values(generation=generation))
        return generation


def _hurried(conn: Connection, pending: Notification, now: datetime) -> None:
    """A pending notification that a new change joins: its revision moves on, and it is
    attempted early, but not before the target asked (429/503 Retry-After)."""
    t = outbox_table
    next_at = min(pending.next_attempt_at, now)
    if pending.not_before is not None:
        next_at = max(next_at, pending.not_before)
    conn.execute(
        t.update()
        .where(t.c.id == pending.id)
        .values(next_attempt_at=next_at, revision=t.c.revision + 1)
    )


def _remove_sent(conn: Connection, id: int, revision: int | None) -> bool:
    """Remove a notification its target answered (``mark_delivered``, ``mark_refused``)."""
    t = outbox_table
    where = [t.c.id == id]
    if revision is not None:
        where.append(t.c.revision == revision)
    if conn.execute(t.delete().where(*where)).rowcount > 0:
        return True
    # A later change was coalesced into this row while the attempt was in
    # flight: the target may have fetched the feed before that change, so
    # the row stays pending (enqueue already made it due) as a fresh one.
    conn.execute(
        t.update()
        .where(t.c.id == id)
        .values(attempts=0, last_error=None, not_before=None, status="pending")
    )
    return False


def _upsert(conn: Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """Portable upsert by primary key: UPDATE, and INSERT if nothing was there."""
    key = table.c.path
    result = conn.execute(table.update().where(key == values["path"]).values(**values))
    if result.rowcount == 0:
        conn.execute(table.insert().values(**values))
