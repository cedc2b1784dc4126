"""Posts: files under ``posts_dir`` -> ``Post``, or ``PostProblem(path, message)``. Reads files.

``load_posts`` never stops on a bad post: it returns every post it could read and
one problem per thing that went wrong (pelican ``generators.py``: log, then continue).
``render_post`` is pure: Markdown -> sanitised HTML with absolute URLs.

Front matter follows Jekyll (``title``, ``date``, ``categories``, ``permalink``, ...);
the helpers below cite the Jekyll behaviour they copy.
"""

from __future__ import annotations

import codecs
import ctypes
import dataclasses
import functools
import hashlib
import html
import html.entities
import logging
import mimetypes
import operator
import os
import re
import stat
import threading
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import nh3
import yaml
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options as CmarkOptions
from dateutil import parser as dateparser
from frontmatter.default_handlers import YAMLHandler
from lxml import etree
from lxml import html as lxml_html
from slugify import slugify

from .. import counted, walk
from ..config import Author, Config, SiteConfig, http_uri
from ..errors import ConfigError, PostChanged
from ..langtag import normalise_language

POST_SUFFIXES = walk.POST_SUFFIXES

logger = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- loading


LoadOne = Callable[[Path, Config], tuple["Post | None", Sequence[PostProblem]]]
# Reads a batch of files: one (post, problems) per path, in the order of the paths.
LoadMany = Callable[[Sequence[Path], Config], Sequence[tuple["Post | None", Sequence[PostProblem]]]]


def load_posts(
    config: Config, load_one: LoadOne | None = None, load_many: LoadMany | None = None
) -> tuple[list[Post], list[PostProblem]]:
    """Read every post under ``config.posts_dir``; problems never stop the batch.

    ``load_one`` reads one file (default ``load_post``); a cache passes its own.
    ``load_many``, if given, is called instead, once, with every candidate path in
    order (``PostCache.load_many`` reads them on several cores); it must return what
    ``load_one`` would for each path, in the same order.
    """
    load_one = load_one or load_post
    root = config.posts_dir
    problems: list[PostProblem] = []
    if not root.is_dir():
        problem = PostProblem(root, "posts folder not found")
        logger.error("%s", problem)
        return [], [problem]

    def on_walk_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        problem = PostProblem(where, f"cannot read folder: {exc.strerror or exc}")
        logger.error("%s", problem)
        problems.append(problem)

    def on_refused(path: str, why: str) -> None:
        # Not a post, and never opened: a FIFO, a socket, a device or a link out. Logged
        # by the caller, as the problems of the posts read are (``_logged``).
        problems.extend(_logged([PostProblem(Path(path), why, "warning")]))

    candidates = walk.candidates(root, on_walk_error, on_refused)

    results: Iterable[tuple[Post | None, Sequence[PostProblem]]]
    if load_many is not None:
        batch = load_many([path for _, path in candidates], config)
        if len(batch) != len(candidates):
            raise ValueError(f"load_many: {len(batch)} results for {len(candidates)} files")
        results = batch
    else:
        results = (load_one(path, config) for _, path in candidates)

    read = ((relpath, *result) for (relpath, _), result in zip(candidates, results, strict=True))
    posts, more = collect_posts(read)
    problems.extend(more)
    logger.info(
        "%s: loaded %s, %s", root, counted(len(posts), "post"), counted(len(problems), "problem")
    )
    return posts, problems


def collect_posts(
    read: Iterable[tuple[str, Post | None, Sequence[PostProblem]]],
) -> tuple[list[Post], list[PostProblem]]:
    """The posts of files read, in path order, with their problems: one post per entry
    id (the first by path keeps it) and a warning for a permalink used twice."""
    posts: list[Post] = []
    problems: list[PostProblem] = []
    seen_ids: dict[str, str] = {}
    seen_urls: dict[str, str] = {}
    for relpath, post, post_problems in read:
        problems.extend(post_problems)
        if post is None:
            continue
        first = seen_ids.get(post.entry_id)
        if first is not None:
            # Two entries with one id would make readers drop one of them (RFC 4287 4.2.6).
            problem = PostProblem(post.source, f"id: {post.entry_id!r} is already used by {first}")
            logger.error("%s", problem)
            problems.append(problem)
            continue
        seen_ids[post.entry_id] = relpath
        other = seen_urls.get(post.url)
        if other is not None:
            problem = PostProblem(
                post.source, f"permalink: {post.url} is also the permalink of {other}", "warning"
            )
            logger.warning("%s", problem)
            problems.append(problem)
        else:
            seen_urls[post.url] = relpath
        posts.append(post)
    return posts, problems


def candidate_relpath(path: Path, config: Config) -> str | None:
    """The path of a file under the posts folder if a scan would read it, else None:
    what ``load_posts`` would skip (hidden, temporary, another file type) gives None."""
    absolute = Path(os.path.abspath(path))
    if not absolute.is_relative_to(config.posts_dir):
        return None
    parts = absolute.relative_to(config.posts_dir).parts
    relpath = "/".join(parts)
    if not parts or any(part.startswith(".") for part in parts[:-1]) or walk.skip_reason(parts[-1]):
        return None
    return relpath


class _Invalid(Exception):
    """A front-matter value that makes the post unpublishable; the message names the key."""


def load_post(path: Path, config: Config) -> tuple[Post | None, Sequence[PostProblem]]:
    """Read one file: the post (None if it is not a post or is broken) and its problems."""
    post, problems, _ = load_post_statted(path, config)
    return post, problems


def load_post_statted(
    path: Path, config: Config
) -> tuple[Post | None, Sequence[PostProblem], os.stat_result | None]:
    """``load_post``, and the stat of the file as it was read (None if it could not be
    opened): a cache keyed by it sees any later change."""
    source = _absolute(path)
    problems: list[PostProblem] = []

    def warn(message: str) -> None:
        problems.append(PostProblem(source, message, "warning"))

    statted: os.stat_result | None = None
    limit = config.posts.max_bytes
    try:
        # O_NONBLOCK: the walk leaves out what is not a regular file, but a file named
        # by an event, or swapped since the walk, may be a FIFO, whose open would wait
        # for a writer for ever. A regular file's reads ignore the flag.
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            statted = os.fstat(fd)
            refused = _refused(source, statted, limit)
            raw = b"" if refused else _read_all(fd, statted.st_size, limit)
        finally:
            os.close(fd)
    except OSError as exc:
        problems.append(PostProblem(source, f"cannot read file: {exc.strerror or exc}"))
        return None, _logged(problems), statted
    if refused is None and len(raw) > limit:
        refused = PostProblem(source, _too_large(limit))  # it grew while it was read
    if refused is not None:
        return None, _logged([refused]), statted
    post, problems = _load_read(source, raw, config, problems, warn)
    return post, problems, statted


def _refused(source: Path, statted: os.stat_result, limit: int) -> PostProblem | None:
    """Why an open file is not read: not a regular file (a warning, as for any file that
    is no post), or larger than ``posts.max_bytes`` (an error: it was meant as a post)."""
    kind = walk.not_regular(statted.st_mode)
    if kind is not None:
        return PostProblem(source, kind, "warning")
    if statted.st_size > limit:
        return PostProblem(source, _too_large(limit))
    return None


def _too_large(limit: int) -> str:
    """The problem of a post over ``posts.max_bytes`` (``larger than 5 MB``)."""
    shown = f"{limit // 2**20} MB" if limit % 2**20 == 0 else f"{limit} bytes"
    return f"larger than {shown} (posts.max_bytes); not read"


def _read_all(fd: int, size: int, limit: int) -> bytes:
    """The rest of an open file of ``size`` bytes (as fstat said), up to ``limit`` + 1
    bytes: one read, and more to the end if it has grown since. Four system calls a post
    in all (open, fstat, read, close), where a stat and ``open().read()`` made seven (7
    against 15 us a post). More than ``limit`` bytes back means too large: a file that
    grows while it is read costs no more memory than the limit."""
    raw = os.read(fd, size + 1)
    if len(raw) <= size:
        return raw  # the whole file: a regular file's read stops short only at its end
    parts, read = [raw], len(raw)
    while read <= limit and (part := os.read(fd, min(1 << 16, limit + 1 - read))):
        parts.append(part)
        read += len(part)
    return b"".join(parts)


