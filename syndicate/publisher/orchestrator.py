"""Publisher: the orchestrator. Reads posts, builds the Site, writes it out. Does I/O.

``Publisher.build()`` reads the posts (``reading``) then runs the pure
``feeds.build_site`` with ``now`` from the injected clock, and logs one line per post
problem plus a summary. ``Publisher.publish()`` is the stateful path used by the service,
``republish`` and ``build``: entry ids are taken from the store (``ids``: minted once,
kept when a file is renamed), and so are the slugs of categories and tags (a feed URL
never passes to another name), an entry's ``updated`` moves when its content changes
(unless the front matter says when it last changed), changed feeds are found by digest
(``changes``), written to ``output_dir`` with a manifest that web workers reload
(``site.manifest``), and notifications for them are queued in the outbox before any
network I/O. A finished publish leaves a ``stamp``.
``Publisher.write_static()`` writes a ``Site`` as a static tree swapped in at once
(``site.files``); ``Publisher.build_static()`` (the ``build`` command) builds and writes
in one pass, writing each document as soon as it is made.
The cache keeps posts without their bodies once digested (``posts.without_body``) and
reads a body from its file when it renders the post; a post whose file changed before
its body was needed again makes the publish or build run once more.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import math
import threading
import time
import typing
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .. import counted, feeds
from ..config import Config, fingerprint, sqlite_file, state_dir
from ..errors import (
    LiveTreeChanged,
    PostChanged,
    PublishError,
    PublishRefused,
    StoreError,
)
from ..feeds import Document, Site, absolute_url
from ..outdir import claim_live, static_target
from ..posts import Post, PostProblem, walk
from ..site.files import StaticTree
from ..site.manifest import (
    LiveTree,
    Packer,
    file_path,
    load_live,
    manifest_identity,
    stored_site,
    write_live,
)
from ..store import BuildRecord, FeedRecord, PostRecord, Refusal, Store
from . import gate, stamp
from .cache import PostCache
from .changes import (
    FeedChanges,
    diff_feeds,
    log_slug_changes,
    renumbered_ids,
    slug_changes,
    tombstone_changes,
    with_live_slugs,
)
from .ids import (
    IdPlan,
    Pipe,
    SettleMemo,
    check_removals,
    reconcile_ids,
    settle_touched,
)
from .reading import PostReader
from .redirect_map import add_redirect_map
from .report import BuildResult, PublishResult, waiting_posts
from .sources import CachedEntries, HandedOn

if typing.TYPE_CHECKING:
    # Imported where an outbox is made (open_publisher): a build never needs the HTTP
    # clients (requests, xmlrpc), whose import is a noticeable part of its start. Likewise
    # SqlStore, where a store is opened: a build without one never imports SQLAlchemy.
    from ..notify import Outbox
    from ..store.sql import SqlStore

# The name the log lines have always had (``syndicate.publisher``), not the module's.
log = logging.getLogger("syndicate.publisher")

Clock = Callable[[], datetime]
_T = typing.TypeVar("_T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# A running service writes its post cache at most this often (and when it stops).
CACHE_SAVE_INTERVAL = 60.0


class Publisher:
    """Builds the Site from the posts and writes it out; the clock is a parameter."""

    def __init__(
        self,
        config: Config,
        clock: Clock = _utcnow,
        store: Store | None = None,
        outbox: Outbox | None = None,
        cache: PostCache | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.outbox = outbox
        self.cache = cache
        self._site: Site | None = None  # the last Site built, reused feed by feed
        self._plan: feeds.PlanState | None = None  # how its feeds were planned, if here
        self._reader = PostReader(config, cache)  # the posts, through the cache
        # (time, duration) of the build this process recorded, and the post, feed and slug
        # rows after it.
        self._records: (
            tuple[datetime, float, dict[str, PostRecord], dict[str, FeedRecord], feeds.SlugRecords]
            | None
        ) = None
        self.last: PublishResult | None = None
        self._lock = threading.Lock()
        self._settled: SettleMemo = {}  # how each post's entry id was last settled
        self._pipe: Pipe | None = None  # the posts as last settled, for _settle_named
        self._live = LiveTree()  # the manifest this publisher last wrote
        # URL path -> (document, digest of its body), so unchanged feeds are not hashed.
        self._digested: dict[str, tuple[Document, str]] = {}
        # The last publish, until it is stamped (``_write_stamp``).
        self._stamped: PublishResult | None = None
        self._stamp_at = -math.inf  # time.monotonic() of the last stamp written

    def _rows(
        self, store: Store
    ) -> tuple[Mapping[str, PostRecord], Mapping[str, FeedRecord], feeds.SlugRecords]:
        """The store's post, feed and slug rows; from memory when this process wrote the
        last build (nobody else has written since)."""
        if self._records is not None:
            last = store.last_build()
            if last is not None and (last.time, last.duration) == self._records[:2]:
                return self._records[2], self._records[3], self._records[4]
        return store.posts(), store.feeds(), store.slugs()

    def _settle_named(
        self, records: Mapping[str, PostRecord], now: datetime
    ) -> tuple[list[Post], list[PostProblem], IdPlan, Collection[str]] | None:
        """Load and settle only the files named as changed, from the posts as last settled.

        This is what ``PostReader.load`` and ``keep_last_good`` and ``reconcile_ids`` give for
        the same files, at a cost that does not grow with the number of posts; None
        (do it the full way) whenever anything those steps arbitrate is involved (see
        ``ids.settle_touched``).
        """
        pipe = self._pipe
        if pipe is None or self.cache is None or self._reader.files is None:
            return None
        touched = self._reader.read_named()
        if touched is None:
            return None
        done = settle_touched(pipe, touched, records, now, self.cache.digests)
        if done is None:
            return None
        plan, problems = done
        self.cache.remember_digests(plan.digests)
        for relpath, (post, _) in touched.items():
            if post is None:
                self._reader.last_good.pop(relpath, None)
            else:
                self._reader.last_good[relpath] = post
        return list(pipe.collected.values()), problems, plan, list(touched)

    def _reconcile(
        self,
        loaded: Iterable[Post],
        records: Mapping[str, PostRecord],
        now: datetime,
        memo: SettleMemo | None = None,
    ) -> IdPlan:
        """``reconcile_ids`` with the post digests the cache keeps between runs."""
        cache = self.cache
        plan = reconcile_ids(loaded, records, now, memo, cache.digests if cache else None)
        if cache is not None:
            cache.remember_digests(plan.digests)
        return plan

    def close(self) -> None:
        """Write what is pending (the cache, the stamp) and close the store."""
        self.save()
        if self.store is not None:
            self.store.close()

    def _build_site(
        self,
        settled: Iterable[Post],
        now: datetime,
        previous: feeds.Built | None,
        save_after: float | None = 0.0,
        changed: Mapping[str, Post | None] | None = None,
        keep: Callable[[str, Document], Document] | None = None,
        once: bool = False,
        planned: Callable[[list[str]], None] | None = None,
        slugs: feeds.SlugRecords | None = None,
        tombstones: feeds.Tombstones | None = None,
    ) -> feeds.Built:
        cache = self.cache
        built = feeds.build_site(
            settled,
            self.config,
            now,
            source=CachedEntries(cache) if cache is not None else None,
            previous=previous,
            changed=changed,
            slugs=slugs,
            sink=HandedOn(keep, planned) if keep is not None or planned is not None else None,
            once=once,
            tombstones=tombstones,
        )
        if cache is not None and save_after is not None:
            cache.save(max_age=save_after)
        return built

    def _can_make_again(self, post: Post) -> bool:
        """Whether ``post``'s entry can be made again although its file has changed since
        it was read: its body is still in memory, its render is cached, or the last
        publish prepared its entry. A version that was in no feed was never rendered,
        and its body, let go once digested, cannot be read back from a changed file."""
        if post.body is not None:
            return True
        if self.cache is not None and self.cache.has_render(post):
            return True
        plan = self._plan
        prepared = plan.entries.get(post.entry_id) if plan is not None else None
        return prepared is not None and prepared[0] is post

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One publish at a time: across threads, and across processes sharing the state."""
        lock_dir = state_dir(self.config)
        lock_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, open(lock_dir / ".syndicate.lock", "a") as handle:
            # The CLI (`republish`) and a running service may publish at the same moment;
            # an OS lock on a file beside the state serialises them.
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def publish(
        self,
        force: bool = False,
        notify: bool = True,
        write: bool = True,
        paths: Iterable[Path] | None = None,
    ) -> PublishResult:
        """Rebuild from the posts and the store; write changed feeds; queue notifications.

        ``force`` queues notifications for every feed, changed or not, and lets a publish
        remove most or all of the posts (``check_removals``). ``notify=False`` records
        nothing in the store (``syndicate build``: ids are read, never minted).
        ``paths`` names the files that changed (from file-system events): the others are
        taken as this process last read them, without even a stat.

        Raises ``PublishRefused`` when the posts folder cannot be read or the publish
        would remove too many posts: nothing is then written, queued or saved but the
        refusal itself (``Store.record_refusal``, for ``status``).
        """
        if self.store is None:
            raise PublishError("publish() needs a store")
        with self._exclusive(), _collector_paused():
            # Whatever the stamp said stops being true now; a crash leaves none.
            if write:  # a dry run (``preview``) leaves every file as it was
                stamp.discard(self.config)
            self._stamped = None
            self._reader.changed = (
                {Path(p).absolute() for p in paths} if paths is not None else None
            )
            found = manifest_identity(self.config.output_dir)
            if self._live.identity is not None and found is None:
                # Removed (rm -rf of the output folder) since this process wrote it: what
                # it remembers of the tree is gone, and every document is written again.
                log.warning(
                    "live tree %s: gone since the last publish; writing it again whole",
                    self.config.output_dir,
                )
                self._forget_live()
            elif self._live.identity is not None and self._live.identity != found:
                # Another process (`republish`, a second publisher) wrote the live tree
                # since this one did: what this process remembers of the tree and of the
                # posts as published is someone else's past. Start from the tree as it is.
                log.info(
                    "live tree %s: published by another process since; reading it again",
                    self.config.output_dir,
                )
                self._forget_live()
            store = self.store
            try:
                result = self._again_if_changed(
                    lambda: self._publish(store, force=force, notify=notify, write=write)
                )
            except BaseException as exc:
                # What this process remembers between publishes may be half updated: the
                # next publish starts from the posts and the live tree again.
                self._forget_live()
                if isinstance(exc, PublishRefused):
                    # The files named since were not all read (a folder gone, then back):
                    # the next publish reads the whole folder again.
                    self._reader.files = None
                    if notify:
                        self._record_refusal(store, exc)
                raise
            finally:
                self._reader.changed = None
            if notify and write:
                self._stamped = result
            if self.cache is not None and write:
                # Now that the feeds are out: pickling every post takes longer than an
                # edit's whole publish, so it never holds one up (and only now and then).
                self.cache.save(max_age=CACHE_SAVE_INTERVAL)
                if time.monotonic() - self._stamp_at >= CACHE_SAVE_INTERVAL:
                    self._write_stamp()
        self.last = result
        return result

    def _forget_live(self) -> None:
        """Let go of the Site and the posts as this process last published them: the next
        publish reads the live tree back and settles every post, as after a restart."""
        self._pipe = None
        self._site = None
        self._plan = None
        self._digested = {}
        self._live = LiveTree()

    def _record_refusal(self, store: Store, refused: PublishRefused) -> None:
        """Keep a refusal for ``status`` and the dashboard; failing that, the refusal
        itself still reaches the caller."""
        try:
            store.record_refusal(Refusal(self.clock(), refused.reason, str(refused)))
        except StoreError as exc:
            log.warning("could not record the refused publish: %s", exc)

    def save(self) -> None:
        """Save the post cache and the publish stamp now (a service stopping, a command
        ending), so the next start finds what this process knows."""
        if self.cache is None:
            return
        with self._exclusive():
            self.cache.save()
            self._write_stamp()

    def _write_stamp(self) -> None:
        """Stamp the last publish (see ``stamp``), if it is still the last one: its
        manifest is still the live tree's. Called with the publish lock held."""
        result, cache, files = self._stamped, self.cache, self._reader.files
        if result is None or cache is None or files is None or self._live.identity is None:
            return
        if manifest_identity(self.config.output_dir) != self._live.identity:
            return  # another process published since; it stamps its own
        stats: dict[str, stamp.FileStat] = {}
        for relpath in files:
            cached = cache.posts.get(relpath)
            if cached is None:
                return  # a file that could not even be stat'ed: nothing to compare with
            stats[relpath] = cached[0]
        due = [when for _, when in result.scheduled]
        # A tombstone's end changes its feed, as a scheduled post's time does.
        window = timedelta(days=self.config.feeds.tombstone_days)
        due += [t.when + window for t in (self._plan and self._plan.tombstones) or ()]
        problems = tuple(stamp.Problem(p.path, p.message, p.severity) for p in result.problems)
        stamp.write(
            self.config,
            stamp.Stamp(
                fingerprint=fingerprint(self.config),
                written_ns=time.time_ns(),
                files=stats,
                manifest=self._live.identity,
                store=stamp.store_identity(self.config),
                next_due=min(due).timestamp() if due else None,
                post_count=result.post_count,
                feed_count=len(result.site.feeds),
                problems=problems,
            ),
        )
        self._stamped = None
        self._stamp_at = time.monotonic()

    def _publish(self, store: Store, force: bool, notify: bool, write: bool) -> PublishResult:
        """One publish (see ``publish``), step by step: settle the posts, build the Site,
        find what changed, write the live tree, then queue and record."""
        started_at = time.perf_counter()
        self._check_places(write)
        now = self.clock()
        records, stored_feeds, stored_slugs = self._rows(store)
        loaded, problems, plan, hint, fast = self._settle(records, now, force)
        if self._site is None:
            # A restart: the live tree on disk is the previous build (its manifest keeps
            # each feed's signature), so unchanged feeds are not rebuilt.
            self._site = load_live(self.config.output_dir, lazy=True)
        known_slugs = with_live_slugs(stored_slugs, self._site)
        packer = Packer(spool=self.config.output_dir) if write else None
        tombs = feeds.Tombstones(store.tombstones(), renumbered_ids(plan, records))
        before = self._site  # the live tree, which the gate compares the new Site with
        site = self._make_site(plan, now, hint, known_slugs, packer, tombs)
        made = self._plan.tombstones if self._plan is not None else None
        upserts, deletes = tombstone_changes(tombs.kept, made)
        if notify and (upserts or deletes):
            # Before the live tree is written: a crash in between leaves the deletions
            # seen recorded, with the time they were first seen, for the next publish.
            store.save_tombstones(upserts, deletes)
        found = diff_feeds(site, stored_feeds, self._digested, now)
        held = gate.check_site(site, before, self.config, now)
        site, found = gate.hold_back(site, before, found, held)
        self._digested = found.digested
        new_slugs = self._plan.slugs if self._plan is not None else stored_slugs
        slug_upserts, slug_deletes = slug_changes(stored_slugs, new_slugs)
        log_slug_changes(slug_upserts, known_slugs)
        kept, written = self._write_live(site, packer, store, started_at, held)
        queued = 0
        if notify:
            queued = self._enqueue(found.paths if force else found.changed, now)
            # Before the posts and feeds: a crash in between leaves the new slugs saved
            # (and the live tree shows them anyway), so no URL is minted twice.
            store.save_slugs(slug_upserts, slug_deletes)
            store.save_posts(plan.upserts, plan.deletes)
            store.save_feeds(found.upserts, found.removed)
        duration = time.perf_counter() - started_at
        result = PublishResult(
            # Written out, the documents are read back from the live tree if asked for,
            # not held: after a full publish they are every feed's bytes, which a service
            # keeps no longer than it takes to write them.
            site=kept,
            problems=tuple(problems),
            post_count=len(loaded),
            changed_feeds=tuple(found.changed),
            removed_feeds=tuple(found.removed),
            queued=queued,
            # The feeds' plan keeps the posts dated after now apart, waiting for their time.
            scheduled=waiting_posts(
                self._plan.waiting.values() if self._plan is not None else plan.posts, now
            ),
            started=now,
            duration=duration,
            held=tuple(held.items()),
        )
        if notify:
            self._record_build(store, result, records, plan, fast, stored_feeds, found, new_slugs)
        log.info(
            "published %s from %s: %d changed, %d removed, %s queued, %s, in %.2f s%s",
            counted(len(site.feeds), "feed"),
            counted(len(loaded), "post"),
            len(found.changed),
            len(found.removed),
            counted(queued, "notification"),
            counted(len(result.errors), "error"),
            duration,
            f" (live tree written after {written:.2f} s)" if written is not None else "",
        )
        return result

    def _check_places(self, write: bool) -> None:
        """Refuse a publish before anything is read or written: no posts folder is no
        reason to empty every feed (see ``walk.check_root``), and a refused publish leaves
        no trace, not even a new live tree's folder."""
        walk.check_root(self.config.posts_dir)
        if write:
            # A folder of someone else's files is refused, and a new one is marked as the
            # live tree's (see ``outdir``). Its place (resolving every folder) is checked
            # until a publish wrote there.
            placed = self._live.manifest is not None
            claim_live(self.config.output_dir, None if placed else self.config)

    def _settle(
        self, records: Mapping[str, PostRecord], now: datetime, force: bool
    ) -> tuple[list[Post], list[PostProblem], IdPlan, dict[str, Post | None] | None, bool]:
        """Every post with its entry id settled: (posts as read, problems, the plan, the
        posts touched as the planner's hint, whether only the files named were read).
        Raises ``RemovalRefused`` (see ``check_removals``); every problem is logged."""
        fast = self._settle_named(records, now) if self._reader.changed is not None else None
        hint: dict[str, Post | None] | None = None
        if fast is not None:
            loaded, problems, plan, touched = fast
            if self._site is not None and self._plan is not None:
                # The planner is told which posts changed instead of comparing them all.
                settled = self._pipe.settled if self._pipe is not None else {}
                hint = {relpath: settled.get(relpath) for relpath in touched}
        else:
            loaded, problems = self._reader.load()
            loaded, problems = self._reader.keep_last_good(loaded, problems, self._can_make_again)
            plan = self._reconcile(loaded, records, now, self._settled)
            self._pipe = Pipe.after(loaded, problems, plan, self._reader.files)
        if plan.deletes and not force:
            check_removals(plan, records, self.config, problems)
        problems = [*problems, *plan.problems]
        for problem in problems:
            level = logging.ERROR if problem.severity == "error" else logging.WARNING
            log.log(level, "%s", problem, extra={"post_problem": problem})
        return loaded, problems, plan, hint, fast is not None

    def _make_site(
        self,
        plan: IdPlan,
        now: datetime,
        hint: dict[str, Post | None] | None,
        slugs: feeds.SlugRecords,
        packer: Packer | None,
        tombstones: feeds.Tombstones | None = None,
    ) -> Site:
        """The Site of the settled posts, from the last one; ``packer`` is given each
        document as it is made (``packer.close()`` if this raises)."""
        try:
            site, feed_plan = self._build_site(
                plan.posts,
                now,
                feeds.Built(self._site, self._plan) if self._site is not None else None,
                save_after=None,
                changed=hint,
                keep=packer.keep if packer is not None else None,
                slugs=slugs,
                tombstones=tombstones,
            )
            if packer is not None:
                packer.spooled()
        except BaseException:
            if packer is not None:
                packer.close()
            raise
        self._site, self._plan = site, feed_plan
        return site

    def _write_live(
        self, site: Site, packer: Packer | None, store: Store, started_at: float, held: gate.Failed
    ) -> tuple[Site, float | None]:
        """Write ``site`` to the live tree (with ``packer``; None: not at all): the Site
        as kept, and the seconds since ``started_at`` when it was written (what web
        workers wait for; None: not written)."""
        if packer is None:
            return site, None
        out_dir = self.config.output_dir
        try:
            # The generation comes from the store: a web process that held the tree
            # before it was removed must take the next one for new, not as seen.
            write_live(site, out_dir, self._live, packer.packed, store.next_generation, held)
        finally:
            packer.close()
        written = time.perf_counter() - started_at
        # Kept for the next publish without their bytes, which are on disk now.
        self._site = stored_site(site, out_dir)
        self._live.documents = dict(self._site.documents)
        self._digested = {
            path: (self._site.documents[path], digest)
            for path, (_, digest) in self._digested.items()
        }
        return self._site, written

    def _enqueue(self, targets: list[str], now: datetime) -> int:
        """Queue the notifications for the feeds at ``targets``; how many were queued."""
        if self.outbox is None or not targets:
            return 0
        urls = [absolute_url(self.config.site.url, p) for p in targets]
        # Queued before the feed digests are saved: a crash in between re-detects the
        # change next time, so a notification is never lost (at-least-once).
        return len(
            self.outbox.enqueue_for(urls, self.config.websub.hubs, self.config.pings, now=now)
        )

    def _record_build(
        self,
        store: Store,
        result: PublishResult,
        records: Mapping[str, PostRecord],
        plan: IdPlan,
        fast: bool,
        stored_feeds: Mapping[str, FeedRecord],
        found: FeedChanges,
        slugs: feeds.SlugRecords,
    ) -> None:
        """Record the build in the store, and keep the store's rows after it in memory
        (``_rows``): nobody else wrote them meanwhile while the last build is this one."""
        build = BuildRecord(
            time=result.started,
            duration=result.duration,
            post_count=result.post_count,
            feed_count=len(result.site.feeds),
            errors=tuple(str(p) for p in result.errors),
            changed_feeds=result.changed_feeds,
        )
        store.record_build(build)
        kept = dict(records)
        for path in plan.deletes:
            kept.pop(path, None)
        kept.update({rec.path: rec for rec in plan.upserts})
        if not fast:
            # The rows this publish found unchanged, as settled (equal, but sharing
            # their strings with the posts), so that the next publish's memo of
            # them (``reconcile_ids``) recognises them by identity.
            for path, (_, rec, _) in self._settled.items():
                row = kept.get(path)
                if row is not None and row is not rec and row == rec:
                    kept[path] = rec
        feed_rows = {p: r for p, r in stored_feeds.items() if p not in found.removed}
        feed_rows.update({r.path: r for r in found.upserts})
        self._records = (build.time, build.duration, kept, feed_rows, slugs)

    def build(
        self,
        keep: Callable[[str, Document], Document] | None = None,
        planned: Callable[[list[str]], None] | None = None,
    ) -> BuildResult:
        """Load every post and build every document; problems are logged, not raised.

        ``keep`` is given each document as it is made, ``planned`` the feeds' paths
        before, as in ``feeds.build_site``."""
        with _collector_paused():
            return self._again_if_changed(lambda: self._build(keep, planned))

    def settle_ids(
        self, loaded: Sequence[Post], now: datetime
    ) -> tuple[IdPlan, Mapping[str, PostRecord]]:
        """The entry ids a publish at ``now`` would give ``loaded`` (read only: nothing is
        recorded, nothing remembered), and the store's records they were settled against:
        the dashboard's posts page shows each post in the feeds it is published in."""
        records = self.store.posts() if self.store is not None else {}
        return reconcile_ids(loaded, records, now), records

    def _again_if_changed(self, run: Callable[[], _T]) -> _T:
        """``run()``, and once more from a full scan if a post's file changed after it
        was read and before its body, let go of meanwhile, was needed again (an editor
        saving during a publish): the scan reads that file again, and what it holds
        now is published."""
        try:
            return run()
        except PostChanged as exc:
            log.info("%s: reading the posts again", exc)
            if self.cache is not None:
                self.cache.forget(exc.path)
            self._pipe = None
            self._site = None
            self._plan = None
            self._reader.changed = None
            return run()
        except LiveTreeChanged as exc:
            # A file of the live tree was replaced behind this process's back (another
            # publisher between our check of the manifest and now, or a hand edit): the
            # feeds are made again from the tree as it is now.
            log.info("%s: reading the live tree again", exc)
            self._forget_live()
            return run()

    def _build(
        self,
        keep: Callable[[str, Document], Document] | None = None,
        planned: Callable[[list[str]], None] | None = None,
    ) -> BuildResult:
        started = time.perf_counter()
        now = self.clock()
        walk.check_root(self.config.posts_dir)
        loaded, problems = self._reader.load()
        # Entry ids and slugs as the service published them (read only: nothing is
        # recorded), so a static build shows readers the same ids at the same URLs, and
        # the same duplicate-id errors.
        records = self.store.posts() if self.store is not None else {}
        slugs = self.store.slugs() if self.store is not None else None
        plan = self._reconcile(loaded, records, now)
        problems = [*problems, *plan.problems]
        for problem in problems:
            level = logging.ERROR if problem.severity == "error" else logging.WARNING
            # `post_problem` lets the CLI, which prints problems itself, drop the duplicate.
            log.log(level, "%s", problem, extra={"post_problem": problem})
        # A build given ``keep`` writes its documents out (build_static): its Site is
        # no later build's previous.
        # The tombstones the service recorded, the same for readers (it records none).
        tombs = feeds.Tombstones(self.store.tombstones()) if self.store is not None else None
        site, _ = self._build_site(
            plan.posts,
            now,
            None,
            keep=keep,
            once=keep is not None,
            planned=planned,
            slugs=slugs,
            tombstones=tombs,
        )
        result = BuildResult(site=site, problems=tuple(problems), post_count=len(loaded))
        log.info(
            "built %s from %s (%s, %s) in %.2f s",
            counted(len(site.feeds), "feed"),
            counted(result.post_count, "post"),
            counted(len(result.errors), "error"),
            counted(len(result.warnings), "warning"),
            time.perf_counter() - started,
        )
        return result

    def write_static(self, site: Site, out_dir: Path | str, force: bool = False) -> None:
        """Write every document (and a ``.gz`` of it) under out_dir, replacing it atomically.

        ``out_dir`` must be a place ``outdir.static_target`` allows (``force``: even a
        folder of someone else's files)."""
        out_dir = static_target(out_dir, self.config, force)
        # Plan every file first, so a bad path fails before anything is written.
        for url_path in site.documents:
            file_path(url_path)
        with StaticTree(out_dir) as tree:
            for url_path, doc in site.documents.items():
                tree.add(url_path, doc)
        log.info("wrote %d documents to %s", len(site.documents), out_dir)

    @contextlib.contextmanager
    def build_static(self, out_dir: Path | str, force: bool = False) -> Iterator[BuildResult]:
        """``build()`` and ``write_static()`` in one pass: each document is written out as
        soon as it is made and kept without its bytes (a ``StoredDocument`` of ``out_dir``),
        so a build never holds every feed's bytes at once. ``out_dir`` is
        replaced when the block ends, or left as it was if the block raises; it is checked
        (``outdir.static_target``) before anything is read or written."""
        walk.check_root(self.config.posts_dir)  # before anything is made beside out_dir
        out_dir = static_target(out_dir, self.config, force)
        tree = StaticTree(out_dir)
        try:
            result = self.build(keep=tree.add, planned=tree.create)
        except BaseException:
            tree.discard()
            raise
        with tree:
            tree.expect(result.site.documents)
            add_redirect_map(tree, self.config, result.site)
            yield result
        log.info("wrote %d documents to %s", len(result.site.documents), out_dir)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection for the length of a publish.

    A publish allocates hundreds of thousands of short-lived objects (freed by reference
    counting) beside a million long-lived ones (posts, entries, documents); each full
    collection the allocations trigger walks all of them again, and made a large
    publish much slower. Cycles left behind are collected afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def existing_store(config: Config) -> SqlStore | None:
    """The configured store if it already exists (a SQLite file is never created here)."""
    url = config.storage.url
    if url.startswith("sqlite") and ":memory:" not in url:
        path = sqlite_file(url)
        if path is None or not path.exists():
            return None
    from ..store.sql import SqlStore

    return SqlStore(url)


def open_publisher(config: Config, clock: Clock = _utcnow) -> Publisher:
    """A Publisher wired to the configured store and an outbox with real HTTP clients."""
    # SQLite creates the file but not its folder (`storage.url: sqlite:///state/x.db`).
    state_dir(config).mkdir(parents=True, exist_ok=True)
    from ..store.sql import SqlStore

    store = SqlStore(config.storage.url)
    cache = PostCache(state_dir(config) / "cache", config)
    from ..notify import HttpSenders, Outbox, RetryPolicy

    senders = HttpSenders(config.notify.timeout)  # requests is imported on the first send
    outbox = Outbox(
        store,
        senders,
        senders,
        RetryPolicy.from_config(config.notify),
        clock,
        site_name=config.site.title,
        site_url=config.site.url,
        # weblogUpdates is about the site; its main feed is the one to name.
        ping_feed_url=absolute_url(config.site.url, feeds.feed_paths("site", None)[0]),
        lease=max(120.0, 3 * config.notify.timeout),
    )
    return Publisher(config, clock, store, outbox, cache)
