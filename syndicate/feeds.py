"""Feeds: PURE. Posts + config + now -> ``Site``, every document the site serves.

No I/O and no clock: ``now`` is a parameter. The same inputs give the same bytes.
``Site.documents`` maps URL paths (``/feed.rss``, ``/tag/python.atom``, ``/feeds.opml``,
``/``) to ``Document``s; ``web`` serves them and ``publisher.write_static`` writes them,
so the URL layout lives here only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Literal

from .config import Config
from .posts import Post, Rendered, render_post

FeedKind = Literal["site", "category", "tag"]


@dataclasses.dataclass(frozen=True)
class Document:
    """A served / written file: bytes plus the validators computed once."""

    media_type: str  # full Content-Type, with charset
    body: bytes
    etag: str  # quoted strong ETag, e.g. '"3f2a..."'
    last_modified: datetime  # aware UTC; the newest entry change, not build time


@dataclasses.dataclass(frozen=True)
class FeedInfo:
    """One feed (RSS and Atom of the same entries) for listings: OPML, index, status."""

    kind: FeedKind
    name: str | None  # category or tag name; None for the site feed
    slug: str | None
    title: str
    rss_path: str  # URL path, e.g. /category/news.rss
    atom_path: str
    entry_count: int
    updated: datetime | None  # newest entry change
    entry_ids: tuple[str, ...]  # newest first


@dataclasses.dataclass(frozen=True)
class Site:
    """Everything the site serves, keyed by URL path."""

    documents: Mapping[str, Document]
    feeds: tuple[FeedInfo, ...]


def make_slugs(names: Iterable[str]) -> dict[str, str]:
    """Map each name to a URL-safe ASCII slug, distinct and stable for the same set of names."""
    raise NotImplementedError


def build_site(
    posts: Iterable[Post],
    config: Config,
    now: datetime,
    render: Callable[[Post, Config], Rendered] = render_post,
) -> Site:
    """Build every feed, the OPML and the index page. Pure; renders each entry once."""
    raise NotImplementedError
