"""Walk: which files under the posts folder are post candidates. File-system reads only.

One walk for everything that asks "which files would a scan read": ``posts.load_posts``,
the watcher's filter and the start-up check of ``stamp``; and ``check_root``, whether
there is a posts folder to read at all. Kept light (standard library and ``errors``
only), so a command that finds nothing to do never imports the Markdown and XML stack.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from .errors import PostsFolderError

POST_SUFFIXES = (".md", ".markdown", ".txt", ".html")

logger = logging.getLogger("syndicate.posts")


def skip_reason(name: str) -> str | None:
    """Why a file name is not a post candidate, or None if it may be one."""
    if name.startswith("."):
        return "hidden file"
    if name.endswith("~") or name.endswith((".swp", ".swo", ".swx")) or name.startswith("#"):
        return "editor temporary file"
    if not name.lower().endswith(POST_SUFFIXES):
        return "not a post file type"
    return None


def relpath(source: Path, base: Path) -> str:
    """``source`` relative to the posts folder ``base``, POSIX separators; its name if
    it is not under it."""
    # Both are normalised absolute paths in the usual case (load_post makes source one),
    # so a string prefix says what is_relative_to would, without parsing both again.
    prefix, text = f"{base}/", str(source)
    if os.sep == "/" and text.startswith(prefix):
        return text[len(prefix) :]
    if source.is_relative_to(base):
        return source.relative_to(base).as_posix()
    # Slow path for callers that pass a path through a symlink or from elsewhere.
    real, real_base = source.resolve(), base.resolve()
    if real.is_relative_to(real_base):
        return real.relative_to(real_base).as_posix()
    return source.name


def check_root(root: Path) -> None:
    """Raise ``PostsFolderError`` unless ``root`` is a folder this process can list.

    A missing posts folder (a typo, an unmounted volume, a checkout in progress) must not
    read as a site without posts: publishing that would empty every feed. One open of
    the folder, no listing: cheap enough for every publish.
    """
    try:
        with os.scandir(root):
            pass
    except FileNotFoundError:
        raise PostsFolderError(
            f"{root}: posts folder not found (posts_dir); restore the folder, mount its "
            "volume or fix posts_dir in the config"
        ) from None
    except NotADirectoryError:
        raise PostsFolderError(
            f"{root}: posts_dir is not a folder; fix posts_dir in the config"
        ) from None
    except OSError as exc:
        raise PostsFolderError(
            f"{root}: cannot read the posts folder (posts_dir): {exc.strerror or exc}; "
            "fix its permissions or mount its volume"
        ) from None


def candidates(root: Path, on_error: Callable[[OSError], None]) -> list[tuple[str, Path]]:
    """(relpath, path) of every post candidate under ``root``, sorted by relpath.

    Hidden folders and files, editor temporary files and other file types are skipped;
    a folder that cannot be read is reported to ``on_error`` and the walk goes on.
    """
    return [(rel, Path(path)) for rel, path in scan(str(root), on_error)]


def scan(root: str, on_error: Callable[[OSError], None]) -> list[tuple[str, str]]:
    """``candidates`` as strings: (relpath, path), sorted; no Path objects (a start-up
    check walks ten thousand files and pays for every object it makes)."""
    found: list[tuple[str, str]] = []
    folders = [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            on_error(exc)
            continue
        for entry in entries:
            name = entry.name
            # As os.walk: a link to a folder is a folder, listed but not followed, so a
            # link loop cannot hang the scan.
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if name.startswith("."):
                    logger.debug("%s: hidden folder, skipped", entry.path)
                elif not entry.is_symlink():
                    folders.append((entry.path, prefix + name + "/"))
                continue
            reason = skip_reason(name)
            if reason:
                logger.debug("%s: %s, skipped", entry.path, reason)
                continue
            found.append((prefix + name, entry.path))
    found.sort()
    return found
