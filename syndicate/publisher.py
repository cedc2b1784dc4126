"""Publisher: the orchestrator. Reads posts, builds the Site, writes static trees. Does I/O.

``Publisher.build()`` runs ``posts.load_posts`` then the pure ``feeds.build_site`` with
``now`` from the injected clock, and logs one line per post problem plus a summary.
``Publisher.write_static()`` writes a ``Site`` as files (each with a reproducible
``.gz`` beside it) into a temporary folder next to the target and swaps it in with
``renameat2(RENAME_EXCHANGE)`` (or ``rename`` where that is missing), so a web server
serving the target never sees a half-written tree.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import gzip
import logging
import os
import shutil
import sys
import tempfile
import time
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from . import feeds, posts
from .config import Config
from .errors import PublishError
from .feeds import Site
from .posts import PostProblem

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Highest compression: the files are written once and served many times.
GZIP_LEVEL = 9


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


class Publisher:
    """Builds the Site from the posts and writes it out; the clock is a parameter."""

    def __init__(self, config: Config, clock: Clock = _utcnow) -> None:
        self.config = config
        self.clock = clock

    def build(self) -> BuildResult:
        """Load every post and build every document; problems are logged, not raised."""
        started = time.perf_counter()
        loaded, problems = posts.load_posts(self.config)
        for problem in problems:
            level = logging.ERROR if problem.severity == "error" else logging.WARNING
            # `post_problem` lets the CLI, which prints problems itself, drop the duplicate.
            log.log(level, "%s", problem, extra={"post_problem": problem})
        site = feeds.build_site(loaded, self.config, now=self.clock())
        result = BuildResult(site=site, problems=tuple(problems), post_count=len(loaded))
        log.info(
            "built %d feeds from %d posts (%d errors, %d warnings) in %.2f s",
            len(site.feeds),
            result.post_count,
            len(result.errors),
            len(result.warnings),
            time.perf_counter() - started,
        )
        return result

    def write_static(self, site: Site, out_dir: Path | str) -> None:
        """Write every document (and a ``.gz`` of it) under out_dir, replacing it atomically."""
        out_dir = Path(out_dir).absolute()
        if out_dir.exists() and not out_dir.is_dir():
            raise PublishError(f"{out_dir}: exists and is not a folder")
        # Plan every file first, so a bad path fails before anything is written.
        files = [(_file_path(url_path), doc) for url_path, doc in site.documents.items()]
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        # Same folder as out_dir, hence the same file system: rename(2) stays atomic.
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
        try:
            # mkdtemp makes the folder 0700; a web server running as another user must read it.
            staging.chmod(0o755)
            for rel, doc in files:
                target = staging.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                # mtime=0 keeps the gzip header free of build time: same site, same bytes.
                packed = gzip.compress(doc.body, compresslevel=GZIP_LEVEL, mtime=0)
                stamp = doc.last_modified.timestamp()
                for path, data in (
                    (target, doc.body),
                    (target.with_name(target.name + ".gz"), packed),
                ):
                    path.write_bytes(data)
                    # Static servers derive Last-Modified from mtime (RFC 9110 8.8.2).
                    os.utime(path, (stamp, stamp))
            _swap_in(staging, out_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.info("wrote %d documents to %s", len(files), out_dir)


def _file_path(url_path: str) -> PurePosixPath:
    """Map a URL path to a file path relative to the output folder, refusing any escape."""
    if not url_path.startswith("/") or "\\" in url_path or "\0" in url_path:
        raise PublishError(f"{url_path!r}: refusing to write a path outside the output folder")
    parts = [part for part in url_path.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise PublishError(f"{url_path!r}: refusing to write a path outside the output folder")
    if url_path.endswith("/"):
        parts.append("index.html")
    return PurePosixPath(*parts)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    if _renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = _renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # kernel or file system lacks it
        return False
    raise OSError(err, os.strerror(err), str(b))


def _load_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return typing.cast(Callable[..., int], func)


_renameat2 = _load_renameat2() if sys.platform.startswith("linux") else None


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Replace out_dir by staging so that out_dir is never missing nor half-written."""
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    # Linux: one system call exchanges the two trees, so there is no instant at which
    # out_dir is missing; staging then holds the old tree, which is deleted.
    if _exchange(staging, out_dir):
        shutil.rmtree(staging, ignore_errors=True)
        return
    # Elsewhere: old tree aside, new tree in. out_dir is missing for two system calls,
    # and on failure the old tree goes straight back.
    aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rename(out_dir, aside)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)
