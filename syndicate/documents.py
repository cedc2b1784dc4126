"""Documents: the values a Site is made of (``Document``, ``FeedInfo``, ``Site``), the
entity-tag of a document's bytes, and the feeds' URLs (``feed_paths``, ``absolute_url``:
the one place they are built). No I/O.

``feeds.build_site`` makes them and ``from syndicate.feeds import Document, FeedInfo,
Site`` is the public way to name them; they live here, outside the ``feeds`` package
(whose ``__init__`` imports posts, feedgen and lxml), so that web workers, which only
serve a live tree, can use them without importing the publishing stack.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

FeedKind = Literal["site", "category", "tag", "author"]

SITE_FEED_PATHS = ("/feed.rss", "/feed.atom", "/feed.json")


def feed_paths(kind: FeedKind, slug: str | None) -> tuple[str, str, str]:
    """A feed's URL paths, RSS, Atom then JSON Feed: ``/feed.rss`` for the site's, and
    ``/<kind>/<slug>.rss`` for a category's, a tag's or an author's."""
    if kind == "site":
        return SITE_FEED_PATHS
    return f"/{kind}/{slug}.rss", f"/{kind}/{slug}.atom", f"/{kind}/{slug}.json"


def json_twin(rss_path: str) -> str:
    """The URL path of the JSON Feed beside the RSS feed at ``rss_path`` (``feed_paths``'
    third), for a feed listed before JSON Feeds were made."""
    return rss_path.removesuffix(".rss") + ".json"


def absolute_url(site_url: str, url_path: str) -> str:
    """The absolute URL of the site's document at ``url_path`` (``/tag/x.rss``).

    ``site_url`` is ``site.url``, which always ends with "/". A feed's URL must be one
    string wherever it is named (its self link and id, the Link header, the hub topic,
    the pings, the OPML and the index page: WebSub section 4), so it is made here only.
    """
    return site_url + url_path.lstrip("/")


def entity_tag(body: bytes) -> str:
    """The strong entity-tag of a document: a digest of its bytes, quoted."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@dataclasses.dataclass(frozen=True, slots=True)
class Document:
    """A document of the site, the one shape for what is served and written: its media
    type, its validators computed once, and its bytes.

    Built by ``feeds.build_site``, the bytes are in memory. A document of a live tree or
    a static one whose bytes stay in its file until asked for is a ``StoredDocument``
    (``site.manifest``); ``body`` reads them then. Slots: a worker and every web process
    hold one per feed document (two per feed) at once.
    """

    media_type: str  # full Content-Type, with charset
    body: bytes
    etag: str  # quoted strong ETag, e.g. '"3f2a..."'
    last_modified: datetime  # aware UTC; the newest entry change, not build time
    # Seconds a cache may keep it, when not ``serve.cache_max_age``: a full archive page.
    max_age: int | None = None


@dataclasses.dataclass(frozen=True)
class FeedInfo:
    """One feed (RSS, Atom and JSON Feed of the same entries) for listings: OPML, index,
    status."""

    kind: FeedKind
    name: str | None  # category or tag name, author's `authors:` key; None for the site feed
    slug: str | None
    title: str
    rss_path: str  # URL path, e.g. /category/news.rss
    atom_path: str
    entry_count: int
    updated: datetime | None  # newest entry change
    entry_ids: tuple[str, ...]  # newest first
    # Last, with a default: a live tree's manifest from before JSON Feeds has none.
    json_path: str = ""
    # Other URL paths serving its Atom document as it is: a Jekyll site's jekyll-feed
    # URLs (/feed.xml). Its self link and WebSub topic stay the Atom feed's.
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.json_path:
            object.__setattr__(self, "json_path", json_twin(self.rss_path))

    @property
    def paths(self) -> tuple[str, str, str]:
        """The URL paths of its documents: RSS, Atom, then JSON Feed."""
        return (self.rss_path, self.atom_path, self.json_path)


@dataclasses.dataclass(frozen=True)
class Site:
    """Everything the site serves, keyed by URL path."""

    documents: Mapping[str, Document]
    feeds: tuple[FeedInfo, ...]
    # Feed rss_path -> digest of everything its documents are made from. A later
    # build given this Site as ``previous`` reuses a feed whose signature is unchanged.
    signatures: Mapping[str, str] = dataclasses.field(default_factory=dict)
