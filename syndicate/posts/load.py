"""Loading: the files under ``posts_dir`` -> ``Post``s and ``PostProblem``s. Reads files.

``load_posts`` never stops on a bad post: it returns every post it could read and one
problem per thing that went wrong (pelican ``generators.py``: log, then continue).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path

from slugify import slugify

from .. import counted
from ..config import Config
from .frontmatter import (
    FM_BOUNDARY,
    InvalidValue,
    front_matter_end,
    optional_str,
    parse_yaml,
    read_author,
    read_flag,
    read_lang,
    read_names,
    read_published,
    read_title,
    to_utc,
    warn_markup_names,
)
from .post import Post, PostProblem, read_all
from .text import markup_in, markup_message, read_text
from .urls import build_entry_id, build_image, build_permalink, without_suffix
from .walk import candidates as walk_candidates
from .walk import not_regular
from .walk import relpath as walk_relpath

# One logger for the whole room, named as the module was: the CLI's log lines name it,
# and the editor API quiets it by that name (api.quiet_posts).
logger = logging.getLogger("syndicate.posts")


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

    candidates = walk_candidates(root, on_walk_error, on_refused)

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
            raw = b"" if refused else read_all(fd, statted.st_size, limit)
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
    kind = not_regular(statted.st_mode)
    if kind is not None:
        return PostProblem(source, kind, "warning")
    if statted.st_size > limit:
        return PostProblem(source, _too_large(limit))
    return None


def _too_large(limit: int) -> str:
    """The problem of a post over ``posts.max_bytes`` (``larger than 5 MB``)."""
    shown = f"{limit // 2**20} MB" if limit % 2**20 == 0 else f"{limit} bytes"
    return f"larger than {shown} (posts.max_bytes); not read"


def _load_read(
    source: Path,
    raw: bytes,
    config: Config,
    problems: list[PostProblem],
    warn: Callable[[str], None],
) -> tuple[Post | None, list[PostProblem]]:
    """The post in a file's bytes (``raw``), and its problems (``problems``, to which
    ``warn`` adds)."""
    text = read_text(raw, warn)
    match = FM_BOUNDARY.match(text)
    if match is None:
        # Not a post at all, so its encoding is none of our business either; but a file of
        # a post's type in the posts folder was most likely meant as one (front matter
        # forgotten, or a file just created), so the editor is told rather than left to
        # wonder why it is in no feed.
        message = "empty file" if not text.strip() else _NO_FRONT_MATTER
        return None, _logged([PostProblem(source, f"{message}; skipped", "warning")])
    try:
        post = _build_post(source, _relpath(source, config), raw, text, match, config, warn)
    except InvalidValue as exc:
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
    return walk_relpath(source, config.posts_dir)


_FILENAME_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:-(.*))?$", re.S)


def _build_post(
    source: Path,
    relpath: str,
    raw: bytes,
    text: str,
    start: re.Match[str],
    config: Config,
    warn: Callable[[str], None],
) -> Post:
    end = front_matter_end(text, start)
    first_line = text.count("\n", 0, start.end()) + 1
    data = parse_yaml(text[start.end() : end.start()], first_line)
    body = text[end.end() :].strip("\n")

    tz = config.site.tz
    stem = without_suffix(relpath).rpartition("/")[2]
    name_match = _FILENAME_DATE.match(stem)
    name_slug = stem
    name_date: date | None = None
    if name_match:
        name_slug = name_match.group(4) or ""
        try:
            name_date = date(*(int(name_match.group(i)) for i in (1, 2, 3)))
        except ValueError:
            name_slug = stem

    title = read_title(data.get("title"), name_slug, warn)
    if data.get("date") is not None:
        posted = to_utc(data["date"], "date", tz)
    elif name_date is not None:
        posted = datetime.combine(name_date, time(), tz).astimezone(UTC)
    else:
        raise InvalidValue("date: missing, and the file name does not start with YYYY-MM-DD-")
    updated = None
    for key in ("last_modified_at", "updated"):
        if data.get(key) is not None:
            updated = to_utc(data[key], key, tz)
            break

    author = read_author(data.get("author"), config)
    categories = read_names(data, "category", "categories", warn)
    tags = read_names(data, "tag", "tags", warn)
    warn_markup_names(title, author, categories, tags, warn)
    slug_value = optional_str(data, "slug", warn)
    title_slug = slug_value or name_slug or slugify(title)
    url = build_permalink(data, config, posted, categories, title_slug, stem, warn)
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
        entry_id=build_entry_id(data, config, posted, relpath, warn),
        image=build_image(data.get("image"), config, warn),
        lang=read_lang(data, warn),
        body=body,
        excerpt=optional_str(data, "excerpt", warn, strip=False),
        is_html=relpath.lower().endswith(".html"),
        published=read_published(data, warn),
        front_id=data.get("id") not in (None, ""),
        excerpt_only=read_flag(data, "excerpt_only", warn) is True,
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
        markup = markup_in(name) if name else None
        if markup is not None:
            problems.append(PostProblem(path, markup_message(key, name, markup), "warning"))
    return problems
