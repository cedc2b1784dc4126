"""A post's values: ``Post``, ``PostProblem``, ``Image``, ``Rendered``. Reads a post's file
again only when a dropped body is asked for.

Dropped bodies (the one place they live): once a post is digested and rendered, the
publisher lets go of its body (``drop_bodies``) to save memory; ``Post.body`` then reads
it back from the file through ``Post.__getattr__`` -> ``read_body``, which raises
``PostChanged`` if the file is no longer the bytes ``Post.digest`` covers. The publisher
(``Publisher._again_if_changed``) catches it and runs the whole publish again from a
fresh scan. ``replace`` and ``share_values`` change posts without reading a body back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import typing
from collections.abc import Callable, Iterable
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
    # bytes, which ``digest`` covers: not compared, and dropped from memory once the post
    # is digested and rendered (``drop_bodies``), then read again from the file.
    body: str = dataclasses.field(compare=False)
    excerpt: str | None  # front-matter `excerpt` source, None when absent
    is_html: bool  # body is HTML (.html file), not Markdown
    published: bool  # False for `published: false` or `draft: true`
    front_id: bool = False  # entry_id came from the front matter's `id`

    if not typing.TYPE_CHECKING:  # mypy would take any attribute name for a body then

        def __getattr__(self, name: str) -> Any:
            # Only reached for an attribute the instance lacks: a body it dropped.
            if name == "body" and "source" in self.__dict__:
                return read_body(self.source, self.digest)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


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


def entry_digests(post: Post) -> tuple[str, str]:
    """(digest of what a reader sees of the post's entry, digest of its body): a change
    of the first moves the entry's ``updated``; the second finds a renamed post."""
    body = post.body  # once: a dropped body is read from the file again
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


def drop_bodies(posts: Iterable[Post]) -> None:
    """Let go of the bodies of posts that are digested and rendered; ``Post.body`` reads
    them from their files again if ever needed (a post re-rendered or digested again).

    A body is a function of the file's bytes, which ``Post.digest`` covers, so this
    changes no post's value: only where its body comes from. The bodies are most of a
    post's memory, and a service needs almost none of them again.
    """
    for post in posts:
        post.__dict__.pop("body", None)


def share_values(post: Post, pool: dict[Any, Any]) -> None:
    """Make the values ``post`` has in common with other posts (its author, its
    categories and tags and each of their names, its image's media type) the very
    objects ``pool`` holds, keeping the first of each in ``pool``.

    Every post read or unpickled has its own copies, of a few authors and tags shared
    by thousands of posts. Like ``drop_bodies``, this
    changes no post's value (the values are equal), only which object holds it.
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
    """``dataclasses.replace`` for a post, without reading a dropped body back in."""
    new = object.__new__(type(post))
    new.__dict__.update(post.__dict__)
    new.__dict__.update(changes)
    return new
