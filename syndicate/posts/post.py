"""A post's values: ``Post``, ``PostProblem``, ``Image``, ``Rendered``; and ``read_body``,
the one function here that reads a file (called by the publisher, never by a value).

Bodies kept out of the posts (the one place this is said): a ``Post`` is a plain value
whose ``body`` is either there or explicitly ``None``. The publisher's cache keeps its
posts without their bodies once digested (``without_body``: the bodies are most of a
post's memory, and a service needs almost none of them again); when it must render such
a post, the publisher reads the body from the file (``read_body``), which raises
``PostChanged`` if the file is no longer the bytes ``Post.digest`` covers, and hands it
to ``render_post``. The publisher (``Publisher._again_if_changed``) catches that and runs
the whole publish again from a fresh scan. Nothing reads a file when an attribute is asked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ..config import Author
from ..errors import PostChanged
from .frontmatter import FM_BOUNDARY, InvalidValue, front_matter_end
from .text import read_text
from .walk import not_regular


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
    # Markdown (or HTML for .html files) after text hygiene. A function of the file's
    # bytes, which ``digest`` covers: not compared. None: kept without it (``without_body``),
    # the publisher reads it from the file again when it needs it (``read_body``).
    body: str | None = dataclasses.field(compare=False)
    excerpt: str | None  # front-matter `excerpt` source, None when absent
    is_html: bool  # body is HTML (.html file), not Markdown
    published: bool  # False for `published: false` or `draft: true`
    front_id: bool = False  # entry_id came from the front matter's `id`
    excerpt_only: bool = False  # `excerpt_only: true`: feeds carry its summary, not its body


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A post's HTML, sanitised for feed readers, every URL absolute."""

    content_html: str
    summary_html: str

    def packed(self) -> tuple[bytes, bytes]:
        """Both parts as UTF-8, to keep: half the memory of a str for text beyond ASCII
        (a quarter with an emoji), and what ``unpack_rendered`` takes back."""
        return _utf8(self.content_html), _utf8(self.summary_html)

    def __reduce__(self) -> tuple[Callable[[bytes, bytes], Rendered], tuple[bytes, bytes]]:
        # As UTF-8 bytes: pickling a str makes CPython keep a UTF-8 copy inside it for
        # as long as it lives, which would double the HTML a process keeps.
        return unpack_rendered, self.packed()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def unpack_rendered(content: bytes, summary: bytes) -> Rendered:
    """The ``Rendered`` whose ``packed()`` gave ``content`` and ``summary``; it stays
    packed, and its HTML is decoded each time it is read (once per entry prepared)."""
    return _PackedRendered(content, summary)


class _PackedRendered(Rendered):
    """A ``Rendered`` that keeps its HTML as UTF-8: a build receives every post's HTML
    from the worker processes before it prepares the entries, one at a time."""

    _packed: tuple[bytes, bytes]

    def __init__(self, content: bytes, summary: bytes) -> None:
        # Rendered is frozen; its fields are properties here, decoding the packed HTML.
        object.__setattr__(self, "_packed", (content, summary))

    @property
    def content_html(self) -> str:
        return self._packed[0].decode("utf-8", "surrogatepass")

    @property
    def summary_html(self) -> str:
        return self._packed[1].decode("utf-8", "surrogatepass")

    def packed(self) -> tuple[bytes, bytes]:
        return self._packed

    def __eq__(self, other: object) -> bool:
        # Equal to any Rendered with the same HTML, packed or not.
        if not isinstance(other, Rendered):
            return NotImplemented
        return (self.content_html, self.summary_html) == (other.content_html, other.summary_html)

    def __hash__(self) -> int:
        return hash((self.content_html, self.summary_html))


def read_all(fd: int, size: int, limit: int) -> bytes:
    """The rest of an open file of ``size`` bytes (as fstat said), up to ``limit`` + 1
    bytes: one read, and more to the end if it has grown since. Four system calls a post
    in all (open, fstat, read, close), where a stat and ``open().read()`` made seven.
    More than ``limit`` bytes back means too large: a file that grows while it is read
    costs no more memory than the limit."""
    raw = os.read(fd, size + 1)
    if len(raw) <= size:
        return raw  # the whole file: a regular file's read stops short only at its end
    parts, read = [raw], len(raw)
    while read <= limit and (part := os.read(fd, min(1 << 16, limit + 1 - read))):
        parts.append(part)
        read += len(part)
    return b"".join(parts)


