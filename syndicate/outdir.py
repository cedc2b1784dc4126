"""Where syndicate may write a tree of feeds: the one rule for ``build --out DIR`` (a static
tree, swapped in whole) and ``output_dir`` (the live tree, written in place).

Reads the file system (real paths, whether a folder is empty, a marker's presence) and
writes nothing but the marker of a live tree it starts.

A tree goes only where it can do no harm:

- never into, or into a folder holding, what syndicate reads or keeps: the posts folder
  (``posts_dir``), the assets folder (``assets_dir``), the config's folder or the state
  folder (``config.state_dir``); replacing the tree would delete them. Nor inside the posts
  or assets folder, whose files syndicate reads (the tree's ``index.html`` would be read
  as a post). Paths are compared resolved, links and ``..`` followed. Nothing overrides this.
  The rule is ``config.place_problem``: ``load_config`` refuses an ``output_dir`` it
  forbids, and it is a rule between the config's own folders.
- only into a folder that is absent, empty, or a tree syndicate wrote: it holds the
  marker (``MARKER``, written into every static tree and into a live tree before any
  other file) or a live tree's manifest (``config.MANIFEST``, which trees written before
  the marker existed have). A folder holding anything else is someone's files: ``build``
  replaces it only with ``--force``; the live tree never writes there.

Everything is checked before anything is touched, and a refusal is one line naming the
folder and the way out.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path

from .config import MANIFEST, Config, output_dir_problem, place_problem
from .errors import PublishError

# Written into every tree syndicate makes (a static build's and the live one): a folder
# holding it is syndicate's to replace. The same bytes every time, so a build twice is
# the same tree.
MARKER = ".syndicate-tree"
MARKER_TEXT = (
    b"This folder is a tree of feeds written by syndicate; `syndicate build` and the "
    b"service replace what is in it.\n"
)

Contents = typing.Literal["absent", "file", "empty", "tree", "foreign"]


def contents(folder: Path) -> Contents:
    """What is at ``folder``: nothing, a file, an empty folder, a tree syndicate wrote
    (its marker or a live tree's manifest), or a folder of someone else's files."""
    if (folder / MARKER).is_file() or (folder / MANIFEST).is_file():
        return "tree"
    try:
        with os.scandir(folder) as entries:
            return "empty" if next(entries, None) is None else "foreign"
    except FileNotFoundError:
        return "absent"
    except NotADirectoryError:
        return "file"
    except OSError as exc:
        raise PublishError(f"{folder}: cannot read it ({exc.strerror})") from None


def static_target(out_dir: Path | str, config: Config, force: bool = False) -> Path:
    """Where ``build --out out_dir`` writes: ``out_dir`` resolved (through a link, to the
    folder it points to, and the link stays). Raises ``PublishError`` if the rule refuses
    it; ``force`` replaces a folder of someone else's files, and nothing else."""
    given = f"--out {os.path.abspath(out_dir)}"
    out = Path(out_dir).resolve()
    problem = place_problem(out, config)
    if problem is not None:
        raise PublishError(f"{given} {problem}; syndicate never writes there: use a new folder")
    found = contents(out)
    if found == "file":
        raise PublishError(f"{given} is a file, not a folder; use a new folder")
    if found == "foreign" and not force:
        raise PublishError(
            f"{given} is not empty and not a syndicate tree (no {MARKER}); use a new or "
            "empty folder, or --force to replace what is in it"
        )
    if found != "absent" and os.path.ismount(out):
        # The new tree is made beside it and swapped in: a mount point cannot be (EBUSY).
        raise PublishError(
            f"{given} is a mount point, which a build cannot replace; use a folder inside it"
        )
    return out


def check_live(config: Config) -> None:
    """Raise ``PublishError`` if the live tree may not be written to ``output_dir``;
    writes nothing (``claim_live`` does, at a publish)."""
    _check_live(config.output_dir, config)


def claim_live(out_dir: Path, config: Config | None = None) -> None:
    """Make ``out_dir`` ready for the live tree before anything is written there: a new
    or empty folder gets the marker first, so a first publish cut short leaves a folder
    still known as syndicate's. Raises ``PublishError`` if the rule refuses it (with
    ``config``, its place is checked too): a few stats, once the tree is there."""
    if _check_live(out_dir, config) != "tree":
        out_dir.mkdir(parents=True, exist_ok=True)
        write_marker(out_dir)


def write_marker(folder: Path | str, mtime: float | None = None) -> None:
    """Write the marker into ``folder`` (a tree syndicate makes), dated ``mtime``."""
    path = os.path.join(folder, MARKER)
    with open(path, "wb") as handle:
        handle.write(MARKER_TEXT)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def _check_live(out_dir: Path, config: Config | None) -> Contents:
    if config is not None:
        problem = output_dir_problem(config)
        if problem is not None:
            raise PublishError(f"output_dir: {problem}")
    found = contents(out_dir)
    if found == "file":
        raise PublishError(
            f"output_dir: {out_dir} is a file, not a folder; set output_dir to a new folder"
        )
    if found == "foreign":
        raise PublishError(
            f"output_dir: {out_dir} is not empty and not a syndicate tree (no {MANIFEST} or "
            f"{MARKER}); set output_dir to a new or empty folder, or move what is in it away"
        )
    return found
