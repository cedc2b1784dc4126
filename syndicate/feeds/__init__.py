"""Feeds: PURE. Posts + config + now -> ``Site``, every document the site serves.

No I/O and no clock: ``now`` is a parameter. The same inputs give the same bytes.
``Site.documents`` maps URL paths (``/feed.rss``, ``/tag/python.atom``, ``/feeds.opml``,
``/``) to ``Document``s; ``web`` serves them and ``publisher.write_static`` writes them,
so the URL layout lives here only.

The package: ``_types`` (the values), ``_slugs`` (names -> slugs), ``_formats`` (RSS 2.0
and Atom 1.0 through feedgen), ``_listing`` (OPML and the index page); this module
decides which posts go in which feed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from .. import __version__
from ..config import Config
from ..posts import Post, Rendered, render_post
from ._formats import FeedMeta, entry_change, make_entry, render_feed
from ._listing import render_index, render_opml
from ._slugs import make_slugs
from ._types import Document, FeedInfo, FeedKind, Site

__all__ = [
    "Document",
    "FeedInfo",
    "FeedKind",
    "Site",
    "build_site",
    "make_slugs",
    "INDEX_PATH",
    "OPML_PATH",
    "MEDIA_TYPES",
    "EMPTY_FEED_DATE",
]

logger = logging.getLogger(__name__)

INDEX_PATH = "/"
OPML_PATH = "/feeds.opml"
SITE_RSS_PATH = "/feed.rss"
SITE_ATOM_PATH = "/feed.atom"

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    # No registered type for OPML; text/x-opml is what readers send and accept.
    "opml": "text/x-opml; charset=utf-8",
    "html": "text/html; charset=utf-8",
}

# An empty feed still needs updated / lastBuildDate; a fixed value keeps it reproducible.
# Not the epoch: the W3C validator warns "Implausible date" for anything before 1990.
EMPTY_FEED_DATE = datetime(2000, 1, 1, tzinfo=UTC)

_KIND_LABELS = {"category": "Category", "tag": "Tag"}


@dataclasses.dataclass(frozen=True)
class _FeedPlan:
    """One feed before rendering: who it is and which posts, newest first."""

    kind: FeedKind
    name: str | None
    slug: str | None
    title: str
    description: str
    rss_path: str
    atom_path: str
    posts: Sequence[Post]


def _utc(moment: datetime) -> datetime:
    # Post dates are promised aware UTC; a naive one is taken as UTC rather than
    # letting feedgen raise halfway through a build.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _clean_names(names: Iterable[str]) -> tuple[str, ...]:
    """Distinct, non-blank names in their original order (a blank term is invalid Atom)."""
    return tuple(dict.fromkeys(n for n in names if n.strip()))


def _normalise(post: Post) -> Post:
    """The post with UTC dates and clean names; the same object when already so."""
    date = _utc(post.date)
    updated = _utc(post.updated) if post.updated is not None else None
    categories = _clean_names(post.categories)
    tags = _clean_names(post.tags)
    if (
        date.tzinfo is post.date.tzinfo
        and (
            post.updated is None or (updated is not None and updated.tzinfo is post.updated.tzinfo)
        )
        and categories == post.categories
        and tags == post.tags
    ):
        return post
    return dataclasses.replace(post, date=date, updated=updated, categories=categories, tags=tags)


def _select(posts: Iterable[Post], now: datetime) -> list[Post]:
    """Published posts dated up to ``now``, newest first, one per entry id."""
    visible = [_normalise(p) for p in posts if p.published]
    visible = [p for p in visible if p.date <= now]
    # Newest first; equal dates by entry id, then file, so input order never matters.
    visible.sort(key=lambda p: (p.entry_id, p.relpath))
    visible.sort(key=lambda p: p.date, reverse=True)
    seen: set[str] = set()
    unique: list[Post] = []
    for post in visible:
        # Two items with one guid is an RSS error and readers keep only one of them.
        if post.entry_id in seen:
            logger.warning(
                "%s: duplicate entry id %s, left out of the feeds", post.relpath, post.entry_id
            )
            continue
        seen.add(post.entry_id)
        unique.append(post)
    return unique


def _plans(posts: Sequence[Post], config: Config) -> list[_FeedPlan]:
    """The site feed, then category feeds by name, then tag feeds by name."""
    limit = config.feeds.limit
    site = config.site
    plans = [
        _FeedPlan(
            kind="site",
            name=None,
            slug=None,
            title=site.title,
            description=site.description or f"The latest posts from {site.title}",
            rss_path=SITE_RSS_PATH,
            atom_path=SITE_ATOM_PATH,
            posts=posts[:limit],
        )
    ]
    for kind in ("category", "tag"):
        members: dict[str, list[Post]] = defaultdict(list)
        for post in posts:  # newest first, so each list is too
            for name in post.categories if kind == "category" else post.tags:
                chosen = members[name]
                if len(chosen) < limit:
                    chosen.append(post)
        slugs = make_slugs(members)
        label = _KIND_LABELS[kind]
        for name in sorted(members, key=lambda n: (n.casefold(), n)):
            slug = slugs[name]
            plans.append(
                _FeedPlan(
                    kind="category" if kind == "category" else "tag",
                    name=name,
                    slug=slug,
                    title=f"{site.title} — {label}: {name}",
                    description=f"Posts in the {kind} “{name}” from {site.title}",
                    rss_path=f"/{kind}/{slug}.rss",
                    atom_path=f"/{kind}/{slug}.atom",
                    posts=members[name],
                )
            )
    return plans


def _document(media_type: str, body: bytes, last_modified: datetime) -> Document:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Document(media_type=media_type, body=body, etag=etag, last_modified=last_modified)


RenderMany = Callable[[Sequence[Post], Config], Sequence[Rendered]]


def config_fingerprint(config: Config) -> str:
    """Digest of the configuration and syndicate's version: anything that shapes a feed."""
    return hashlib.sha256(f"{__version__}\x1e{config!r}".encode()).hexdigest()