def _load_read(
    source: Path,
    raw: bytes,
    config: Config,
    problems: list[PostProblem],
    warn: Callable[[str], None],
) -> tuple[Post | None, list[PostProblem]]:
    """The post in a file's bytes (``raw``), and its problems (``problems``, to which
    ``warn`` adds)."""
    text = _read_text(raw, warn)
    match = _FM_BOUNDARY.match(text)
    if match is None:
        # Not a post at all, so its encoding is none of our business either; but a file of
        # a post's type in the posts folder was most likely meant as one (front matter
        # forgotten, or a file just created), so the editor is told rather than left to
        # wonder why it is in no feed.
        message = "empty file" if not text.strip() else _NO_FRONT_MATTER
        return None, _logged([PostProblem(source, f"{message}; skipped", "warning")])
    try:
        post = _build_post(source, _relpath(source, config), raw, text, match, config, warn)
    except _Invalid as exc:
        problems.append(PostProblem(source, str(exc)))
        return None, _logged(problems)
    except Exception as exc:  # a case nobody foresaw must not stop the other posts
        logger.exception("%s: unexpected error reading the post", source)
        problems.append(PostProblem(source, f"could not be read ({type(exc).__name__}: {exc})"))
        return None, problems
    logger.debug("%s: loaded %r", source, post.title)
    return post, _logged(problems)


_NO_FRONT_MATTER = "no front matter (a post starts with a '---' line)"

_CONCRETE_PATH = type(Path())


def _absolute(path: Path) -> Path:
    """``Path(os.path.abspath(path))``, reusing ``path`` when it already is that."""
    # load_posts passes absolute, normalised paths; parsing one into a new Path costs
    # more than the rest of working out where a post lives.
    absolute = os.path.abspath(path)
    if type(path) is _CONCRETE_PATH and str(path) == absolute:
        return path
    return Path(absolute)


def _logged(problems: list[PostProblem]) -> list[PostProblem]:
    # Debug only: the caller (the publisher, the CLI) reports problems once, at its level.
    for problem in problems:
        logger.debug("%s", problem)
    return problems


def _relpath(source: Path, config: Config) -> str:
    return walk.relpath(source, config.posts_dir)


# --------------------------------------------------------------------------- text hygiene

_C1_ERRORS = "syndicate.windows-1252-c1"


def _undefined_cp1252(exc: UnicodeError) -> tuple[str, int]:
    # Python's cp1252 leaves five bytes undefined; the WHATWG Encoding Standard (what
    # browsers do) maps them to the C1 code points, so decoding never fails.
    assert isinstance(exc, UnicodeDecodeError)
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error(_C1_ERRORS, _undefined_cp1252)

# Characters no feed should carry: everything outside the XML 1.0 ``Char`` production
# (section 2.2: C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF), plus
# what that section discourages and the W3C feed validator reports as "BadCharacters" or
# (through html5lib) "Invalid codepoint": DEL, the C1 controls U+0080-U+009F, the
# noncharacters U+FDD0-U+FDEF and U+nFFFE/U+nFFFF, and U+FFFD, which only marks text
# that was already lost.
#
# One negated class, listing the allowed ranges (each supplementary plane minus its last
# two code points), not an alternation: `re` scans for a pattern that starts with a single
# class in a tight C loop, but tries an alternation at every position, which was 15 times
# slower (330 vs 20 us for a 3.5 KB post) and the costliest step of reading a post.
_PLANE_ALLOWED = "".join(f"{chr(p << 16)}-{chr(p << 16 | 0xFFFD)}" for p in range(1, 17))
_FORBIDDEN_CHARS = re.compile(
    f"[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffc{_PLANE_ALLOWED}]"
)

# UTF-8 read as Windows-1252 or Latin-1 turns a lead byte (C2-F4) into one of these letters
# followed by a character that stands for a continuation byte (80-BF); Windows-1252 read as
# Latin-1 leaves C1 controls. Clean text almost never has either, so ftfy (about 2 ms per
# post) only runs where it can help. Written as one class first (a C1 control, or a lead
# letter that must then be followed by a continuation character) rather than as
# "C1|lead+continuation", so that `re` can scan for the class in C: twice as fast.
_C1_CONTROLS = "\u0080-\u009f"
_LEAD_LETTERS = "\u00c2-\u00f4"
_CONTINUATIONS = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
    "\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030"
    "\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE_HINT = re.compile(
    f"[{_C1_CONTROLS}{_LEAD_LETTERS}](?:(?<=[{_C1_CONTROLS}])|[{_CONTINUATIONS}])"
)

# Either of the two above, in one scan: a character _FORBIDDEN_CHARS removes (the class
# is its complement less the lead letters, which the look-behind then sets apart), or a
# lead letter followed by a continuation character. Every match of _MOJIBAKE_HINT is a
# match of this (C1 controls are forbidden characters too), so when this finds nothing
# the text is clean, found in one scan instead of two. Each scan costs about 60
# instructions a character; the two were over a quarter of reading a post.
_NEEDS_HYGIENE = re.compile(
    f"[^\t\n\r\x20-\x7e\xa0-\xc1\xf5-\ud7ff\ue000-\ufdcf\ufdf0-\ufffc{_PLANE_ALLOWED}]"
    f"(?:(?<![{_LEAD_LETTERS}])|[{_CONTINUATIONS}])"
)


@functools.cache
def _ftfy() -> Callable[[str], str]:
    """ftfy's ``fix_text`` with only the encoding repairs: everything that would change
    legitimate text (curly quotes, HTML entities in Markdown, ligatures, width,
    normalisation) stays off. Imported when a post first needs it: ftfy's tables take
    3 MB and 40 ms to load, and clean posts never reach it."""
    import ftfy

    config = ftfy.TextFixerConfig(
        unescape_html=False,
        remove_terminal_escapes=False,
        fix_encoding=True,
        restore_byte_a0=True,
        replace_lossy_sequences=True,
        decode_inconsistent_utf8=True,
        fix_c1_controls=True,
        fix_latin_ligatures=False,
        fix_character_width=False,
        uncurl_quotes=False,
        fix_line_breaks=False,
        fix_surrogates=True,
        remove_control_chars=False,
        normalization=None,
        explain=False,
    )
    return functools.partial(ftfy.fix_text, config=config)


def strip_forbidden_chars(text: str) -> str:
    """Remove characters XML 1.0 forbids or discourages and the feed validator reports."""
    if _is_printable(text):
        return text  # a title, a name, a path: usually one line with nothing to remove
    return _FORBIDDEN_CHARS.sub("", text)


def _is_printable(text: str) -> bool:
    """Whether ``text`` is one line with none of the characters _FORBIDDEN_CHARS removes.

    str.isprintable() is false for every one of them (control characters, surrogates and
    noncharacters are categories Cc, Cs and Cn) except U+FFFD, and checks a short string
    in a fraction of what running a regular expression costs.
    """
    return text.isprintable() and "\ufffd" not in text


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 that was decoded as Windows-1252/Latin-1 (``Ã©`` -> ``é``); fast on clean text."""
    # str.isascii() is O(1) in CPython, and ASCII text cannot hold mojibake.
    if text.isascii() or _MOJIBAKE_HINT.search(text) is None:
        return text
    return _ftfy()(text)


# What _NEEDS_HYGIENE looks for, in UTF-8. Every character it removes is encoded with
# one of these bytes: a C0 control or DEL is the byte itself, U+0080-U+00BF starts with
# C2, U+FDD0-U+FFFF with EF, the noncharacters above the BMP with F0-F4 (and a strict
# decoder lets no surrogate through). A lead letter (C3 82-B4) before a continuation
# character is followed by C2 or by C5, C6, CB or E2. A table look-up per byte and a
# search for C3 cost under a third of the character class, and settle most posts; text
# with one of these bytes (a no-break space, "«", an emoji) still gets the class.
# tests/test_posts_text.py checks both against every code point.
_UNCLEAN_BYTES = bytes(
    [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xC2, *range(0xEF, 0xF5)]
)
_LEAD_CONTINUATION_UTF8 = re.compile(b"\xc3[\x82-\xb4][\xc5\xc6\xcb\xe2]")


def _is_clean_utf8(raw: bytes) -> bool:
    """Whether UTF-8 ``raw`` decodes to text in which _NEEDS_HYGIENE finds nothing."""
    return (
        len(raw.translate(None, _UNCLEAN_BYTES)) == len(raw)
        and _LEAD_CONTINUATION_UTF8.search(raw) is None
    )


def _read_text(raw: bytes, warn: Callable[[str], None]) -> str:
    """Decode a post file and apply text hygiene, reporting what had to be repaired."""
    text, utf8 = _decode(raw, warn)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # What holds for the bytes holds for this text: making line ends LF removes nothing
    # _NEEDS_HYGIENE looks for, and only ever makes a character the neighbour of an LF.
    if (utf8 and _is_clean_utf8(raw)) or _NEEDS_HYGIENE.search(text) is None:
        return text  # nearly every post: no mojibake and nothing to remove
    fixed = repair_mojibake(text)
    if fixed != text:
        warn(f"repaired mojibake{_changed_lines(text, fixed)}")
        text = fixed
    cleaned, removed = _FORBIDDEN_CHARS.subn("", text)
    if removed:
        warn(f"removed {removed} control or non-character code point(s) that feeds cannot carry")
    return cleaned


def _decode(raw: bytes, warn: Callable[[str], None]) -> tuple[str, bool]:
    """The text of a file, and whether it was read as UTF-8."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), False
        except UnicodeDecodeError:
            pass
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]  # Jekyll drops a leading byte order mark too
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        warn(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); decoded as Windows-1252"
        )
        return raw.decode("cp1252", errors=_C1_ERRORS), False


