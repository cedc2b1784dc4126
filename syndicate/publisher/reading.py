"""Reading posts for a publisher: every post through the post cache, or only the files
named as changed (file events) from those the last publish read; a post that breaks keeps
its last good version. Does file I/O.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import posts
from ..config import Config
from ..posts import Post, PostProblem, walk
from .cache import PostCache
from .ids import Found

log = logging.getLogger("syndicate.publisher")  # the name its log lines have always had


class PostReader:
    """Reads the posts of one publisher, through its cache when it has one."""

    def __init__(self, config: Config, cache: PostCache | None = None) -> None:
        self.config = config
        self.cache = cache
        self.changed: set[Path] | None = None  # files named as changed, for this publish
        # relpath -> (post, problems) of every file the last publish read, in path order.
        self.files: dict[str, Found] | None = None
        self.last_good: dict[str, Post] = {}  # relpath -> the post as last published

    def load(self) -> tuple[list[Post], list[PostProblem]]:
        """Every post, through the cache when there is one.

        With the files named as changed (file events) and the files of the last publish
        in memory, only those are read again and the folder is not even walked: the cost
        of an edit does not grow with the number of posts.
        """
        if self.cache is None:
            return posts.load_posts(self.config)
        cache = self.cache
        if self.read_named() is not None:
            assert self.files is not None
            return posts.collect_posts((rel, *found) for rel, found in self.files.items())

        read: dict[str, Found] = {}
        root = str(self.config.posts_dir) + os.sep

        def load_many(paths: Sequence[Path], config: Config) -> Sequence[Found]:
            found = cache.load_many(paths, config)
            for path, result in zip(paths, found, strict=True):
                spath = str(path)
                rel = spath[len(root) :] if spath.startswith(root) else path.name
                read[rel.replace(os.sep, "/")] = result
            return found

        cache.begin_scan()
        loaded, problems = posts.load_posts(self.config, load_many=load_many)
        cache.end_scan()
        self.files = read
        log.debug("post cache: %d hits, %d misses", self.cache.hits, self.cache.misses)
        return loaded, problems

    def read_named(self) -> dict[str, Found] | None:
        """Read the files named as changed into the files of the last publish; what they
        hold now (None for a file gone), or None when there is nothing to go on from."""
        cache, files = self.cache, self.files
        if cache is None or self.changed is None or files is None:
            return None
        files = dict(files)
        added = False
        touched: dict[str, Found] = {}
        real_root: str | None = None
        for path in self.changed:
            relpath = posts.candidate_relpath(path, self.config)
            if relpath is None:
                continue
            # What the walk of a full scan leaves out (a FIFO, a link out of posts_dir)
            # is left out here too, with the same warning; one lstat per named file.
            real_root = real_root or os.path.realpath(self.config.posts_dir)
            refused = walk.refusal(str(path), real_root)
            if refused is not None:
                files.pop(relpath, None)
                touched[relpath] = (None, (PostProblem(path, refused, "warning"),))
            elif path.is_file():
                added = added or relpath not in files
                files[relpath] = touched[relpath] = cache.load_post(path, self.config)
            else:
                files.pop(relpath, None)
                touched[relpath] = (None, ())
        if added:
            files = dict(sorted(files.items()))
        self.files = files
        return touched

    def keep_last_good(
        self,
        loaded: list[Post],
        problems: list[PostProblem],
        can_make_again: Callable[[Post], bool],
    ) -> tuple[list[Post], list[PostProblem]]:
        """A post that breaks stays in its feeds as it was until the editor fixes it.

        Readers keep the last good version instead of seeing the entry vanish because of
        a stray quote in the YAML; the error is still reported, naming the file.
        """
        present = {post.relpath for post in loaded}
        kept: list[Post] = []
        reported: list[PostProblem] = []
        for problem in problems:
            previous = None
            if problem.severity == "error" and problem.path.exists():
                relpath = _relpath(problem.path, self.config)
                previous = self.last_good.get(relpath)
                if previous is None and self.cache is not None:
                    # A fresh process (the CLI, a web worker): the cache remembers it.
                    previous = self.cache.last_good.get(relpath)
            if previous is not None and previous.relpath not in present:
                if can_make_again(previous):
                    kept.append(previous)
                    present.add(previous.relpath)
                    note = " (the last good version stays published)"
                else:
                    note = (
                        " (its last good version, in no feed until now, can no longer be"
                        " read: the post stays out of the feeds until it is fixed)"
                    )
                problem = dataclasses.replace(problem, message=problem.message + note)
            reported.append(problem)
        self.last_good = {post.relpath: post for post in loaded}
        self.last_good.update({post.relpath: post for post in kept})
        return [*loaded, *kept], reported


def _relpath(path: Path, config: Config) -> str:
    try:
        return path.resolve().relative_to(config.posts_dir).as_posix()
    except ValueError:
        return path.name