def _signature(plan: _FeedPlan, config_digest: str) -> str:
    """Digest of what a feed's documents are made from; equal -> byte-identical output.

    A post's file digest covers its text and front matter; entry id and updated come
    from the store, the path from the file system; the rest is the config's.
    """
    parts = [config_digest, plan.kind, plan.name or "", plan.title, plan.description]
    for post in plan.posts:
        parts += [post.digest, post.entry_id, post.relpath, repr(post.updated)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _latest(plans: Iterable[_FeedPlan]) -> dict[str, tuple[str, str, datetime]]:
    """Each feed's newest entry (title, URL, date), for the index page."""
    return {
        plan.rss_path: (plan.posts[0].title, plan.posts[0].url, plan.posts[0].date)
        for plan in plans
        if plan.posts
    }


def build_site(
    posts: Iterable[Post],
    config: Config,
    now: datetime,
    render: Callable[[Post, Config], Rendered] = render_post,
    *,
    previous: Site | None = None,
    render_many: RenderMany | None = None,
) -> Site:
    """Build every feed, the OPML and the index page. Pure; renders each entry once.

    With ``previous`` (the Site of an earlier build), a feed whose inputs are unchanged
    keeps its documents and its posts are not rendered: the result is byte-identical
    to a full build, at a cost that grows with the feeds that changed. ``render_many``
    renders a batch at once (in parallel, from a cache) instead of calling ``render``.
    """
    selected = _select(posts, _utc(now))
    plans = _plans(selected, config)
    config_digest = config_fingerprint(config)
    signatures = {plan.rss_path: _signature(plan, config_digest) for plan in plans}
    old_signatures = previous.signatures if previous is not None else {}
    reused = {
        plan.rss_path
        for plan in plans
        if previous is not None
        and old_signatures.get(plan.rss_path) == signatures[plan.rss_path]
        and plan.rss_path in previous.documents
        and plan.atom_path in previous.documents
    }

    # Render and prepare each post once, however many feeds it is in, in feed order
    # so the calls to ``render`` are deterministic too.
    needed: dict[str, Post] = {}
    for plan in plans:
        if plan.rss_path in reused:
            continue
        for post in plan.posts:
            needed.setdefault(post.entry_id, post)
    if render_many is not None:
        rendered = dict(zip(needed, render_many(list(needed.values()), config), strict=True))
    else:
        rendered = {entry_id: render(post, config) for entry_id, post in needed.items()}
    entries = {
        entry_id: make_entry(post, rendered[entry_id], config) for entry_id, post in needed.items()
    }

    documents: dict[str, Document] = {}
    infos: list[FeedInfo] = []
    for plan in plans:
        updated = max((entry_change(p) for p in plan.posts), default=None)
        published = max((p.date for p in plan.posts), default=None)
        info = FeedInfo(
            kind=plan.kind,
            name=plan.name,
            slug=plan.slug,
            title=plan.title,
            rss_path=plan.rss_path,
            atom_path=plan.atom_path,
            entry_count=len(plan.posts),
            updated=updated,
            entry_ids=tuple(p.entry_id for p in plan.posts),
        )
        infos.append(info)
        if previous is not None and plan.rss_path in reused:
            documents[plan.rss_path] = previous.documents[plan.rss_path]
            documents[plan.atom_path] = previous.documents[plan.atom_path]
            continue
        meta = FeedMeta(
            title=plan.title,
            description=plan.description,
            rss_url=config.site.url + plan.rss_path.lstrip("/"),
            atom_url=config.site.url + plan.atom_path.lstrip("/"),
            updated=updated or EMPTY_FEED_DATE,
            published=published,
        )
        feed_entries = [entries[p.entry_id] for p in plan.posts]
        for fmt, path in (("rss", plan.rss_path), ("atom", plan.atom_path)):
            body = render_feed(meta, feed_entries, config, "rss" if fmt == "rss" else "atom")
            documents[path] = _document(MEDIA_TYPES[fmt], body, meta.updated)

    feeds = tuple(infos)
    newest = max((f.updated for f in feeds if f.updated is not None), default=None)
    modified = newest or EMPTY_FEED_DATE
    documents[OPML_PATH] = _document(
        MEDIA_TYPES["opml"], render_opml(feeds, config, modified), modified
    )
    documents[INDEX_PATH] = _document(
        MEDIA_TYPES["html"],
        render_index(feeds, config, newest, OPML_PATH, latest=_latest(plans)),
        modified,
    )
    return Site(documents=documents, feeds=feeds, signatures=signatures)
