"""Stamp: what the last publish was made from, so a start with nothing changed is
confirmed by a walk of the posts folder instead of a publish. Does file I/O.

A publish that wrote the live tree and recorded its build leaves a stamp in the cache
folder: every post file it read with the (mtime, size) seen *before* reading it, the live
tree's manifest as written, the store's last build, the configuration's fingerprint (which
covers syndicate's version) and the earliest date a waiting post becomes due. ``confirm``
answers "is the live tree still what a publish would make?" by checking each of those
against the disk: a file added, removed or touched, another manifest, another store, a
new config or version, or a scheduled post come due, and it says no.

The stamp is removed at the start of every publish (under the publish lock) and written
again only once that publish has finished, so a crash in between leaves no stamp, never
a wrong one. A file modified within ``RACY_NS`` of the stamp's writing does not count as
unchanged (a write in the same clock tick as our read could keep its mtime, as git's
"racily clean" entries), and files the stamp does not cover (image files in
``assets_dir``) are no more watched than by the post cache.

Light on purpose (standard library only): ``syndicate republish`` and ``syndicate worker``
with nothing to do confirm it before importing the Markdown, XML, SQL and HTTP stack.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import time
from collections.abc import Mapping
from pathlib import Path

from ..config import MANIFEST, Config, fingerprint, sqlite_file, state_dir
from ..posts import walk
from ..store import BuildMark, peek

log = logging.getLogger("syndicate.stamp")  # the name its log lines have always had

STAMP_FILE = "published.stamp"
FORMAT = 1  # bump when the fields below change
RACY_NS = 2_000_000_000  # a file modified this close to the stamp's writing is not trusted

FileStat = tuple[int, int]  # (st_mtime_ns, st_size)
Identity = tuple[int, int, int]  # (st_ino, st_mtime_ns, st_size)


@dataclasses.dataclass(frozen=True)
class Problem:
    """A post problem as the last publish reported it (``str()`` is ``"path: message"``)."""

    path: Path
    message: str
    severity: str  # "error" or "warning"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Stamp:
    """What one finished publish was made from, and what it reported."""

    fingerprint: str  # config.fingerprint: the configuration and syndicate's version
    written_ns: int  # time.time_ns() when the stamp was made
    files: Mapping[str, FileStat]  # relpath -> stat of each post file, as read
    manifest: Identity  # the live tree's manifest as written
    store: BuildMark | None  # the store's Store.build_mark(); None for a server database
    next_due: float | None  # POSIX time the first waiting post becomes due; None: none
    post_count: int
    feed_count: int
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


def path_of(config: Config) -> Path:
    """Where the stamp lives: in the cache folder, so clearing the cache clears it too."""
    return state_dir(config) / "cache" / STAMP_FILE


def identity(path: Path) -> Identity | None:
    """(inode, mtime, size) of a file; None if it is not there. A file replaced by rename
    has a new inode, so a rewrite is seen even within one clock tick."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def store_identity(config: Config) -> BuildMark | None:
    """The store's ``build_mark()``, peeked without SQLAlchemy (``store.peek``); None for
    a server database (only the live tree's manifest is checked then). Every publish
    records a build, so another publish, or another database, shows here.
    ``NO_BUILD_MARK`` when it cannot be read: never equal to what a publish stamped."""
    path = sqlite_file(config.storage.url)
    if path is None:
        return None
    return peek.build_mark(path)


def discard(config: Config) -> None:
    """Remove the stamp: a publish is about to change what it describes."""
    try:
        os.unlink(path_of(config))
    except FileNotFoundError:
        pass


def write(config: Config, stamp: Stamp) -> None:
    """Write the stamp: a temporary file, then rename."""
    target = path_of(config)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        pickle.dump((FORMAT, stamp), handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, target)


def read(config: Config) -> Stamp | None:
    """The stamp on disk, or None (none, unreadable, another format)."""
    try:
        with open(path_of(config), "rb") as handle:
            found = pickle.load(handle)
    except FileNotFoundError:
        return None
    except ModuleNotFoundError:
        # Written by a version of syndicate whose modules were elsewhere (syndicate.stamp
        # before issue 19): another version, whose stamp never stands anyway.
        return None
    except Exception as exc:  # an optimisation only: a bad stamp means a real publish
        log.warning("%s: unreadable publish stamp, ignored: %s", path_of(config), exc)
        return None
    if not (isinstance(found, tuple) and len(found) == 2 and found[0] == FORMAT):
        return None
    stamp = found[1]
    return stamp if isinstance(stamp, Stamp) else None


def confirm(config: Config, now: float | None = None) -> Stamp | None:
    """The stamp if the live tree is still what a publish of the posts would make now;
    None, with the reason logged at debug level, if a publish is needed."""
    stamp = read(config)
    reason = _stale(config, stamp, time.time() if now is None else now)
    if reason is not None:
        log.debug("publish needed: %s", reason)
        return None
    return stamp


def _stale(config: Config, stamp: Stamp | None, now: float) -> str | None:
    """Why ``stamp`` does not describe the live tree any more; None if it does."""
    if stamp is None:
        return "no stamp of a finished publish"
    if stamp.fingerprint != fingerprint(config):
        return "the configuration or syndicate's version changed"
    if identity(config.output_dir / MANIFEST) != stamp.manifest:
        return "the live tree changed"
    if store_identity(config) != stamp.store:
        return "the store changed"
    if stamp.next_due is not None and now >= stamp.next_due:
        return "a scheduled post is due"
    errors: list[OSError] = []
    if not config.posts_dir.is_dir():
        return "no posts folder"
    found = walk.scan(str(config.posts_dir), errors.append)
    if errors:
        return f"cannot read {errors[0].filename}"
    if len(found) != len(stamp.files):
        return "a post file was added or removed"
    recent = stamp.written_ns - RACY_NS
    for relpath, path in found:
        known = stamp.files.get(relpath)
        if known is None:
            return f"{relpath}: new"
        try:
            st = os.stat(path)
        except OSError:
            return f"{relpath}: cannot stat"
        if (st.st_mtime_ns, st.st_size) != known:
            return f"{relpath}: changed"
        if st.st_mtime_ns >= recent:
            return f"{relpath}: modified too close to the last publish to be sure"
    return None
