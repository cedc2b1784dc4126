"""Sessions: dashboard sessions that were signed out before their cookie expired.

A dashboard session lives in a signed cookie, so every web worker accepts it without
asking anyone. Signing out clears the browser's copy, but a copy taken before (another
browser, a stolen cookie) would stay valid for the rest of its lifetime. Each session
therefore carries a random id, and signing out writes that id here, with the time its
cookie expires anyway, in one small file in the state folder that every web worker
reads: a worker notices a change with a stat per dashboard request.

I/O: one file, ``state_dir/sessions-revoked``: a line ``<expiry> <id>`` per session,
rewritten whole (temporary file, then rename) under a lock; expired lines are dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

FILE_NAME = "sessions-revoked"


def new_session_id() -> str:
    """A fresh session id: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


class RevokedSessions:
    """The ids of sessions signed out in any web worker, until their cookies expire."""

    def __init__(
        self, folder: Path, lifetime: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = folder / FILE_NAME
        self.lifetime = lifetime  # seconds a session cookie is valid at most
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) read
        self._revoked: dict[str, float] = {}

    def revoke(self, session_id: str) -> None:
        """Sign ``session_id`` out everywhere, from now until its cookie expires."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self._file_lock():
            entries = self._read()
            entries[session_id] = self._clock() + self.lifetime
            self._write(entries)
            self._seen = None  # read back on the next check, like any other change

    def is_revoked(self, session_id: str) -> bool:
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                self._seen, self._revoked = None, {}
                return False
            seen = (st.st_ino, st.st_size, st.st_mtime_ns)
            if seen != self._seen:
                self._revoked, self._seen = self._read(), seen
            expiry = self._revoked.get(session_id)
            return expiry is not None and expiry > self._clock()

    def _read(self) -> dict[str, float]:
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return {}
        now = self._clock()
        entries: dict[str, float] = {}
        for line in text.splitlines():
            expiry, _, session_id = line.partition(" ")
            with contextlib.suppress(ValueError):
                if float(expiry) > now and session_id:
                    entries[session_id] = float(expiry)
        return entries

    def _write(self, entries: dict[str, float]) -> None:
        lines = [f"{math.ceil(expiry)} {session_id}\n" for session_id, expiry in entries.items()]
        text = "".join(lines)
        fd, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        # Two workers signing out at once must not drop each other's line.
        with open(self.path.with_name(f".{FILE_NAME}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
