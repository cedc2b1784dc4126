"""Posts: files under ``posts_dir`` -> ``Post``, or ``PostProblem(path, message)``. Reads files.

``load_posts`` never stops on a bad post: it returns every post it could read and
one problem per thing that went wrong (pelican ``generators.py``: log, then continue).
``render_post`` is pure: Markdown -> sanitised HTML with absolute URLs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from .config import Author, Config

POST_SUFFIXES = (".md", ".markdown", ".txt", ".html")


@dataclasses.dataclass(frozen=True)
class PostProblem:
    """Something wrong with one file. ``str()`` is ``"path: message"``."""

    path: Path
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Image:
    """A post's lead image: RSS ``enclosure`` and ``media:content``."""

    url: str  # absolute
    media_type: str  # e.g. image/jpeg
    length: int | None  # bytes, when the file is in assets_dir


@dataclasses.dataclass(frozen=True)
class Post:
    """One post as read from its file; everything a feed needs except rendered HTML."""

    source: Path  # absolute path of the file
    relpath: str  # path relative to posts_dir, POSIX separators
    digest: str  # sha256 hex digest of the raw file bytes
    title: str  # plain text: markup removed, entities decoded
    date: datetime  # aware, UTC
    updated: datetime | None  # last_modified_at / updated; aware, UTC
    author: Author | None
    categories: tuple[str, ...]  # de-duplicated, in front-matter order
    tags: tuple[str, ...]  # de-duplicated, in front-matter order
    url: str  # absolute permalink
    entry_id: str  # front-matter `id`, else a tag: URI (RFC 4151)
    image: Image | None
    lang: str | None
    body: str  # Markdown (or HTML for .html files) after text hygiene
    excerpt: str | None  # front-matter `excerpt` source, None when absent
    is_html: bool  # body is HTML (.html file), not Markdown
    published: bool  # False for `published: false` or `draft: true`


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A post's HTML, sanitised for feed readers, every URL absolute."""

    content_html: str
    summary_html: str


def load_posts(config: Config) -> tuple[list[Post], list[PostProblem]]:
    """Read every post under ``config.posts_dir``; problems never stop the batch."""
    raise NotImplementedError


def load_post(path: Path, config: Config) -> tuple[Post | None, Sequence[PostProblem]]:
    """Read one file: the post (None if it is not a post or is broken) and its problems."""
    raise NotImplementedError


def render_post(post: Post, config: Config) -> Rendered:
    """Render a post's body and excerpt to clean HTML with absolute URLs. Pure."""
    raise NotImplementedError
