"""Peek: a SQLite store's build mark, read with the standard library alone. Reads a database.

``syndicate republish`` and ``syndicate worker`` with nothing to do confirm the publish
stamp (``stamp.confirm``) before importing the Markdown, XML, SQL and HTTP stack; the
stamp names the store's last build by ``Store.build_mark()``, which this reads without
SQLAlchemy and without ``SqlStore``'s opening work (no schema check, no tables made, no
write). The fast path of ``SqlStore.build_mark``, which it must equal
(``tests/test_store.py``); the SQL that reads the store's tables stays in this package.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from . import NO_BUILD_MARK, BuildMark


def build_mark(path: Path) -> BuildMark:
    """``Store.build_mark()`` of the SQLite store in file ``path``; ``NO_BUILD_MARK`` if it
    cannot be read (no such file, not a store, locked past a second), never created."""
    try:
        # mode=rw: an absent file is an error, not a new empty database.
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=1.0)
        ) as db:
            row = db.execute("SELECT id, time FROM builds ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return NO_BUILD_MARK
    return (int(row[0]), str(row[1])) if row else NO_BUILD_MARK
