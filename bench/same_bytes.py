"""Check that two source trees of syndicate build the same static tree from one config.

    python bench/same_bytes.py OLD_TREE NEW_TREE CONFIG [--python PYTHON]

Each tree (a folder holding the ``syndicate`` package: a git worktree, or
``git archive REV syndicate | tar -x -C DIR``) runs ``syndicate build --no-cache`` on
CONFIG in a process of its own (``PYTHONPATH`` set to the tree); the two output folders
must hold the same files with the same bytes, modes and mtimes (Last-Modified). Folder
mtimes are the time of the build and are not compared. Exit status 0 when identical, 1
with the differences listed otherwise. Writes only under a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def build(tree: Path, config: Path, out: Path, python: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [python, "-m", "syndicate", "-q", "build", "--config", str(config)]
    subprocess.run([*command, "--out", str(out), "--no-cache"], env=env, check=True)


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Relative path -> (bytes, mode, mtime in ns) of every file under root."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            files[path.relative_to(root).as_posix()] = (
                path.read_bytes(),
                st.st_mode,
                st.st_mtime_ns,
            )
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("config", type=Path)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="same-bytes-") as tmp:
        outs = [Path(tmp) / "old", Path(tmp) / "new"]
        for tree, out in zip((args.old, args.new), outs, strict=True):
            build(tree.absolute(), args.config.absolute(), out, args.python)
        old, new = (snapshot(out) for out in outs)
    differ = sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))
    for path in differ:
        which = "only old" if path not in new else "only new" if path not in old else "differs"
        print(f"{which}: {path}")
    print(f"{len(old)} files old, {len(new)} new, {len(differ)} different")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
