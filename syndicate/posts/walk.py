"""Walk: which files under the posts folder are post candidates. File-system reads only.

One rule for everything that asks "which files would a scan read": ``scan`` and
``candidates`` for the whole folder (``posts.load_posts``, the start-up check of
``stamp``), ``candidate_relpath`` for one path a file event names (the publisher),
``skip_reason`` for a file name; and ``check_root``, whether there is a posts folder to
read at all. Kept light (standard library and ``errors`` only), so a command that finds
nothing to do never imports the Markdown and XML stack.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PostsFolderError

if TYPE_CHECKING:
    from ..config import Config

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


def candidate_relpath(path: Path, config: Config) -> str | None:
    """The path of a file under the posts folder if a scan would read it, else None:
    what ``load_posts`` would skip (hidden, temporary, another file type) gives None."""
    absolute = Path(os.path.abspath(path))
    if not absolute.is_relative_to(config.posts_dir):
        return None
    parts = absolute.relative_to(config.posts_dir).parts
    found = "/".join(parts)
    if not parts or any(part.startswith(".") for part in parts[:-1]) or skip_reason(parts[-1]):
        return None
    return found


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


# The kinds of file that are not posts, by what stat says; a post is a regular file.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is not a post (``not a regular file (a FIFO);
    skipped``), or None for a regular file, and for a folder: the walk lists folders
    as folders, and reading one named as a post fails at once (an error, as before)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"not a regular file ({kind}); skipped"


def refusal(path: str, real_root: str) -> str | None:
    """Why the file at ``path`` (a candidate by name, named by a file event) is no post,
    without opening it: a real path out of the posts folder (``real_root``, resolved),
    through a link to the file or to a folder on the way, or not a regular file (a FIFO
    would block its reader, a device be read for ever); None if it may be read. What
    the walk leaves out, at the cost of a resolve: fine for a few named files."""
    return _link_refusal(path, real_root)


def _link_refusal(path: str, real_root: str) -> str | None:
    """``refusal`` for a path already known to be a link (or not known to be none)."""
    # A link out would publish whatever it points at (a file of another user, a key):
    # posts_dir is the one folder an editor chose to publish. Links within it are fine.
    real = os.path.realpath(path)
    if not (real == real_root or real.startswith(real_root.rstrip("/") + "/")):
        return f"a link to a file outside posts_dir ({real}); not published"
    try:
        st = os.stat(real)
    except OSError:
        return None  # a dangling link: reading it reports the missing file
    return not_regular(st.st_mode)


def candidates(
    root: Path,
    on_error: Callable[[OSError], None],
    on_refused: Callable[[str, str], None] | None = None,
) -> list[tuple[str, Path]]:
    """(relpath, path) of every post candidate under ``root``, sorted by relpath.

    Hidden folders and files, editor temporary files and other file types are skipped;
    a folder that cannot be read is reported to ``on_error`` and the walk goes on. A
    file named like a post that must not be read (see ``refusal``) is left out and
    reported to ``on_refused(path, why)``.
    """
    return [(rel, Path(path)) for rel, path in scan(str(root), on_error, on_refused)]


def scan(
    root: str,
    on_error: Callable[[OSError], None],
    on_refused: Callable[[str, str], None] | None = None,
) -> list[tuple[str, str]]:
    """``candidates`` as strings: (relpath, path), sorted; no Path objects (a start-up
    check walks ten thousand files and pays for every object it makes)."""
    found: list[tuple[str, str]] = []
    folders = [(root, "")]
    real_root: str | None = None  # resolved at the first link: most folders have none
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
            # The listing's file type costs no system call (but on a file system that
            # gives none); only a link is resolved, and only an odd file stat'ed. Never
            # opened: opening a FIFO blocks until someone writes to it.
            try:
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                regular = True  # cannot tell: reading it says what is wrong
            if not regular:
                refused = None
                if entry.is_symlink():
                    if real_root is None:
                        real_root = os.path.realpath(root)
                    refused = _link_refusal(entry.path, real_root)
                else:
                    try:
                        refused = not_regular(entry.stat(follow_symlinks=False).st_mode)
                    except OSError:
                        pass  # gone since the listing: reading it says so
                if refused:
                    logger.debug("%s: %s", entry.path, refused)
                    if on_refused is not None:
                        on_refused(entry.path, refused)
                    continue
            found.append((prefix + name, entry.path))
    found.sort()
    return found