def _changed_lines(before: str, after: str) -> str:
    old, new = before.split("\n"), after.split("\n")
    if len(old) != len(new):
        return ""
    lines = [str(i) for i, (a, b) in enumerate(zip(old, new, strict=True), 1) if a != b]
    if not lines:
        return ""
    shown = ", ".join(lines[:5]) + (", ..." if len(lines) > 5 else "")
    return f" on line{'s' if len(lines) > 1 else ''} {shown}"


_SCRIPT_STYLE_COMMENT = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"</?[A-Za-z][^>]*>|<![^>]*>|<\?[^>]*>")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


def plain_text(text: str) -> str:
    """Markup removed, entities decoded, whitespace collapsed (Liquid ``strip_html``)."""
    if "<" in text:
        # Only real tags go (a letter, '/', '!' or '?' after '<'), so "a < b" survives.
        text = _TAG.sub("", _SCRIPT_STYLE_COMMENT.sub("", text))
    if "&" in text:
        text = html.unescape(text)
    return _clean_line(text)


def _clean_line(text: str) -> str:
    """Forbidden characters removed, whitespace collapsed and stripped."""
    if _is_printable(text) and "  " not in text:
        return text.strip()  # its only whitespace is single spaces
    return _SPACES.sub(" ", strip_forbidden_chars(text)).strip()


# --------------------------------------------------------------------------- front matter

_FM_HANDLER = YAMLHandler()
_FM_BOUNDARY: re.Pattern[str] = _FM_HANDLER.FM_BOUNDARY or re.compile(r"^-{3,}\s*$", re.M)
_STR_TAG = "tag:yaml.org,2002:str"


