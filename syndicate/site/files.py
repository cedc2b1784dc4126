"""Static tree: a Site written as files beside the folder it replaces, then swapped in
at once (``renameat2(RENAME_EXCHANGE)``, or two renames where that is missing), so a web
server serving the folder never sees a half-written tree. Does file I/O.

``StaticTree`` is what ``syndicate build`` writes (``Publisher.write_static`` and
``Publisher.build_static``); ``swap_in`` puts a finished tree in place.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import shutil
import sys
import tempfile
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from ..documents import Document
from ..errors import PublishError
from ..outdir import write_marker
from .manifest import StoredDocument, file_path, file_relpath, gzip_document, naming


class StaticTree:
    """A static tree written beside the one it replaces, document by document; as a
    context manager, it is swapped in when the block ends, or removed if it raises.

    Documents are compressed on every core (libdeflate releases the GIL) while the next
    ones are made, and written by the thread that makes them: a file write is several
    system calls, each of which would hand the GIL to another thread and wait up to the
    switch interval to get it back while the feeds are being made (at 10,000 posts,
    enough hand-overs to make the writes slower than the compression).
    No file needs a rename: nothing reads the tree before it is swapped in.

    Creating a file is the dear part of writing it (kernel time on ext4, the most just
    after as many files were deleted, as a rebuild's swap does: the inode allocator steps
    over the recently freed ones). ``create`` makes the files of the feeds
    to come on a thread of their own while the posts are rendered in other processes and
    this one waits; each is then only filled in.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            # Same folder as out_dir, hence the same file system: rename(2) stays atomic.
            staging = tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent)
        except OSError as exc:
            raise PublishError(
                f"{out_dir}: cannot make the new tree beside it ({exc.strerror}); use a folder "
                "in a folder you may write to"
            ) from None
        self.staging = Path(staging)
        # mkdtemp makes the folder 0700; a web server running as another user must read it.
        self.staging.chmod(0o755)
        workers = os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=workers)
        # Documents waiting to be written stay in memory: a few per thread at most.
        # Files are named by strings here: pathlib's objects cost more than the writes.
        self._root = str(self.staging)
        self._writes: collections.deque[tuple[str, Document, Future[bytes]]]
        self._writes = collections.deque()
        self._folders: set[str] = set()
        self._creating: Future[None] | None = None
        self._empty: set[str] = set()  # created ahead, not written yet
        self._most = 2 * workers
        self._count = 0  # documents added
        self._expected: set[PurePosixPath] | None = None
        self._newest: float | None = None  # the latest Last-Modified written
        self._extras: dict[str, bytes] = {}  # file name -> bytes, beside the marker

    def expect(self, url_paths: Iterable[str]) -> None:
        """The documents the tree must hold in the end: a build run again (a post's file
        changed meanwhile) may have written others before."""
        self._expected = {file_path(url_path) for url_path in url_paths}

    def create(self, url_paths: Sequence[str]) -> None:
        """Create the (empty) files of these documents and their .gz, on another thread."""
        self._created()  # a build run again: after the first run's
        targets = [f"{self._root}/{file_relpath(url_path)}" for url_path in url_paths]
        self._creating = self._pool.submit(self._create, targets)

    def _create(self, targets: list[str]) -> None:
        for target in targets:
            self._folder(os.path.dirname(target))
            for path in (target, f"{target}.gz"):
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                except FileExistsError:
                    continue  # written by a build run before this one: not known empty
                os.close(fd)
                self._empty.add(path)

    def _folder(self, folder: str) -> None:
        """Make ``folder`` in the tree, once."""
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def _created(self) -> None:
        """Wait for ``create``'s files (its failure fails the build here)."""
        if self._creating is not None:
            creating, self._creating = self._creating, None
            creating.result()

    def add(self, url_path: str, doc: Document) -> Document:
        """Write ``doc`` (and its .gz) into the tree; the document as it will be in
        ``out_dir``, without its bytes."""
        self._created()
        rel = file_relpath(url_path)
        target = f"{self._root}/{rel}"
        self._folder(os.path.dirname(target))
        if len(self._writes) >= self._most:
            self._write_next()
        self._writes.append((target, doc, self._pool.submit(gzip_document, doc)))
        self._count += 1
        path = self.out_dir.joinpath(*rel.split("/"))
        return StoredDocument(doc.media_type, path, doc.etag, doc.last_modified, doc.max_age)

    def extra(self, name: str, data: bytes) -> None:
        """A file of the tree that is no document (nginx's redirect map): written at the
        top with the marker, once the documents are, and dated like it."""
        self._extras[name] = data

    def _write_next(self) -> None:
        """Write the oldest document waiting, once compressed; a failed write fails the build."""
        target, doc, packed = self._writes.popleft()
        mtime = doc.last_modified.timestamp()  # static servers' Last-Modified
        if self._newest is None or mtime > self._newest:
            self._newest = mtime
        packed_target = f"{target}.gz"
        empty = self._empty
        _write_new(target, doc.body, mtime, truncate=target not in empty)
        empty.discard(target)
        _write_new(packed_target, packed.result(), mtime, truncate=packed_target not in empty)
        empty.discard(packed_target)

    def _remove_unexpected(self, expected: set[PurePosixPath]) -> None:
        keep = {str(rel) for rel in expected} | {f"{rel}.gz" for rel in expected}
        self._newest = None  # of the documents kept only
        for path in [p for p in self.staging.rglob("*") if p.is_file()]:
            if path.relative_to(self.staging).as_posix() not in keep:
                path.unlink()
            else:
                mtime = path.stat().st_mtime
                self._newest = mtime if self._newest is None else max(self._newest, mtime)

    def discard(self) -> None:
        """Stop writing and remove the tree."""
        self._pool.shutdown(cancel_futures=True)
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> StaticTree:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                self._created()
                while self._writes:
                    self._write_next()
                self._pool.shutdown()
                for path in self._empty:  # planned but never made: never swapped in empty
                    os.unlink(path)
                if self._expected is not None and self._count > len(self._expected):
                    self._remove_unexpected(self._expected)
                # What makes the tree syndicate's to replace next time (``outdir``); dated
                # like its newest document, so that the same site is the same tree.
                write_marker(self.staging, self._newest)
                mtime = self._newest if self._newest is not None else time.time()
                for name, data in self._extras.items():
                    _write_new(self.staging / name, data, mtime)
                swap_in(self.staging, self.out_dir)
        finally:
            if kind is not None or self.staging.exists():
                self.discard()


