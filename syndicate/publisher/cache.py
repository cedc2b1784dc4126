"""Cache: parsed posts and rendered entries kept on disk between runs. Does file I/O.

A restart with nothing changed must not parse YAML or render Markdown again. The cache
is one pickle file (written in parts, ``PostCache._parts``) in a folder beside the
state, keyed by syndicate's version and the configuration (``config.fingerprint``): a
new version or a changed config starts from empty. Entries are keyed by content:

- a parsed post by its path, its size and its modification time (a file whose stat
  changed is read again, so an edit is never missed; its digest is then checked);
- a rendered entry by the post's file digest and URL (relative links resolve against
  the URL).

The file is written to a temporary name and renamed over the old one, so a crash
mid-write leaves the previous cache (or none), never a torn one. A cache that cannot
be read is ignored with a log line: it is only ever an optimisation.

Many posts to read (``load_many``) or to render (``render_many``, ``prepare_many``) go
to worker processes, one pool per build: started on first need, shared by the reading
and the rendering, stopped by ``save()`` (which ends every build) or ``close()``.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import pickle
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..config import Config, fingerprint
from ..posts import (
    DigestKey,
    Post,
    PostProblem,
    Rendered,
    digest_key,
    entry_digests,
    image_changed,
    load_post,
    load_post_statted,
    read_body,
    render_post,
    share_values,
    unpack_rendered,
    without_body,
)

if TYPE_CHECKING:
    from ..feeds import Serialised

log = logging.getLogger("syndicate.cache")  # the name its log lines have always had

CACHE_FILE = "posts.pickle"
FORMAT = 11  # bump when the layout of the pickled payload, or what reading a post gives, changes

# Rendering or reading in worker processes pays for itself only past this many posts:
# starting the pool and shipping posts and results cost more than they save below
# (bench/RESULTS.md, "Why the fast paths").
PARALLEL_MIN = 400

# How _parallel cuts a batch: about this many chunks a worker, of at least CHUNK_MIN.
CHUNKS_PER_WORKER = 16
CHUNK_MIN = 25
# Chunks a worker may have done or under way before the parent takes their results.
CHUNKS_AHEAD = 2

StatKey = tuple[int, int]  # (st_mtime_ns, st_size)

# Posts in each part of the cache file (see ``PostCache._parts``).
PART = 500
_Part = tuple[
    dict[str, tuple[StatKey, Post | None, tuple[PostProblem, ...]]],  # posts
    dict[tuple[str, str], tuple[bytes, bytes]],  # rendered
    dict[str, Post],  # last_good
    dict[DigestKey, tuple[str, str]],  # digests
]


class PostCache:
    """Parsed posts and rendered entries, loaded from and saved to ``directory``."""

    def __init__(
        self,
        directory: Path | None,
        config: Config,
        workers: int | None = None,
    ) -> None:
        # directory None: an in-memory cache that starts empty and is never saved (a cold
        # build that still renders once per post and in parallel).
        self.path = directory / CACHE_FILE if directory is not None else None
        self.config = config
        self.key = fingerprint(config)
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.posts: dict[str, tuple[StatKey, Post | None, tuple[PostProblem, ...]]] = {}
        # (file digest, URL) -> the post's Rendered, packed (``Rendered.packed``) and
        # compressed (``_compress``). Only in a cache that is saved: a build without one
        # renders each post once anyway.
        self.rendered: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        # (file digest, relpath, URL) -> digests the publisher derives from a post (of what
        # readers see, of the body): hashing every post again would slow every restart.
        self.digests: dict[DigestKey, tuple[str, str]] = {}
        # relpath -> the last version of a post that loaded without error, so that every
        # process publishing (worker, CLI, web) keeps a post that broke in its feeds.
        self.last_good: dict[str, Post] = {}
        self.hits = 0
        self.misses = 0
        self._seen: set[str] = set()
        self._from_empty = False  # the scan began with nothing kept
        self._saved_at = float("-inf")
        self._dirty = False
        self._lock = threading.Lock()
        # Values posts have in common (authors, category and tag names), one object each
        # (``posts.share_values``).
        self._shared: dict[Any, Any] = {}
        # Worker processes for reading and rendering, started on first need and shared by
        # the reading and the rendering of one build; save() and close() stop them.
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            with open(self.path, "rb") as handle:
                header = pickle.load(handle)
                if header[:2] != (FORMAT, self.key):
                    log.info(
                        "cache %s: made by another version or config, starting afresh", self.path
                    )
                    return
                # Unpickling allocates a million objects and none of them is garbage;
                # without the collector it takes about half the time.
                collecting = gc.isenabled()
                gc.disable()
                try:
                    for _ in range(header[2]):
                        posts, rendered, last_good, digests = pickle.load(handle)
                        # Each part was pickled on its own: what posts have in common is
                        # made one object again, part by part (the next part reuses the
                        # memory of the copies let go).
                        for _, post, _ in posts.values():
                            if post is not None:
                                share_values(post, self._shared)
                        for post in last_good.values():
                            share_values(post, self._shared)
                        self.posts.update(posts)
                        self.rendered.update(rendered)
                        self.last_good.update(last_good)
                        self.digests.update(digests)
                finally:
                    if collecting:  # a one-shot command runs without it (cli.build)
                        gc.enable()
        except FileNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is just a miss
            log.warning("cache %s: unreadable (%s), starting afresh", self.path, exc)
            self.posts, self.rendered, self.last_good, self.digests = {}, {}, {}, {}

    def save(self, max_age: float = 0.0) -> None:
        """Write the cache if anything changed: temporary file, then rename.

        ``max_age``: skip the write if the last one is more recent than this many seconds
        (a running service saves now and then, and at shutdown, not on every edit:
        pickling every post costs more than the edit itself).

        A build ends with a save: the worker processes, if any were started, stop here.
        """
        self.close()
        with self._lock:
            if not self._dirty or self.path is None:
                return
            if max_age and time.monotonic() - self._saved_at < max_age:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
            parts = self._parts()
            with open(tmp, "wb") as handle:
                header = (FORMAT, self.key, len(parts))
                pickle.dump(header, handle, protocol=pickle.HIGHEST_PROTOCOL)
                for part in parts:
                    pickle.dump(part, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
            self._dirty = False
            self._saved_at = time.monotonic()

    def _parts(self) -> list[_Part]:
        """What is saved, in parts of ``PART`` posts, each pickled on its own: a pickler
        remembers every object it has written, and saving every post at once held that
        table for its length (bench/RESULTS.md, "Why the fast paths"). A post's
        last good version, render and digests go in its part, so that the objects they
        share with it (the same strings) are shared again when the file is read."""
        relpaths = [*self.posts, *(rp for rp in self.last_good if rp not in self.posts)]
        parts: list[_Part] = []
        where: dict[str, int] = {}  # relpath -> its part
        for start in range(0, len(relpaths), PART):
            chunk = relpaths[start : start + PART]
            where.update(dict.fromkeys(chunk, len(parts)))
            posts = {rp: self.posts[rp] for rp in chunk if rp in self.posts}
            last_good = {rp: self.last_good[rp] for rp in chunk if rp in self.last_good}
            parts.append((posts, {}, last_good, {}))
        if not parts:
            parts.append(({}, {}, {}, {}))
        last = len(parts) - 1
        owner = {(p.digest, p.url): where[rp] for rp, p in self.last_good.items()}
        for rp, (_, post, _) in self.posts.items():
            if post is not None:
                owner[(post.digest, post.url)] = where[rp]
        for key, packed in self.rendered.items():
            parts[owner.get(key, last)][1][key] = packed
        for digested, digests in self.digests.items():
            parts[where.get(digested[1], last)][3][digested] = digests
        return parts

    def close(self) -> None:
        """Stop the worker processes, if any (the cache itself stays usable)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()

    def _executor(self) -> ProcessPoolExecutor:
        """The worker processes, started on first use."""
        with self._pool_lock:
            if self._pool is None:
                # fork is cheapest, but forking a process that runs other threads (the
                # scheduler, the file watcher) can copy a held lock into the child: spawn
                # fresh ones then. Decided once: the pool forks all its workers at once.
                method = "fork" if threading.active_count() == 1 else "spawn"
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context(method)
                )
            return self._pool

    def _parallel(
        self, func: Callable[[_Chunk[_T]], list[_R]], items: Sequence[_T], config: Config
    ) -> list[_R]:
        """``func`` over chunks of ``items`` in the worker processes, results in order."""
        return list(self._parallel_results(func, items, config))

    def _parallel_results(
        self, func: Callable[[_Chunk[_T]], list[_R]], items: Sequence[_T], config: Config
    ) -> Iterator[_R]:
        """``_parallel``'s results one by one, each chunk's as soon as it is done; every
        chunk is handed to the workers now."""
        try:
            results = _parallel(func, items, config, self._executor(), self.workers)
        except BrokenProcessPool:
            self.close()
            raise
        return self._unless_broken(results)

    def _unless_broken(self, results: Iterator[_R]) -> Iterator[_R]:
        try:
            yield from results
        except BrokenProcessPool:
            self.close()  # a worker died (killed, out of memory): start afresh next time
            raise

    def load_post(self, path: Path, config: Config) -> tuple[Post | None, Sequence[PostProblem]]:
        """``posts.load_post`` through the cache (the ``load_one`` of ``posts.load_posts``)."""
        looked = self._look_up(path, config)
        if looked is None:
            return load_post(path, config)  # reports the file as unreadable
        relpath, stat_key, hit = looked
        if hit is not None:
            return hit
        self.misses += 1
        post, problems = load_post(path, config)
        digested: dict[DigestKey, tuple[str, str]] = {}
        post = _kept(post, digested)
        with self._lock:
            self._keep(relpath, stat_key, post, problems)
            self._dirty = True
        self.remember_digests(digested)
        return post, problems

    def _look_up(
        self, path: Path, config: Config
    ) -> tuple[str, StatKey, tuple[Post | None, Sequence[PostProblem]] | None] | None:
        """(relpath, stat key, the cached result if the file is unchanged since it was
        read), counting a hit; None if the file cannot even be stat'ed."""
        try:
            st = path.stat()
        except OSError:
            return None
        relpath = _cache_key(path, config)
        self._seen.add(relpath)
        stat_key = _key_of(st)
        cached = self.posts.get(relpath)
        if cached is not None and cached[0] == stat_key:
            post = cached[1]
            # An enclosure's length comes from the image file: a new image under the same
            # name changes the post as much as an edit would.
            if post is None or not image_changed(post, config):
                self.hits += 1
                return relpath, stat_key, (post, cached[2])
        return relpath, stat_key, None

    def _keep(
        self, relpath: str, stat_key: StatKey, post: Post | None, problems: Sequence[PostProblem]
    ) -> None:
        if post is not None:
            share_values(post, self._shared)
        self.posts[relpath] = (stat_key, post, tuple(problems))
        if post is not None:
            self.last_good[relpath] = post

    def load_many(
        self, paths: Sequence[Path], config: Config
    ) -> list[tuple[Post | None, Sequence[PostProblem]]]:
        """``load_post`` for each path, in order (the ``load_many`` of ``posts.load_posts``).

        The same results, and the same bookkeeping (entries, hits, misses, files seen), as
        calling ``load_post`` path by path; but the files that must be read again are read
        on every core when there are at least ``PARALLEL_MIN`` of them (a cold build).
        """
        results: list[tuple[Post | None, Sequence[PostProblem]] | None] = [None] * len(paths)
        # (index in paths, relpath, stat; None: stat'ed where the file is read)
        missed: list[tuple[int, str, StatKey | None]] = []
        # Nothing cached (a cold build): every file is read, so each is stat'ed by the
        # process that reads it, not one by one here before any is read.
        cold = not self.posts
        for index, path in enumerate(paths):
            if cold:
                missed.append((index, _cache_key(path, config), None))
                continue
            looked = self._look_up(path, config)
            if looked is None:
                results[index] = load_post(path, config)  # reports the file as unreadable
                continue
            relpath, stat_key, hit = looked
            if hit is not None:
                results[index] = hit
            else:
                missed.append((index, relpath, stat_key))
        if missed:
            self.misses += len(missed)
            to_read = [paths[index] for index, _, _ in missed]
            digested: dict[DigestKey, tuple[str, str]] = {}
            read: Iterator[tuple[Post | None, Sequence[PostProblem], StatKey | None]]
            if len(to_read) >= PARALLEL_MIN and self.workers > 1:
                log.info("reading %d posts on %d processes", len(to_read), self.workers)
                # Taken in as each chunk comes back, while the workers read the next ones.
                chunks = self._parallel_results(_load_chunk, to_read, config)
                read = self._digested(missed, paths, chunks, digested)
            else:
                read = _read_here(missed, paths, config, digested)
            for (index, relpath, _), (post, problems, seen) in zip(missed, read, strict=True):
                if seen is not None:  # else a file gone meanwhile, reported as such
                    with self._lock:
                        self._seen.add(relpath)
                        self._keep(relpath, seen, post, problems)
                results[index] = (post, problems)
            with self._lock:
                self._dirty = True
            self.remember_digests(digested)
        done = [result for result in results if result is not None]
        assert len(done) == len(paths)
        return done

    @staticmethod
    def _digested(
        missed: Sequence[tuple[int, str, StatKey | None]],
        paths: Sequence[Path],
        chunks: Iterator[
            tuple[Post | None, Sequence[PostProblem], tuple[str, str] | None, StatKey | None]
        ],
        digested: dict[DigestKey, tuple[str, str]],
    ) -> Iterator[tuple[Post | None, Sequence[PostProblem], StatKey | None]]:
        """The workers' posts with their paths put back, their digests into ``digested``."""
        for (index, _, known), (post, problems, digests, statted) in zip(
            missed, chunks, strict=True
        ):
            post = _sourced(post, paths[index])
            if post is not None and digests is not None:
                digested[digest_key(post)] = digests
            yield post, problems, known if known is not None else statted

    def forget(self, path: Path) -> None:
        """Read the file at ``path`` again next time, whatever its stat says."""
        try:
            relpath = _cache_key(path, self.config)
        except ValueError:
            return
        with self._lock:
            if self.posts.pop(relpath, None) is not None:
                self._dirty = True

    def begin_scan(self) -> None:
        """Start a scan of the posts folder: files not read until end_scan are gone."""
        self._seen = set()
        self.hits = self.misses = 0
        with self._lock:
            self._from_empty = not (self.posts or self.rendered or self.digests)

    def end_scan(self) -> None:
        """Drop posts whose files were not seen, and renders no post refers to any more."""
        with self._lock:
            gone = [relpath for relpath in self.posts if relpath not in self._seen]
            for relpath in gone:
                del self.posts[relpath]
                self.last_good.pop(relpath, None)
            # Renders and digests can only go stale when a file changed or went away, and
            # only those kept before the scan: a scan from nothing (a cold build) kept
            # only what its own posts gave.
            stale = False
            if (gone or self.misses) and not self._from_empty:
                stale = self._drop_unused()
            if gone or stale:
                self._dirty = True

    def _drop_unused(self) -> bool:
        """Drop the renders and digests of no post kept; whether a render went. Called
        with the lock held."""
        # The last good version of a post that broke stays published: its render and
        # digests are kept too, as its body can no longer be read from its file.
        kept = [p for _, p, _ in self.posts.values() if p is not None]
        kept += self.last_good.values()
        live = {(p.digest, p.url) for p in kept}
        stale = [key for key in self.rendered if key not in live]
        for key in stale:
            del self.rendered[key]
        keys = {digest_key(p) for p in kept}
        for old in [k for k in self.digests if k not in keys]:
            del self.digests[old]
        return bool(stale)

    def remember_digests(self, found: dict[DigestKey, tuple[str, str]]) -> None:
        """Keep digests the publisher computed, to be saved with the posts."""
        with self._lock:
            if found:
                self.digests.update(found)
                self._dirty = True

    def has_render(self, post: Post) -> bool:
        """Whether ``post``'s render is kept (``render_many`` gives it without its body)."""
        with self._lock:
            return (post.digest, post.url) in self.rendered

    def render_many(self, posts: Sequence[Post], config: Config) -> list[Rendered]:
        """Rendered entries for posts, from the cache or rendered (in parallel if many)."""
        missing = [p for p in posts if (p.digest, p.url) not in self.rendered]
        fresh: dict[tuple[str, str], Rendered] = {}
        if missing:
            if len(missing) >= PARALLEL_MIN and self.workers > 1:
                log.info("rendering %d posts on %d processes", len(missing), self.workers)
                results = self._parallel(_render_chunk, missing, config)
            else:
                results = [render_post(p, config, body_of(p)) for p in missing]
            fresh = {
                (p.digest, p.url): rendered for p, rendered in zip(missing, results, strict=True)
            }
            if self.path is not None:
                with self._lock:
                    for key, rendered in fresh.items():
                        self.rendered[key] = _compress(rendered.packed())
                    self._dirty = True
        return [
            fresh.get(key) or unpack_rendered(*_decompress(self.rendered[key]))
            for key in ((p.digest, p.url) for p in posts)
        ]

    def prepare_many(
        self, posts: Sequence[Post], config: Config, no_json: Collection[str] = frozenset()
    ) -> Iterator[tuple[Rendered | None, Serialised | None]]:
        """``render_many``, and the entries of the posts rendered in the worker processes
        serialised there too (``feeds.serialise_entries``): for each post, (None, its
        entry's bytes) if so, else (its Rendered, None), whose entry the caller makes (a
        handful at a time: cheaper than shipping). The feeds of a cold build then only
        splice bytes: building and serialising the entries runs on every core.

        The results come in order, as the worker processes finish each chunk, so the
        caller can make the first feeds while the next posts are still being rendered.

        The serialised entries are not kept: they depend on the post as settled (its
        entry id, its ``updated``), which the cache's key does not cover. The renders
        are, in a cache that is saved, as by ``render_many``. The posts whose entry id
        is in ``no_json`` are serialised without their JSON Feed item (``EntrySource``).
        """
        missing = [i for i, p in enumerate(posts) if (p.digest, p.url) not in self.rendered]
        if len(missing) < PARALLEL_MIN or self.workers <= 1:
            for rendered in self.render_many(posts, config):
                yield rendered, None
            return
        log.info("rendering %d posts on %d processes", len(missing), self.workers)
        chosen = [(posts[i], posts[i].entry_id not in no_json) for i in missing]
        # The others are in the cache: taken from it first, rendering nothing.
        rendering = set(missing)
        rest = [i for i in range(len(posts)) if i not in rendering]
        cached = dict(zip(rest, self.render_many([posts[i] for i in rest], config), strict=True))
        # Without a file to save to, the HTML is not even sent back: the bytes suffice.
        func = _prepare_chunk if self.path is not None else _serialise_chunk
        results = self._parallel_results(func, chosen, config)
        for index, post in enumerate(posts):
            if index not in rendering:
                yield cached.pop(index), None
                continue
            stored, serialised = next(results)
            if stored is not None:
                with self._lock:
                    self.rendered[(post.digest, post.url)] = stored
                    self._dirty = True
            yield None, serialised
        assert next(results, None) is None