class _FlatFrontMatter(yaml.constructor.SafeConstructor):
    """SafeConstructor with a shortcut for flat front matter: the same result, sooner.

    Front matter is nearly always a mapping of names to strings or lists of strings.
    PyYAML builds even those through several Python calls per value (look-up by tag, an
    alias check, a generator per collection): with libyaml composing the nodes, that was
    40 % of the YAML time (82 us for a typical post's front matter; 51 us with this).
    Strings are taken from their nodes as SafeConstructor takes them, every other scalar
    goes through SafeConstructor itself, and anything else (a nested mapping, a merge key,
    an alias of a list, a key that is not a string) gets the ordinary construction of the
    whole document. tests/test_posts_yaml.py checks the shortcut against plain PyYAML.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        if not self._is_flat(node):
            return super().construct_document(node)
        assert isinstance(node, yaml.MappingNode)
        data: dict[Any, Any] = {}
        lists: list[tuple[list[Any], yaml.SequenceNode]] = []
        try:
            for key_node, value_node in node.value:
                if type(value_node) is yaml.ScalarNode:
                    value: Any = self._construct_scalar(value_node)
                else:
                    value = []
                    lists.append((value, value_node))
                data[key_node.value] = value  # a repeated key: the last one wins, as in PyYAML
            # Items after every top-level value, in PyYAML's order, so that a document
            # with two bad values reports the same one.
            for items, sequence in lists:
                items.extend(self._construct_scalar(item) for item in sequence.value)
        finally:
            self.constructed_objects = {}  # what construct_document leaves behind as well
        return data

    @staticmethod
    def _is_flat(node: yaml.Node) -> bool:
        if type(node) is not yaml.MappingNode or node.tag != "tag:yaml.org,2002:map":
            return False
        lists: set[int] = set()
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or key_node.tag != _STR_TAG:
                return False  # also a merge key ("<<") or a key that is not a string
            if type(value_node) is yaml.ScalarNode:
                continue
            if (
                type(value_node) is not yaml.SequenceNode
                or value_node.tag != "tag:yaml.org,2002:seq"
                or id(value_node) in lists  # an alias: PyYAML gives both keys one list
                or any(type(item) is not yaml.ScalarNode for item in value_node.value)
            ):
                return False
            lists.add(id(value_node))
        return True

    def _construct_scalar(self, node: yaml.ScalarNode) -> Any:
        # SafeConstructor.construct_yaml_str returns the node's value as it is.
        return node.value if node.tag == _STR_TAG else self.construct_object(node)


# Resolver.resolve(kind, value, implicit): the tag of a node without an explicit one.
_resolve_tag = functools.lru_cache(maxsize=1024)(yaml.resolver.Resolver().resolve)


class _ResolverHooks:
    """The resolver methods the composer calls for every node, answering as before, sooner.

    libyaml's composer (like composer.py) calls three Python methods per node: these were
    a quarter of the time to read a typical front matter. ``descend_resolver`` and
    ``ascend_resolver`` only serve path resolvers (``yaml.add_path_resolver``), which this
    loader never has: any C function that ignores its arguments does as well ("is" and
    ``tuple()`` here). ``resolve`` depends only on its arguments once there are no path
    resolvers, and front matter repeats its keys in every post: a cache answers those in C.
    tests/test_posts_yaml.py checks the loader against plain PyYAML.
    """

    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)
    resolve = staticmethod(_resolve_tag)


# libyaml parses front matter several times faster; 10k posts are read on every scan.
_YAML_LOADER: Any = type(
    "_FrontMatterLoader",
    (_FlatFrontMatter, _ResolverHooks, getattr(yaml, "CSafeLoader", yaml.SafeLoader)),
    {},
)

_FILENAME_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:-(.*))?$", re.S)


def _suffix(name: str) -> str:
    """A file name's suffix as ``PurePath.suffix`` gives it: "" for ".bashrc" or "a."."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _without_suffix(relpath: str) -> str:
    """``str(PurePosixPath(relpath).with_suffix(""))`` for a post's relpath, which has no
    empty or "." parts for pathlib to drop; without parsing it into a path object."""
    return relpath[: len(relpath) - len(_suffix(relpath.rpartition("/")[2]))]


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _front_matter_end(text: str, start: re.Match[str]) -> re.Match[str]:
    """The closing ``---`` line of the front matter that ``start`` opens."""
    end = _FM_BOUNDARY.search(text, start.end())
    if end is None:
        raise _Invalid("front matter starts with '---' but has no closing '---' line")
    return end


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
            if walk.not_regular(statted.st_mode) is not None:
                raise PostChanged(source, "not a regular file any more")
            raw = _read_all(fd, statted.st_size, statted.st_size)
        finally:
            os.close(fd)
    except OSError as exc:
        raise PostChanged(source, f"cannot read file again: {exc.strerror or exc}") from exc
    if hashlib.sha256(raw).hexdigest() != digest:
        raise PostChanged(source, "changed since it was read")
    # The same steps as load_post, whose warnings were reported when it was read.
    text = _read_text(raw, lambda message: None)
    start = _FM_BOUNDARY.match(text)
    if start is None:
        raise PostChanged(source, "no front matter any more")
    try:
        end = _front_matter_end(text, start)
    except _Invalid as exc:
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
    changes no post's value: only where its body comes from. At 10,000 posts the
    bodies are 60 MB, and a service needs almost none of them again.
    """
    for post in posts:
        post.__dict__.pop("body", None)


def share_values(post: Post, pool: dict[Any, Any]) -> None:
    """Make the values ``post`` has in common with other posts (its author, its
    categories and tags and each of their names, its image's media type) the very
    objects ``pool`` holds, keeping the first of each in ``pool``.

    Every post read or unpickled has its own copies: at 10,000 posts of 20 authors and
    400 tags they were some 5 MB of a service's memory. Like ``drop_bodies``, this
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


def _build_post(
    source: Path,
    relpath: str,
    raw: bytes,
    text: str,
    start: re.Match[str],
    config: Config,
    warn: Callable[[str], None],
) -> Post:
    end = _front_matter_end(text, start)
    first_line = text.count("\n", 0, start.end()) + 1
    data = _parse_yaml(text[start.end() : end.start()], first_line)
    body = text[end.end() :].strip("\n")

    tz = config.site.tz
    stem = _without_suffix(relpath).rpartition("/")[2]
    name_match = _FILENAME_DATE.match(stem)
    name_slug = stem
    name_date: date | None = None
    if name_match:
        name_slug = name_match.group(4) or ""
        try:
            name_date = date(*(int(name_match.group(i)) for i in (1, 2, 3)))
        except ValueError:
            name_slug = stem

    title = _title(data.get("title"), name_slug, warn)
    if data.get("date") is not None:
        posted = _to_utc(data["date"], "date", tz)
    elif name_date is not None:
        posted = datetime.combine(name_date, time(), tz).astimezone(UTC)
    else:
        raise _Invalid("date: missing, and the file name does not start with YYYY-MM-DD-")
    updated = None
    for key in ("last_modified_at", "updated"):
        if data.get(key) is not None:
            updated = _to_utc(data[key], key, tz)
            break

    author = _author(data.get("author"), config)
    categories = _names(data, "category", "categories", warn)
    tags = _names(data, "tag", "tags", warn)
    _warn_markup_names(title, author, categories, tags, warn)
    slug_value = _optional_str(data, "slug", warn)
    title_slug = slug_value or name_slug or slugify(title)
    url = _permalink(data, config, posted, categories, title_slug, stem, warn)
    return Post(
        source=source,
        relpath=relpath,
        digest=hashlib.sha256(raw).hexdigest(),
        title=title,
        date=posted,
        updated=updated,
        author=author,
        categories=categories,
        tags=tags,
        url=url,
        entry_id=_entry_id(data, config, posted, relpath, warn),
        image=_image(data.get("image"), config, warn),
        lang=_lang(data, warn),
        body=body,
        excerpt=_optional_str(data, "excerpt", warn, strip=False),
        is_html=relpath.lower().endswith(".html"),
        published=_published(data, warn),
        front_id=data.get("id") not in (None, ""),
    )


# Typical front matter is lines of a key, then a double-quoted string without escapes, a
# plain scalar, or a flow list of such strings and scalars: all that most generators and
# editors write. _parse_simple_yaml reads those lines without PyYAML, and only those:
#
# - Every line is printable (str.isprintable(): no controls, tabs, line breaks, BOM,
#   surrogates or noncharacters), so libyaml would take each character as it is.
# - A plain scalar starts with a letter, a digit, a character above ASCII or one of
#   _ . / + (never with an indicator); holds none of " # $ & * ! | > [ ] { } < @ \ ` ^
#   and, in a list, no other ASCII punctuation but _ . / + - either. _simple_scalar
#   turns down a run of spaces, a trailing space and a ":" that would end the scalar.
_YAML_FIRST = r"""[^ !"#$%&'()*,:;<=>?@\[\\\]^`{|}~-]"""
_YAML_PLAIN = _YAML_FIRST + r"""[^"#$&*!|>\[\]{}<@\\`^]*"""
_YAML_FLOW_PLAIN = _YAML_FIRST + r"""[^!"#$%&'()*,:;<=>?@\[\\\]^`{|}~]*"""
_YAML_ITEM = r'"[^"\\]*"|' + _YAML_FLOW_PLAIN
_YAML_SIMPLE_LINE = re.compile(
    r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(?:"  # the key, then one of:
    r'"([^"\\]*)"'  # a double-quoted string,
    rf"|\[((?:(?:{_YAML_ITEM})(?:, *(?:{_YAML_ITEM}))*)?)\]"  # a flow list's items,
    rf"|({_YAML_PLAIN})"  # a plain scalar,
    r"))?"  # or nothing (null).
)
# The items of a list that _YAML_SIMPLE_LINE matched: (quoted, plain).
_YAML_ITEMS = re.compile(r'"([^"\\]*)"|(' + _YAML_FLOW_PLAIN + ")")

# What SafeConstructor builds from a plain scalar's text alone, by the tag it resolves to.
_SAFE_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_PLAIN_CONSTRUCTORS = {
    tag: _SAFE_CONSTRUCTOR.yaml_constructors[tag]
    for tag in map("tag:yaml.org,2002:{}".format, ("bool", "int", "float", "null", "timestamp"))
}

_Scalar = tuple[str, str]  # (tag, text)


def _parse_simple_yaml(source: str) -> dict[str, Any] | None:
    """Front matter made only of _YAML_SIMPLE_LINE lines (and empty ones) as
    _YAML_LOADER reads it, or None for anything else.

    Even with libyaml, PyYAML spends most of its time on such a document in Python (a
    node, a resolver call and a constructor call per value): this takes half as long.
    Plain scalars are resolved by PyYAML's resolver and built by SafeConstructor, in
    _FlatFrontMatter's order (top-level values, then list items), so that of two bad
    values (date: 2025-02-30) the same one is reported; and nothing is built before every
    line is known to be simple, as PyYAML reports a syntax error before any bad value.
    tests/test_posts_yaml.py checks this against PyYAML.
    """
    entries: list[tuple[str, _Scalar | list[_Scalar]]] = []
    try:
        for line in source.split("\n"):
            if not line:
                continue
            match = _YAML_SIMPLE_LINE.fullmatch(line) if line.isprintable() else None
            if match is None:
                return None
            key, quoted, items, plain = match.groups()
            if _resolve_tag(yaml.ScalarNode, key, (True, False)) != _STR_TAG:
                return None  # "yes", "null", ...: a key that is not a string
            value: _Scalar | list[_Scalar]
            if quoted is not None:
                value = (_STR_TAG, quoted)
            elif items is not None:
                value = [_simple_scalar(*item.groups()) for item in _YAML_ITEMS.finditer(items)]
            else:
                value = _simple_scalar(None, plain or "")  # "key:" alone: empty, so null
            entries.append((key, value))
    except _NotSimple:
        return None
    if not entries:
        return None
    data: dict[str, Any] = {}
    lists: list[tuple[list[Any], list[_Scalar]]] = []
    for key, value in entries:
        if isinstance(value, list):
            built: list[Any] = []
            lists.append((built, value))
            data[key] = built
        else:
            data[key] = _build_scalar(value)  # a repeated key: the last one wins, as in PyYAML
    for built, scalars in lists:
        built.extend([_build_scalar(scalar) for scalar in scalars])
    return data


class _NotSimple(Exception):
    """A scalar that _parse_simple_yaml leaves to PyYAML."""


def _simple_scalar(quoted: str | None, plain: str) -> _Scalar:
    """(tag, text) of a scalar on a simple line. _NotSimple if it is not one after all, or
    if SafeConstructor needs more than its text ("=" and "<<" have tags of their own)."""
    if quoted is not None:
        return _STR_TAG, quoted
    if "  " in plain or plain.endswith((" ", ":")) or ": " in plain:
        raise _NotSimple(plain)
    tag = _resolve_tag(yaml.ScalarNode, plain, (True, False))
    if tag != _STR_TAG and tag not in _PLAIN_CONSTRUCTORS:
        raise _NotSimple(plain)
    return tag, plain


def _build_scalar(scalar: _Scalar) -> Any:
    tag, text = scalar
    if tag == _STR_TAG:
        return text
    return _PLAIN_CONSTRUCTORS[tag](_SAFE_CONSTRUCTOR, yaml.ScalarNode(tag, text))


def _parse_yaml(source: str, first_line: int) -> Mapping[str, Any]:
    try:
        data = _parse_simple_yaml(source)
        if data is None:
            data = _FM_HANDLER.load(source, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        # libyaml notices some mistakes a line late ("did not find expected ']'" on the line
        # after an unclosed list), so name where the construct started as well.
        parts = []
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
            if text:
                where = (
                    f" (line {first_line + mark.line}, column {mark.column + 1})" if mark else ""
                )
                parts.append(f"{text}{where}")
        raise _Invalid(f"invalid YAML front matter: {': '.join(parts) or exc}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # PyYAML raises ValueError for impossible timestamps such as 2025-02-30.
        raise _Invalid(f"invalid YAML front matter: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _Invalid(f"front matter: expected a mapping, got {_type_name(data)}")
    return {str(key): value for key, value in data.items()}


def _title(value: object, name_slug: str, warn: Callable[[str], None]) -> str:
    if value is not None and not isinstance(value, str):
        raise _Invalid(f"title: expected a string, got {_type_name(value)}")
    title = plain_text(value) if value else ""
    if not title:
        # Jekyll's Utils.titleize_slug: "my-first-post" -> "My First Post".
        title = " ".join(word.capitalize() for word in name_slug.split("-") if word)
        title = title or "Untitled"
        warn(f"title: missing; using {title!r} from the file name")
    return title


_DATE_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def _to_utc(value: object, key: str, tz: tzinfo) -> datetime:
    """A front-matter date as aware UTC; naive values are in the site's time zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        moment = _parse_date_string(value, key)
    else:
        raise _Invalid(f"{key}: expected a date, got {_type_name(value)}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=tz)
    try:
        moment.astimezone(tz)  # the permalink and the feeds show it in the site's zone
        return moment.astimezone(UTC)
    except OverflowError:
        # 9999-12-31 23:59 -1200 exists, but not in UTC.
        raise _Invalid(f"{key}: {moment.isoformat(' ')} is out of the range of dates") from None


def _parse_date_string(value: str, key: str) -> datetime:
    text = value.strip()
    return _parse_common_date(text) or _parse_any_date(text, value, key)


# The forms Jekyll sites write, most of all the one YAML does not already turn into a
# timestamp ("2025-06-19 10:00:00 +0100": PyYAML wants a colon in the offset). dateutil
# takes about 300 us for such a string, which was a third of the time to read a post; this
# takes 3 us. ASCII digits only, a year from 1000, hours below 24 and offsets below 24:00:
# anything else (and an impossible date such as 2025-02-30) goes to dateutil, so the
# result and the error message are dateutil's. tests/test_posts_dates.py checks that both
# paths agree.
_COMMON_DATE = re.compile(
    r"([1-9]\d{3})-(\d{2})-(\d{2})"
    r"(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?"
    r" ?(?:(Z)|([+-])([01]\d|2[0-3])(?::?([0-5]\d))?)?)?",
    re.ASCII,
)


def _parse_common_date(text: str) -> datetime | None:
    """``YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]][ ](Z|+HH[[:]MM])]``, or None for any other form."""
    match = _COMMON_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    zone: tzinfo | None = None
    if zulu:
        zone = UTC
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=zone,
        )
    except ValueError:
        return None  # e.g. 2025-02-30: let dateutil word the error


def _parse_any_date(text: str, value: str, key: str) -> datetime:
    """Parse ``text`` (``value`` stripped) with dateutil: ISO 8601 first, then free-form."""
    if not any(c.isdigit() for c in text):
        raise _Invalid(f"{key}: cannot parse {value!r}")
    try:
        return dateparser.isoparse(text)
    except (ValueError, OverflowError):
        pass

    def zone(name: str | None, offset: int | None) -> tzinfo | None:
        # A callable makes dateutil ask us about every zone instead of guessing from the
        # machine's own zone names (and warning about the rest).
        if offset is not None:
            return timezone(timedelta(seconds=offset))
        if not name:
            return None
        if name.upper() in ("UTC", "GMT", "Z", "UT"):
            return UTC
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Invalid(f"{key}: unknown time zone {name!r} in {value!r}") from None

    # Missing parts are filled from `default`: two defaults that differ in year, month and
    # day tell us whether the string named a full date, so "June 19" or "10:00" is an error,
    # not a guess. The second parse is needed only when the first result shows a default
    # value: a part that differs from the default must have come from the string (a weekday
    # moves a missing day forward from the 1st or the 2nd to the same date, so it cannot
    # hide one either).
    first_default, second_default = _DATE_DEFAULTS
    try:
        first = second = dateparser.parse(text, default=first_default, tzinfos=zone)
        if (
            first.year == first_default.year
            or first.month == first_default.month
            or first.day == first_default.day
        ):
            second = dateparser.parse(text, default=second_default, tzinfos=zone)
    except (ValueError, OverflowError):
        raise _Invalid(f"{key}: cannot parse {value!r}") from None
    if first.date() != second.date():
        raise _Invalid(f"{key}: {value!r} is not a full date (year, month and day)")
    return first


def _author(value: object, config: Config) -> Author | None:
    if isinstance(value, list) and value:
        # jekyll-seo-tag credits the first of several authors.
        value = value[0]
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        name = plain_text(value)
        return config.authors.get(value.strip()) or Author(name=name)
    if isinstance(value, Mapping):
        fields: dict[str, str | None] = {}
        for key in ("name", "email", "uri"):
            item = value.get(key)
            if item is not None and not isinstance(item, str):
                raise _Invalid(f"author.{key}: expected a string, got {_type_name(item)}")
            fields[key] = strip_forbidden_chars(item).strip() if item else None
        if not fields["name"]:
            raise _Invalid("author: a mapping needs a 'name'")
        return Author(name=plain_text(fields["name"]), email=fields["email"], uri=fields["uri"])
    raise _Invalid(f"author: expected a string or a mapping, got {_type_name(value)}")


def _names(
    data: Mapping[str, Any], singular: str, plural: str, warn: Callable[[str], None]
) -> tuple[str, ...]:
    """Categories or tags with Jekyll's ``pluralized_array_from_hash`` semantics."""
    # The singular key wins and a string there is one name; a string under the plural key
    # is split on whitespace ("categories: news politics" is two categories).
    key = singular if data.get(singular) is not None else plural
    value = data.get(key)
    items: Iterable[object]
    if value is None:
        return ()
    if isinstance(value, str):
        items = [value] if key == singular else value.split()
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    names: dict[str, None] = {}
    for item in items:
        if isinstance(item, bool):
            item = "true" if item else "false"  # YAML's spelling, not Python's
        if item is None:
            continue
        if isinstance(item, Mapping | list):
            warn(f"{key}: ignored a {_type_name(item)} (expected strings)")
            continue
        name = _clean_line(str(item))
        if name:
            names.setdefault(name, None)  # dict keeps the first occurrence's position
    return tuple(names)


# What the W3C validator takes for markup in a plain-text name (validators.py, nonhtml):
# an end tag, or an "&" and a word that is a character entity's name or not all letters.
# The feeds say such a name as it is, but readers and validators that guess at HTML in
# RSS (and the validator in Atom labels and titles too) read it as markup.
_END_TAG = re.compile(r"</[A-Za-z][\w-]*>")
_AMPERSAND_WORD = re.compile(r"&(#?\w+)")


def _markup_in(name: str) -> str | None:
    """The part of a plain-text name that would be read as HTML markup, if any."""
    if "<" in name:
        found = _END_TAG.search(name)
        if found:
            return found.group()
    if "&" in name:
        for found in _AMPERSAND_WORD.finditer(name):
            word = found.group(1)
            if word in html.entities.name2codepoint or word == "apos" or not word.isalpha():
                return found.group()
    return None


def _warn_markup_names(
    title: str,
    author: Author | None,
    categories: tuple[str, ...],
    tags: tuple[str, ...],
    warn: Callable[[str], None],
) -> None:
    """Warn of names that look like HTML: nothing can write them so that every reader and
    validator takes them as the plain text they are."""
    named = [("title", title), ("author", author.name if author else "")]
    named += [("categories", name) for name in categories] + [("tags", name) for name in tags]
    for key, name in named:
        markup = _markup_in(name) if name else None
        if markup is not None:
            warn(_markup_message(key, name, markup))


def _markup_message(key: str, name: str, markup: str) -> str:
    return (
        f"{key}: {name!r} looks like HTML ({markup!r}): validators and some readers "
        'take it for markup; write the character itself ("&" and "<" alone are fine)'
    )


def site_markup_problems(config: Config, path: Path) -> list[PostProblem]:
    """Warnings (for ``check``, naming the config file ``path``) of the site's names that
    look like HTML, as ``load_post`` warns of a post's: every feed carries them."""
    site = config.site
    named = [("site.title", site.title), ("site.description", site.description)]
    if site.author is not None:
        named.append(("site.author.name", site.author.name))
    problems = []
    for key, name in named:
        markup = _markup_in(name) if name else None
        if markup is not None:
            problems.append(PostProblem(path, _markup_message(key, name, markup), "warning"))
    return problems


def _optional_str(
    data: Mapping[str, Any], key: str, warn: Callable[[str], None], *, strip: bool = True
) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        warn(f"{key}: expected a string, got {_type_name(value)}; ignored")
        return None
    text = strip_forbidden_chars(str(value))
    if strip:
        text = text.strip()
    return text if text.strip() else None


def _lang(data: Mapping[str, Any], warn: Callable[[str], None]) -> str | None:
    """The post's ``lang`` as a BCP 47 tag (``pt_BR`` becomes ``pt-BR``); a value that
    is not one is left out with a warning: ``xml:lang="pt BR"`` makes the whole feed
    invalid (RFC 4287 2, XML 1.0 2.12), while a post without it has the site's."""
    value = _optional_str(data, "lang", warn)
    if value is None:
        return None
    tag = normalise_language(value)
    if tag is None:
        warn(
            f"lang: {value!r} is not a BCP 47 language tag (e.g. en or pt-BR); published without it"
        )
    return tag


def _published(data: Mapping[str, Any], warn: Callable[[str], None]) -> bool:
    for key, hidden_when in (("published", False), ("draft", True)):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "yes", "on", "1"):
                value = True
            elif lowered in ("false", "no", "off", "0"):
                value = False
        if not isinstance(value, bool):
            warn(f"{key}: expected true or false, got {_type_name(value)}; ignored")
            continue
        if value is hidden_when:
            return False
    return True


# --------------------------------------------------------------------------- URLs

# Characters kept as they are when a path becomes a URL: RFC 3986 unreserved, sub-delims,
# ':', '@', '/', and '%' (an already-escaped sequence must not be escaped twice).
_URL_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What quote() keeps as it is (ASCII letters, digits, "_.-~" and _URL_PATH_SAFE), but "%":
# a path made only of these needs neither quote() nor _LONE_PERCENT (a third of the cost).
_URL_PATH_AS_IS = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")


def _quote_path(path: str) -> str:
    if _URL_PATH_AS_IS.fullmatch(path):
        return path
    return _LONE_PERCENT.sub("%25", quote(path, safe=_URL_PATH_SAFE))


_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")


def _site_url(config: Config, path: str) -> str:
    """A path relative to the site (a leading '/' too), as Jekyll's ``absolute_url`` does."""
    quoted = _quote_path(path.lstrip("/"))
    if _DOT_SEGMENT.search(quoted) is None:
        return config.site.url + quoted  # site.url always ends with "/"
    # urljoin removes "." and ".." segments (RFC 3986 5.2.4); "./" keeps a colon in the
    # first segment from being read as a URL scheme.
    return urljoin(config.site.url, "./" + quoted)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _url_scheme(ref: str) -> str:
    """``urlsplit(ref).scheme``, without splitting a plain path such as "assets/x.jpg"."""
    # urlsplit's cache does not help with one reference per post. A plain path is one that
    # urlsplit would not strip (leading controls or spaces) or clean (tabs, newlines), whose
    # scheme would be empty (no _SCHEME prefix), and without the "//" that makes it check a
    # host and perhaps raise; anything else goes through urlsplit itself.
    if (
        ref[:1] > " "
        and _SCHEME.match(ref) is None
        and not ref.startswith("//")
        and "\t" not in ref
        and "\n" not in ref
        and "\r" not in ref
    ):
        return ""
    return urlsplit(ref).scheme


_PLACEHOLDER = re.compile(r":([a-z_]+)")
# Month names are fixed English, as in Jekyll: strftime("%b") would follow the locale.
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip


class _UrlParts(NamedTuple):
    local: datetime  # the post's date in the site's time zone
    categories: Sequence[str]
    title_slug: str
    stem: str


# A site has a few dozen categories shared by thousands of posts, and python-slugify takes
# about 10 us a name (half of building a permalink); it is a pure function of the name.
_category_slug = functools.lru_cache(maxsize=1024)(slugify)

# Jekyll's permalink placeholders (Jekyll::Drops::UrlDrop); computed only when used.
_PLACEHOLDERS: Mapping[str, Callable[[_UrlParts], str]] = {
    "year": lambda p: f"{p.local.year:04d}",
    "short_year": lambda p: f"{p.local.year % 100:02d}",
    "month": lambda p: f"{p.local.month:02d}",
    "i_month": lambda p: str(p.local.month),
    "short_month": lambda p: _MONTHS[p.local.month - 1][:3],
    "long_month": lambda p: _MONTHS[p.local.month - 1],
    "day": lambda p: f"{p.local.day:02d}",
    "i_day": lambda p: str(p.local.day),
    "y_day": lambda p: f"{p.local.timetuple().tm_yday:03d}",
    "hour": lambda p: f"{p.local.hour:02d}",
    "minute": lambda p: f"{p.local.minute:02d}",
    "second": lambda p: f"{p.local.second:02d}",
    "title": lambda p: p.title_slug,
    "slug": lambda p: slugify(p.title_slug) or p.title_slug,
    "name": lambda p: p.stem,
    # Lower-case ASCII slugs joined by "/"; empty when the post has no categories.
    "categories": lambda p: "/".join(s for s in map(_category_slug, p.categories) if s),
    "output_ext": lambda p: ".html",
}

_Template = tuple[tuple[tuple[str, Callable[[_UrlParts], str]], ...], str]


@functools.lru_cache(maxsize=256)
def _permalink_template(pattern: str) -> _Template:
    """A permalink pattern as (text, placeholder) pairs and the text after the last one.

    Expanding it is then a join, where a regular-expression substitution called back into
    Python for every placeholder. Unknown placeholders stay as written, as in Jekyll.
    """
    # With its group, split() gives text, name, text, name, ..., text.
    pieces = _PLACEHOLDER.split(pattern)
    pairs: list[tuple[str, Callable[[_UrlParts], str]]] = []
    text = pieces[0]
    for name, after in zip(pieces[1::2], pieces[2::2], strict=True):
        make = _PLACEHOLDERS.get(name)
        if make is None:
            text += f":{name}{after}"
        else:
            pairs.append((text, make))
            text = after
    return tuple(pairs), text


_SLASHES = re.compile("/{2,}")


def _permalink(
    data: Mapping[str, Any],
    config: Config,
    posted: datetime,
    categories: Sequence[str],
    title_slug: str,
    stem: str,
    warn: Callable[[str], None],
) -> str:
    pattern = config.site.permalink
    value = data.get("permalink")
    if isinstance(value, str):
        value = strip_forbidden_chars(value).strip()
        try:
            scheme = _url_scheme(value)
        except ValueError as exc:  # "http://[oops/": Invalid IPv6 URL
            warn(f"permalink: {value!r} is not a valid URL ({exc}); ignored")
            scheme, value = "", ""
        if scheme in ("http", "https"):
            try:
                return http_uri(value, "permalink")  # an IRI as the URI feeds must carry
            except ConfigError as exc:
                warn(f"{exc}; ignored")
                scheme, value = "", ""
        if scheme:
            warn(f"permalink: {value!r} is not an http(s) URL or a path; ignored")
        elif value:
            # Jekyll expands placeholders in a post's own permalink too ("/:year/:title/").
            pattern = value
    elif value is not None:
        warn(f"permalink: expected a string, got {_type_name(value)}; ignored")
    parts = _UrlParts(posted.astimezone(config.site.tz), categories, title_slug, stem)
    pairs, tail = _permalink_template(pattern)
    path = "/" + "".join([text + make(parts) for text, make in pairs]) + tail
    if "//" in path:
        # An empty :categories must not leave "//" behind (Jekyll drops "/:categories").
        path = _SLASHES.sub("/", path)
    return _site_url(config, path)


def _entry_id(
    data: Mapping[str, Any],
    config: Config,
    posted: datetime,
    relpath: str,
    warn: Callable[[str], None],
) -> str:
    value = data.get("id")
    if value is not None and value != "":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _Invalid(f"id: expected a string, got {_type_name(value)}")
        entry_id = strip_forbidden_chars(str(value)).strip()
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", entry_id):
            warn(f"id: {entry_id!r} is not an absolute URI, which Atom requires (RFC 4287 4.2.6)")
        return entry_id
    # RFC 4151: tag:<authority>,<date>:<specific>. Built from the file's path and the
    # post's day only, so retitling a post or changing the permalink style keeps its id.
    domain = _tag_authority(config.site)
    specific = _without_suffix(relpath)
    return f"tag:{domain},{posted.date().isoformat()}:{quote(specific, safe=_URL_PATH_SAFE[:-1])}"


@functools.lru_cache(maxsize=16)
def _tag_authority(site: SiteConfig) -> str:
    """The site's domain, IDNA-encoded when it can be (the codec is slow, and one site's
    domain is the authority of every post's id)."""
    domain = site.domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


# Fixed table first: the system's mimetypes database differs between machines, and the
# same post must give the same enclosure everywhere.
_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    ".bmp": "image/bmp",
    ".ico": "image/vnd.microsoft.icon",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".jxl": "image/jxl",
}