def _write_new(path: Path | str, data: bytes, mtime: float, truncate: bool = True) -> None:
    """Write a file of a tree that nobody reads yet (no temporary file, no rename), with
    ``mtime`` as its modification time.

    ``truncate=False`` for a file known to be empty (created ahead): on ext4, truncating
    a file, even an empty one, has its blocks allocated and written out when it is
    closed (the ``auto_da_alloc`` safeguard for files rewritten in place), which made
    each write much dearer.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, 0o666)
    try:
        with naming(path):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


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


def swap_in(staging: Path, out_dir: Path) -> None:
    """Replace out_dir by staging so that out_dir is never missing nor half-written."""
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    # Linux: one system call exchanges the two trees, so there is no instant at which
    # out_dir is missing; staging then holds the old tree, which is deleted.
    try:
        exchanged = _exchange(staging, out_dir)
    except OSError as exc:
        _refused_swap(out_dir, exc)
        raise
    if exchanged:
        shutil.rmtree(staging, ignore_errors=True)
        return
    # Elsewhere: old tree aside, new tree in. out_dir is missing for two system calls,
    # and on failure the old tree goes straight back.
    aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    try:
        os.rename(out_dir, aside)
    except OSError as exc:
        os.rmdir(aside)
        _refused_swap(out_dir, exc)
        raise
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _refused_swap(out_dir: Path, exc: OSError) -> None:
    """Raise a clean error if the system refused a swap because of the folder itself (a
    mount point or a folder in use: EBUSY; on another file system: EXDEV)."""
    if exc.errno in (errno.EBUSY, errno.EXDEV):
        raise PublishError(
            f"{out_dir}: cannot replace it ({exc.strerror}; a mount point?); use a folder inside it"
        ) from exc