# A running service keeps every post's HTML to prepare the entries an edit needs without
# rendering them again: zlib's fastest level keeps it in under half the memory, and
# decompressing an entry is cheap (bench/RESULTS.md, "Why the fast paths").
def _compress(packed: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    return zlib.compress(packed[0], 1), zlib.compress(packed[1], 1)


def _decompress(stored: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    return zlib.decompress(stored[0]), zlib.decompress(stored[1])


def _cache_key(path: Path, config: Config) -> str:
    """A post's key in the cache: its path relative to posts_dir, POSIX separators."""
    # A string prefix test: pathlib's relative_to costs more than the stat itself.
    root = str(config.posts_dir) + os.sep
    spath = str(path)
    if spath.startswith(root):
        return spath[len(root) :].replace(os.sep, "/")
    return path.relative_to(config.posts_dir).as_posix()


_T = TypeVar("_T")
_R = TypeVar("_R")
_Chunk = tuple[Sequence[_T], Config]


def _sourced(post: Post | None, path: Path) -> Post | None:
    """A post from ``_load_chunk`` with its ``source`` again (``path``, if it came
    without one)."""
    if post is not None and "source" not in post.__dict__:
        post.__dict__["source"] = path
    return post


def _read_here(
    missed: Sequence[tuple[int, str, StatKey | None]],
    paths: Sequence[Path],
    config: Config,
    digested: dict[DigestKey, tuple[str, str]],
) -> Iterator[tuple[Post | None, Sequence[PostProblem], StatKey | None]]:
    """``load_post`` of the missed paths in this process, each stat'ed before it is read;
    each post kept as ``_kept`` keeps it (its digests into ``digested``)."""
    for index, _, known in missed:
        statted = known if known is not None else _stat_key(paths[index])
        post, problems = load_post(paths[index], config)
        yield _kept(post, digested), problems, statted


def _kept(post: Post | None, digested: dict[DigestKey, tuple[str, str]]) -> Post | None:
    """``post`` as the cache keeps it: digested (into ``digested``: what settling its
    entry id needs of its body) and without its body, which is most of a post's memory
    and is read from the file again for the few posts rendered later (``body_of``)."""
    if post is None or post.body is None:
        return post
    digested[digest_key(post)] = entry_digests(post)
    return without_body(post)


def body_of(post: Post) -> str:
    """``post``'s body: its own, or, for a post kept without it, read from its file again
    (``posts.read_body``: ``PostChanged`` if the file is no longer the one digested)."""
    return post.body if post.body is not None else read_body(post.source, post.digest)


def _stat_key(path: Path) -> StatKey | None:
    """The file's stat key, taken before it is read (a change after shows next time)."""
    try:
        return _key_of(os.stat(path))
    except OSError:
        return None


def _key_of(st: os.stat_result) -> StatKey:
    return (st.st_mtime_ns, st.st_size)


def _load_chunk(
    args: _Chunk[Path],
) -> list[tuple[Post | None, Sequence[PostProblem], tuple[str, str] | None, StatKey | None]]:
    """Read posts in a worker process, each stat'ed as it is read. Each comes back digested
    (``entry_digests``) and without its body: the parent would only hold it until it
    digested the post."""
    paths, config = args
    results: list[
        tuple[Post | None, Sequence[PostProblem], tuple[str, str] | None, StatKey | None]
    ] = []
    for path in paths:
        post, problems, statted = load_post_statted(path, config)
        seen = None if statted is None else _key_of(statted)
        digests = None
        if post is not None:
            digests = entry_digests(post)
            post = without_body(post)
            if post.source == path:
                # The parent has this very path: it puts its own back (``_sourced``)
                # rather than unpickle another (a fifth of unpickling a post).
                del post.__dict__["source"]
        results.append((post, problems, digests, seen))
    return results


def _render_chunk(args: _Chunk[Post]) -> list[Rendered]:
    posts, config = args
    return [render_post(post, config, body_of(post)) for post in posts]


# A post to prepare in a worker process, and whether its JSON Feed item is needed.
_ToPrepare = tuple[Post, bool]


def _render_and_serialise(
    args: _Chunk[_ToPrepare], deflated: bool = True
) -> list[tuple[Rendered, Serialised]]:
    # Imported here: a worker that only reads (spawned, by a service) need not load feedgen.
    from ..feeds import serialise_entries

    chunk, config = args
    posts = [post for post, _ in chunk]
    rendered = [render_post(post, config, body_of(post)) for post in posts]
    items = list(zip(posts, rendered, strict=True))
    json = [wanted for _, wanted in chunk]
    serialised = serialise_entries(items, config, deflated=deflated, json=json)
    return list(zip(rendered, serialised, strict=True))


def _prepare_chunk(
    args: _Chunk[_ToPrepare],
) -> list[tuple[tuple[bytes, bytes] | None, Serialised]]:
    """Render posts in a worker process, and serialise their entries there too; each
    post's HTML comes back as the cache keeps it (packed, compressed)."""
    return [
        (_compress(rendered.packed()), serialised)
        for rendered, serialised in _render_and_serialise(args)
    ]


def _serialise_chunk(
    args: _Chunk[_ToPrepare],
) -> list[tuple[tuple[bytes, bytes] | None, Serialised]]:
    """``_prepare_chunk`` for a cache that is not saved (a one-shot build): the entries'
    bytes only, not deflated (the feeds splice them as they come, then let them go)."""
    return [(None, serialised) for _, serialised in _render_and_serialise(args, deflated=False)]


def _parallel(
    func: Callable[[_Chunk[_T]], list[_R]],
    items: Sequence[_T],
    config: Config,
    pool: ProcessPoolExecutor,
    workers: int,
) -> Iterator[_R]:
    """Run on every core: parsing and Markdown are CPU-bound Python, threads would not help.

    Results come back pickled: whole Post objects from reading (without their bodies,
    ``_load_chunk``); the parent's cost of unpickling them is in rebuilding the objects.
    """
    # Many small chunks even out the load: a worker that finds the queue empty idles
    # while the other ends its last chunk, and the parent unpickles that chunk after.
    # Few chunks a worker left one core idle at the end of each phase, and a chunk is
    # cheap to send and collect (bench/RESULTS.md, "Why the fast paths").
    size = max(CHUNK_MIN, -(-len(items) // (workers * CHUNKS_PER_WORKER)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    # At most CHUNKS_AHEAD a worker handed out and not yet taken: results the parent
    # has not taken wait in its memory, and a cold build at 10k posts renders every post
    # (archive pages) faster than the feeds are written.
    ahead = deque(pool.submit(func, (chunk, config)) for chunk in chunks[: workers * CHUNKS_AHEAD])
    return _taken(func, chunks[workers * CHUNKS_AHEAD :], config, pool, ahead)


def _taken(
    func: Callable[[_Chunk[_T]], list[_R]],
    rest: list[Sequence[_T]],
    config: Config,
    pool: ProcessPoolExecutor,
    ahead: deque[Future[list[_R]]],
) -> Iterator[_R]:
    """The results of the chunks ``ahead`` and then of ``rest``, in order, each of
    ``rest`` handed to the workers as a result is taken."""
    waiting = iter(rest)
    try:
        while ahead:
            part = ahead.popleft().result()
            following = next(waiting, None)
            if following is not None:
                ahead.append(pool.submit(func, (following, config)))
            yield from part
    finally:
        for future in ahead:
            future.cancel()