def _media_type(url: str) -> str:
    path = unquote(urlsplit(url).path)
    name = path.rpartition("/")[2]
    if name in ("", "."):
        name = PurePosixPath(path).name  # pathlib skips empty and "." parts
    suffix = _suffix(name).lower()
    if suffix in _IMAGE_TYPES:
        return _IMAGE_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path, strict=False)
    # An enclosure must not claim a type we do not know (RSS 2.0 `type` is required).
    return guessed or "application/octet-stream"


def _image(value: object, config: Config, warn: Callable[[str], None]) -> Image | None:
    if isinstance(value, Mapping):
        # jekyll-seo-tag: image: {path: ..., height: ..., width: ..., alt: ...}
        value = value.get("path")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        warn(f"image: expected a string or a mapping with 'path', got {_type_name(value)}")
        return None
    ref = strip_forbidden_chars(value).strip()
    try:
        scheme = _url_scheme(ref)
    except ValueError as exc:  # "http://[oops/a.jpg": Invalid IPv6 URL
        warn(f"image: {ref!r} is not a valid URL ({exc}); ignored")
        return None
    if scheme in ("http", "https"):
        try:
            url = http_uri(ref, "image")  # an IRI as the URI feeds must carry
        except ConfigError as exc:
            warn(f"{exc}; ignored")
            return None
    elif ref.startswith("//"):
        url = urljoin(config.site.url, ref)
    elif scheme:
        warn(f"image: {ref!r} is not an http(s) URL or a path; ignored")
        return None
    else:
        # Deliberately against the SITE url, not the post's: Jekyll front matter
        # (jekyll-seo-tag, jekyll-feed) treats `image` like `absolute_url`, so
        # "assets/x.jpg" means https://example.org/assets/x.jpg for every post.
        url = _site_url(config, ref)
        length = _asset_size(url, config)
        if (".." in ref or "%" in ref) and _climbs_out(ref):  # "%2e%2e" is ".." to a browser
            # Most likely written relative to the post's file ("../assets/x.jpg"); the URL
            # is what a browser would make of it, and a length is still only ever read
            # from inside assets_dir (_asset_size).
            warn(
                f"image: {ref!r} climbs out of the site with '..' "
                "(an image path is relative to the site's root)"
            )
        elif length is None and config.assets_dir is not None:
            shown = _shown_dir(config.assets_dir, config)
            warn(f"image: {ref!r} is not in assets_dir ({shown}); its enclosure has no length")
        return Image(url=url, media_type=_media_type(url), length=length)
    return Image(url=url, media_type=_media_type(url), length=_asset_size(url, config))