def read_body(source: Path, digest: str) -> str:
    """The body of the post read from ``source`` whose file bytes had ``digest``, read
    from the file again; ``PostChanged`` if the file changed or went away since."""
    try:
        # As load_post: a FIFO swapped in since must not block the publish, and a file
        # that grows while it is read is cut at one byte more than fstat said (which
        # changes its digest), so memory stays bounded by the file's size as stat'ed.
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            statted = os.fstat(fd)
            if not_regular(statted.st_mode) is not None:
                raise PostChanged(source, "not a regular file any more")
            raw = read_all(fd, statted.st_size, statted.st_size)
        finally:
            os.close(fd)
    except OSError as exc:
        raise PostChanged(source, f"cannot read file again: {exc.strerror or exc}") from exc
    if hashlib.sha256(raw).hexdigest() != digest:
        raise PostChanged(source, "changed since it was read")
    # The same steps as load_post, whose warnings were reported when it was read.
    text = read_text(raw, lambda message: None)
    start = FM_BOUNDARY.match(text)
    if start is None:
        raise PostChanged(source, "no front matter any more")
    try:
        end = front_matter_end(text, start)
    except InvalidValue as exc:
        raise PostChanged(source, str(exc)) from exc
    return text[end.end() :].strip("\n")


# What settles a post's entry digests: its file, its path and the config (which settles
# its URL), and the length of its image file in assets_dir, which can change alone.
DigestKey = tuple[str, str, str, int | None]  # (file digest, relpath, URL, image length)


def digest_key(post: Post) -> DigestKey:
    """The key under which ``entry_digests(post)`` can be kept and found again."""
    length = post.image.length if post.image is not None else None
    return (post.digest, post.relpath, post.url, length)


def entry_digests(post: Post, body: str | None = None) -> tuple[str, str]:
    """(digest of what a reader sees of the post's entry, digest of its body): a change
    of the first moves the entry's ``updated``; the second finds a renamed post.
    ``body``: the post's body, for a post kept without it."""
    body = the_body(post, body)
    parts = [
        post.title,
        body,
        post.excerpt or "",
        post.url,
        repr(post.author),
        "\x1f".join(post.categories),
        "\x1f".join(post.tags),
        repr(post.image),
        post.lang or "",
    ]
    seen = hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return seen, hashlib.sha256(_utf8(body)).hexdigest()


def the_body(post: Post, body: str | None = None) -> str:
    """``body`` if given, else the post's own; ``ValueError`` for a post kept without its
    body when none is handed in (whoever keeps posts so reads it: ``read_body``)."""
    if body is not None:
        return body
    if post.body is None:
        raise ValueError(f"{post.source}: kept without its body, and none was handed in")
    return post.body


def without_body(post: Post) -> Post:
    """``post`` without its body (a new value, equal to it): what a cache keeps once the
    post is digested, as the bodies are most of a post's memory."""
    return replace(post, body=None)


def share_values(post: Post, pool: dict[Any, Any]) -> None:
    """Make the values ``post`` has in common with other posts (its author, its
    categories and tags and each of their names, its image's media type) the very
    objects ``pool`` holds, keeping the first of each in ``pool``.

    Every post read or unpickled has its own copies, of a few authors and tags shared
    by thousands of posts. This changes no post's value (the values are equal), only
    which object holds it.
    """
    values = post.__dict__
    author = values.get("author")
    if author is not None:
        values["author"] = pool.setdefault(author, author)
    for name in ("categories", "tags"):
        names = values.get(name)
        if names:
            names = tuple([pool.setdefault(item, item) for item in names])
            values[name] = pool.setdefault(names, names)
    image = values.get("image")
    if image is not None:
        # Image is frozen; its media type is set as its own __init__ would set it.
        object.__setattr__(image, "media_type", pool.setdefault(image.media_type, image.media_type))


def replace(post: Post, **changes: Any) -> Post:
    """``dataclasses.replace`` for a post, copying its values as they are (a post from a
    worker process may lack its ``source`` until the cache puts it back)."""
    new = object.__new__(type(post))
    new.__dict__.update(post.__dict__)
    new.__dict__.update(changes)
    return new
