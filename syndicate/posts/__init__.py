"""Posts: files under ``posts_dir`` -> ``Post``, or ``PostProblem(path, message)``. Reads files.

``load_posts`` never stops on a bad post: it returns every post it could read and
one problem per thing that went wrong (pelican ``generators.py``: log, then continue).
``render_post`` is pure: Markdown -> sanitised HTML with absolute URLs.

Front matter follows Jekyll (``title``, ``date``, ``categories``, ``permalink``, ...);
the modules cite the Jekyll behaviour they copy. One concern a module, and imports go one
way (``load`` -> ``urls``, ``render`` -> ``post`` -> ``frontmatter`` -> ``text``; ``text``
and ``walk`` import no other module of the package):

- ``post``: the values (``Post``, ``PostProblem``, ``Image``, ``Rendered``), and how the
  publisher reads a body it kept out of a post from its file (``read_body``, ``PostChanged``).
- ``load``: one file, or the whole folder, -> posts and problems.
- ``text``: decoding, mojibake repair, characters feeds cannot carry, plain text.
- ``frontmatter``: YAML and dates (each fast path beside the plain one it must equal)
  and the Jekyll keys.
- ``urls``: permalinks, entry ids, lead images.
- ``render``: cmark-gfm (through ctypes) -> HTML, sanitised by nh3; excerpts.
- ``walk``: which files are post candidates (the scan, the watcher, ``stamp``).

The fast paths say why they are there; what each saves, as measured, is in
bench/RESULTS.md ("Why the fast paths").

This face imports nothing until one of its names is asked for (PEP 562): commands that
may read no post at all import ``syndicate.posts.walk`` (``stamp``, the scheduler), and
must not bring the Markdown, YAML and XML stack with it.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from .load import (
        LoadMany,
        LoadOne,
        collect_posts,
        load_post,
        load_post_statted,
        load_posts,
        site_markup_problems,
    )
    from .post import (
        DigestKey,
        Image,
        Post,
        PostProblem,
        Rendered,
        digest_key,
        entry_digests,
        read_body,
        replace,
        share_values,
        the_body,
        unpack_rendered,
        without_body,
    )
    from .render import (
        ALLOWED_ATTRIBUTES,
        ALLOWED_TAGS,
        URL_SCHEMES,
        markdown_to_html,
        render_post,
        sanitize_html,
        summary_only,
    )
    from .text import plain_text, repair_mojibake, strip_forbidden_chars
    from .urls import image_changed
    from .walk import POST_SUFFIXES, candidate_relpath

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "DigestKey",
    "Image",
    "LoadMany",
    "LoadOne",
    "POST_SUFFIXES",
    "Post",
    "PostProblem",
    "Rendered",
    "URL_SCHEMES",
    "candidate_relpath",
    "collect_posts",
    "digest_key",
    "entry_digests",
    "image_changed",
    "load_post",
    "load_post_statted",
    "load_posts",
    "markdown_to_html",
    "plain_text",
    "read_body",
    "render_post",
    "repair_mojibake",
    "replace",
    "sanitize_html",
    "share_values",
    "site_markup_problems",
    "strip_forbidden_chars",
    "summary_only",
    "the_body",
    "unpack_rendered",
    "without_body",
]

# The module of each name of the face (tests/test_posts_package.py checks it against __all__).
_HOMES = {
    "LoadMany": "load",
    "LoadOne": "load",
    "collect_posts": "load",
    "load_post": "load",
    "load_post_statted": "load",
    "load_posts": "load",
    "site_markup_problems": "load",
    "DigestKey": "post",
    "Image": "post",
    "Post": "post",
    "PostProblem": "post",
    "Rendered": "post",
    "digest_key": "post",
    "entry_digests": "post",
    "read_body": "post",
    "replace": "post",
    "share_values": "post",
    "the_body": "post",
    "unpack_rendered": "post",
    "without_body": "post",
    "ALLOWED_ATTRIBUTES": "render",
    "ALLOWED_TAGS": "render",
    "URL_SCHEMES": "render",
    "markdown_to_html": "render",
    "render_post": "render",
    "sanitize_html": "render",
    "summary_only": "render",
    "plain_text": "text",
    "repair_mojibake": "text",
    "strip_forbidden_chars": "text",
    "image_changed": "urls",
    "POST_SUFFIXES": "walk",
    "candidate_relpath": "walk",
}

if not typing.TYPE_CHECKING:  # mypy would take any name of the package for Any then

    def __getattr__(name: str) -> object:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value  # found directly from now on
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