def _climbs_out(ref: str) -> bool:
    """Whether a path relative to the site's root goes above it with ``..`` segments."""
    depth = 0
    for segment in unquote(_QUERY_OR_FRAGMENT.split(ref, 1)[0]).split("/"):
        if segment == "..":
            if depth == 0:
                return True
            depth -= 1
        elif segment not in ("", "."):
            depth += 1
    return False


_QUERY_OR_FRAGMENT = re.compile(r"[?#]")


def _shown_dir(folder: Path, config: Config) -> str:
    """A folder of the config as an editor wrote it: relative to the config's folder."""
    return (
        str(folder.relative_to(config.root)) if folder.is_relative_to(config.root) else str(folder)
    )


def image_changed(post: Post, config: Config) -> bool:
    """Whether the file behind ``post``'s image in ``assets_dir`` is no longer the size
    its enclosure says (replaced, added or removed since the post was read)."""
    if post.image is None or config.assets_dir is None:
        return False
    return _asset_size(post.image.url, config) != post.image.length


def _asset_size(url: str, config: Config) -> int | None:
    """Size of the file behind ``url`` if it lies inside ``assets_dir``; never looks outside."""
    if config.assets_dir is None:
        return None
    site, target = urlsplit(config.site.url), urlsplit(url)
    if (target.scheme, target.netloc) != (site.scheme, site.netloc):
        return None
    if not target.path.startswith(site.path):
        return None
    rel = unquote(target.path[len(site.path) :]).lstrip("/")
    if not rel or "\x00" in rel:
        return None
    # Strings and one stat of each file, where pathlib made Paths and three stats (resolve,
    # is_file, stat): half the time, which was a fifth of reading a post with an image.
    assets, _ = _real_path(str(config.assets_dir))
    # "assets/images/x.jpg" usually names assets_dir itself; a bare "images/x.jpg" may too.
    for folder in (os.path.dirname(assets), assets):
        try:
            real, found = _real_path(os.path.join(folder, rel))
        except OSError:
            continue
        if found is not None and stat.S_ISREG(found.st_mode) and _is_within(real, assets):
            return found.st_size
    return None


def _real_path(path: str) -> tuple[str, os.stat_result | None]:
    """``Path(path).resolve()`` as a string, and its stat (None if that failed: a missing
    file, or a symlink loop, which is no file either)."""
    real = os.path.realpath(path)
    try:
        return real, os.stat(real)
    except OSError:
        return real, None


def _is_within(path: str, folder: str) -> bool:
    """``PurePath(path).is_relative_to(folder)`` for normalised absolute paths."""
    return path == folder or path.startswith(folder if folder.endswith("/") else folder + "/")


# --------------------------------------------------------------------------- rendering

# CommonMark through cmark-gfm, the reference C implementation of the spec (GitHub's
# fork, as PyPI renders READMEs with): about 13 times faster than markdown-it-py on our
# posts and the same HTML. Raw HTML passes ("unsafe") because nh3 sanitises after; of
# GitHub's extensions only tables and strikethrough (~~two tildes~~: "H~2~O" stays as
# written), no autolinks or tag filter.
_CMARK_OPTIONS = CmarkOptions.CMARK_OPT_UNSAFE | CmarkOptions.CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE
_CMARK_EXTENSIONS = ("table", "strikethrough")
# cmark-gfm aligns table cells with the align attribute, obsolete in HTML5; readers and
# validators expect the CSS form markdown-it wrote before.
_CELL_ALIGN = re.compile(r'<(t[hd]) align="(left|center|right)">')


def markdown_to_html(source: str) -> str:
    """CommonMark (plus tables and strikethrough) to HTML, not yet sanitised."""
    # cmarkgfm.markdown_to_html_with_extensions, step by step, freeing what it leaks:
    # the document tree and the HTML (some 20 KB a post: 80 MB to render 4,000 posts).
    lib, ffi = _cmark.lib, _cmark.ffi
    parser = lib.cmark_parser_new(_CMARK_OPTIONS)
    try:
        for extension in _cmark_extensions():
            lib.cmark_parser_attach_syntax_extension(parser, extension)
        data = source.encode("utf-8")
        lib.cmark_parser_feed(parser, data, len(data))
        root = lib.cmark_parser_finish(parser)
        try:
            if lib.cmark_node_get_type(root) == lib.CMARK_NODE_NONE:
                raise ValueError("Error parsing markdown!")
            extensions = lib.cmark_parser_get_syntax_extensions(parser)
            raw = lib.cmark_render_html(root, _CMARK_OPTIONS, extensions)
            try:
                html = bytes(ffi.string(raw)).decode("utf-8")
            finally:
                _CMARK_FREE(int(ffi.cast("uintptr_t", raw)))
        finally:
            _CMARK_LIB.cmark_node_free(int(ffi.cast("uintptr_t", root)))
    finally:
        lib.cmark_parser_free(parser)
    return _CELL_ALIGN.sub(r'<\1 style="text-align:\2">', html)


class _CmarkMem(ctypes.Structure):
    """cmark's ``cmark_mem``: the allocator whose ``free`` releases what it returns."""

    _fields_ = [
        ("calloc", ctypes.c_void_p),
        ("realloc", ctypes.c_void_p),
        ("free", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
    ]


# What cmarkgfm's bindings leave out (cmark_node_free, the allocator), from the very
# library they loaded: dlopen gives the same one, with the same extension registry.
_CMARK_LIB = ctypes.CDLL(_cmark.__file__)
_CMARK_LIB.cmark_node_free.argtypes = [ctypes.c_void_p]
_CMARK_LIB.cmark_node_free.restype = None
_CMARK_LIB.cmark_get_default_mem_allocator.restype = ctypes.POINTER(_CmarkMem)
_CMARK_FREE = _CMARK_LIB.cmark_get_default_mem_allocator().contents.free


@functools.cache
def _cmark_extensions() -> tuple[Any, ...]:
    _cmark.lib.cmark_gfm_core_extensions_ensure_registered()
    found = tuple(_cmark.lib.cmark_find_syntax_extension(n.encode()) for n in _CMARK_EXTENSIONS)
    if any(extension == _cmark.ffi.NULL for extension in found):
        raise ValueError(f"cmark-gfm lacks one of the extensions {_CMARK_EXTENSIONS}")
    return found


# What feed readers get. Every tag here is in the W3C feed validator's
# HTMLValidator.acceptable_elements (feedvalidator/validators.py), so nothing left by the
# sanitiser is reported as a security risk; form controls are dropped even though the
# validator tolerates them, because a reader cannot submit them anyway.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "address", "article", "aside", "audio", "b", "bdi",
        "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "data",
        "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure",
        "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img",
        "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "picture", "pre", "q", "rp",
        "rt", "ruby", "s", "samp", "section", "small", "source", "span", "strike", "strong",
        "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time",
        "tr", "track", "tt", "u", "ul", "var", "video", "wbr",
    }
)  # fmt: skip
# Dropped together with their content: code, styles, and text that only makes sense
# inside a control or a script-less fallback the sanitiser cannot see into.
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "noscript", "iframe", "textarea", "select", "svg", "xmp",
     "noembed", "noframes", "title"}
)  # fmt: skip
_TABLE_CELL = {"colspan", "rowspan", "headers", "scope", "align", "style"}
ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "*": frozenset({"title", "lang", "dir"}),
    "a": frozenset({"href", "hreflang"}),
    "img": frozenset({"src", "srcset", "sizes", "alt", "width", "height"}),
    "source": frozenset({"src", "srcset", "sizes", "type", "media"}),
    "video": frozenset(
        {"src", "poster", "controls", "width", "height", "loop", "muted", "preload"}
    ),
    "audio": frozenset({"src", "controls", "loop", "muted", "preload"}),
    "track": frozenset({"src", "kind", "srclang", "label", "default"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "del": frozenset({"cite", "datetime"}),
    "ins": frozenset({"cite", "datetime"}),
    "time": frozenset({"datetime"}),
    "data": frozenset({"value"}),
    "ol": frozenset({"start", "reversed", "type"}),
    "li": frozenset({"value"}),
    "details": frozenset({"open"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
    "th": frozenset(_TABLE_CELL),
    "td": frozenset(_TABLE_CELL),
    "code": frozenset({"class"}),
    "pre": frozenset({"class"}),
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "ftp"})

_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)")
_LANGUAGE_CLASS = re.compile(r"^lang(?:uage)?-[\w+#.-]+$")
_TEXT_ALIGN = re.compile(r"text-align\s*:\s*(left|right|center|justify)\b", re.I)


# A fragment needs the post's URL only if an attribute in it is resolved against that URL:
# srcset and cite always (_filter_attribute), href, src and poster (ammonia's url_relative)
# unless the value starts with a URL scheme. Loose on purpose: "data-src=", "x = 1" in a
# code block (HTML allows spaces around "=", so any "=" after a space counts) or prose that
# reads "href=x" match too, which only costs building a sanitiser for that post. The
# pattern starts with the literal "=" so that `re` can skip to each one: written as
# "(href|src|...)=" it tried every position and took 300 us a post instead of 3.
_NEEDS_BASE = re.compile(
    r"=(?:(?<=\s=)|(?<=srcset=)|(?<=cite=)"
    r"|(?:(?<=href=)|(?<=src=)|(?<=poster=))\s*+(?![\"']?[a-z][a-z0-9+.-]*:))",
    re.I,
)


def sanitize_html(fragment: str, base_url: str) -> str:
    """Clean an HTML fragment for feed readers and make every URL in it absolute."""
    # Building an nh3 sanitiser costs as much as cleaning a whole post with it, so most
    # fragments (every URL already absolute) share one that never sees a relative URL.
    cleaner = _cleaner(base_url if _NEEDS_BASE.search(fragment) else None)
    cleaned = cleaner.clean(fragment)
    if any(name.lower() not in ALLOWED_TAGS for name in _TAG_NAME.findall(fragment)):
        # Unwrapping a removed element (object, button, ...) can leave nesting that an HTML
        # parser would not build ("<a><a>", "<p><ul>"); the validator reports that as
        # "Invalid HTML". Parsing the output again settles it, usually in one more pass.
        for _ in range(3):
            again = cleaner.clean(cleaned)
            if again == cleaned:
                break
            cleaned = again
    # Character references such as "&#0;" or "&#x81;" decode to characters feeds cannot carry.
    return strip_forbidden_chars(cleaned)


@functools.lru_cache(maxsize=16)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    """The sanitiser for one post's URL, or (None) for fragments without relative URLs."""
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=functools.partial(_filter_attribute, base_url or ""),
        strip_comments=True,
        link_rel=None,
        url_schemes=set(URL_SCHEMES),
        # Readers resolve relative URLs badly (or against the feed's URL), so resolve
        # against the post's own URL here; "#note" becomes "<post url>#note". The shared
        # sanitiser is never given a relative URL (_NEEDS_BASE); if it were, it drops it.
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
    )


def _filter_attribute(base_url: str, tag: str, attr: str, value: str) -> str | None:
    # nh3 resolves href/src/poster itself (url_relative above) and reports exceptions
    # here only through sys.unraisablehook, so this must not raise.
    try:
        if attr == "srcset":
            candidates = []
            for part in value.split(","):
                ref, _, descriptor = part.strip().partition(" ")
                url = _resolve(base_url, ref) if ref else None
                if url:
                    candidates.append(f"{url} {descriptor.strip()}".strip())
            return ", ".join(candidates) or None
        if attr == "cite":
            return _resolve(base_url, value)
        if attr == "class":
            # Keep only highlight.js/Prism language hints ("language-python").
            kept = [c for c in value.split() if _LANGUAGE_CLASS.match(c)]
            return " ".join(kept) or None
        if attr == "style":
            # Markdown table alignment; the only style worth keeping, and one the
            # validator's checkStyle accepts.
            align = _TEXT_ALIGN.search(value)
            return f"text-align:{align.group(1).lower()}" if align else None
        return value
    except Exception:  # pragma: no cover - defensive, see comment above
        return None


def _resolve(base_url: str, ref: str) -> str | None:
    url = urljoin(base_url, ref.strip())
    return url if urlsplit(url).scheme.lower() in URL_SCHEMES else None


def _to_html(source: str, is_html: bool) -> str:
    return source if is_html else markdown_to_html(source)


# An excerpt written as one line of plain words, as most front-matter excerpts are: one
# paragraph in Markdown, with nothing that Markdown or HTML would read as markup, nor that
# cmark or the sanitiser would escape (& < > " and the no-break space) or strip (spaces
# at either end). Its HTML is the text in <p>, with no need to render and sanitise it
# (35 of the 220 us that rendering a post with an excerpt took). Not at the start: what
# opens a heading, a quote, a list, a rule or an indented code block (also "1." / "1)").
# tests/test_posts_render.py compares it with the whole path on any text it takes.
_PLAIN_PARAGRAPH = re.compile(
    r"(?![ #>+*=-]|\d{1,9}[.)](?: |$))"  # no block starts here
    r'[^\\`*_\[\]<>&"!~|\u00a0]*'  # no inline markup, nothing escaped
    r"(?<! )"  # no space at the end
)


def _excerpt_html(excerpt: str, is_html: bool, base_url: str) -> str:
    """A front-matter excerpt's HTML, as clean and absolute as the post's."""
    if not is_html and _is_printable(excerpt) and _PLAIN_PARAGRAPH.fullmatch(excerpt):
        return f"<p>{excerpt}</p>"
    return sanitize_html(_to_html(excerpt, is_html), base_url).strip()


# What lxml.html.fragments_fromstring takes for a whole document, not a fragment.
_FULL_HTML = re.compile(r"^\s*<(?:html|!doctype)", re.I)
# A "<" inside a quoted attribute value, where it starts no tag (nh3 escapes it there and
# in text, but a "</p>" in any HTML is an end tag only outside attribute values).
_LT_IN_ATTRIBUTE = re.compile(r'="[^"]*<')
_PARSERS = threading.local()  # an lxml parser serves one thread at a time


def _body_elements(content_html: str) -> list[etree._Element]:
    """The top-level elements of an HTML fragment, as ``lxml.html.fragments_fromstring``
    parses it, with a plain ``etree.HTMLParser``: lxml.html's parser looks up a Python
    class for every element it hands out, a quarter of the cost of parsing a post."""
    parser = getattr(_PARSERS, "html", None)
    if parser is None:
        parser = _PARSERS.html = etree.HTMLParser()
    root = etree.fromstring(f"<html><body>{content_html}</body></html>", parser)
    if root is None:
        raise etree.ParserError("Document is empty")
    return [child for body in root if body.tag == "body" for child in body]


def _first_paragraph(content_html: str) -> str:
    """The first top-level paragraph of sanitised HTML (any paragraph, else everything)."""
    if not content_html.strip():
        return ""
    whole_document = _FULL_HTML.match(content_html) is not None
    if not whole_document:
        # Usually the post opens with that paragraph: parse only up to its end tag. A
        # paragraph top-level there is the first top-level one of the whole post, and
        # the same (its content ends before that prefix does), unless a "<" in an
        # attribute value made that "</p>" no end tag.
        end = content_html.find("</p>")
        if end != -1:
            head = content_html[: end + len("</p>")]
            if _LT_IN_ATTRIBUTE.search(head) is None:
                found = next((el for el in _body_elements(head) if el.tag == "p"), None)
                if found is not None:
                    return _html_string(found)
    try:
        if whole_document:
            elements = [
                f for f in lxml_html.fragments_fromstring(content_html) if not isinstance(f, str)
            ]
        else:
            elements = _body_elements(content_html)
    except etree.ParserError:
        return content_html
    paragraph = next((el for el in elements if el.tag == "p"), None)
    if paragraph is None:
        paragraph = next((p for el in elements for p in el.iter("p")), None)
    if paragraph is None:
        return content_html
    return _html_string(paragraph)


def _html_string(element: etree._Element) -> str:
    return str(etree.tostring(element, method="html", encoding="unicode", with_tail=False)).strip()


def render_post(post: Post, config: Config) -> Rendered:
    """Render a post's body and excerpt to clean HTML with absolute URLs. Pure."""
    body = post.body  # once: a dropped body is read from the file again
    content = sanitize_html(_to_html(body, post.is_html), post.url).strip()
    separator = config.excerpt_separator
    if post.excerpt is not None and post.excerpt.strip():
        summary = _excerpt_html(post.excerpt, post.is_html, post.url)
    elif separator and separator in body:
        before = body.split(separator, 1)[0]
        summary = sanitize_html(_to_html(before, post.is_html), post.url).strip()
    else:
        summary = _first_paragraph(content)
    if not content and not summary and post.title:
        # A post with no body is its title and link. Atom needs a text for an entry with
        # no content (the W3C validator: "Missing textual content"), and an empty one is
        # "blank": the title is what a reader would see for it anyway.
        summary = html.escape(post.title, quote=False)
    return Rendered(content_html=content, summary_html=summary)
