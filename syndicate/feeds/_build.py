"""Feeds: ``build_site``, posts + config + now -> ``Site``. PURE: no I/O, no clock.

``now`` is a parameter and the same inputs give the same bytes. It plans the feeds
(``_plan``), renders their documents (``_formats``, ``_listing``) and reuses what an
earlier build made from the same inputs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from ..config import Config, fingerprint
from ..documents import Document, FeedInfo, Site, absolute_url, entity_tag
from ..posts import Post, Rendered, render_post
from ..store import TombstoneRecord
from ._entry import entry_change
from ._feedgen import FeedMeta, FeedURLs, Format, History
from ._formats import feed_parts, render_feed
from ._json import ITEM_SEPARATOR, json_feed_parts, render_json_feed
from ._listing import render_index, render_opml
from ._plan import FeedKey, FeedPlan, PlanState, SlugRecords, _feed_keys, plan_feeds
from ._prepared import Serialised, prepare_entry, summary_kinds

logger = logging.getLogger(__name__)

INDEX_PATH = "/"
OPML_PATH = "/feeds.opml"

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    # JSON Feed 1.1's type; JSON is UTF-8 (RFC 8259 8.1), said here as for the others.
    "json": "application/feed+json; charset=utf-8",
    # No registered type for OPML; text/x-opml is what readers send and accept.
    "opml": "text/x-opml; charset=utf-8",
    "html": "text/html; charset=utf-8",
}

# An empty feed still needs updated / lastBuildDate; a fixed value keeps it reproducible.
# Not the epoch: the W3C validator warns "Implausible date" for anything before 1990.
EMPTY_FEED_DATE = datetime(2000, 1, 1, tzinfo=UTC)


def _document(
    media_type: str, body: bytes, last_modified: datetime, max_age: int | None = None
) -> Document:
    etag = entity_tag(body)
    return Document(
        media_type=media_type,
        body=body,
        etag=etag,
        last_modified=last_modified,
        max_age=max_age,
    )


Made = tuple[Rendered | None, Serialised | None]
"""A post as an ``EntrySource`` prepares it: (its Rendered, None), or (None, its entry
serialised ahead by ``serialise_entries``)."""


class EntrySource(Protocol):
    """Where ``build_site`` gets the posts' HTML: rendered here (``Rendering``), or by
    the publisher's post cache in its worker processes, which may serialise the entries
    there too."""

    def prepare(
        self, posts: Sequence[Post], config: Config, no_json: Collection[str] = frozenset()
    ) -> Iterable[Made]:
        """Each post, in order, rendered or with its entry serialised ahead.

        May come as an iterator: each feed is made as soon as its entries are. A
        generator is closed once its last post was taken, or when the build fails, so
        its clean-up (stopping worker processes) runs then. ``no_json``: the entry ids
        of posts no JSON Feed of this build carries (in archive pages only): an entry
        serialised ahead may leave its JSON Feed item out (made from ``render`` if a
        later build needs it)."""
        ...

    def render(self, post: Post, config: Config) -> Rendered:
        """One post's HTML (again), for an entry a feed needs in another context."""
        ...


class DocumentSink(Protocol):
    """Where the documents go as they are made: a static build writes each one out and
    keeps it without its bytes, so that it never holds every feed at once."""

    def planned(self, url_paths: list[str]) -> None:
        """The URL paths of the feed documents to be made, told before the posts are
        rendered (a static build creates their files meanwhile)."""
        ...

    def keep(self, url_path: str, document: Document) -> Document:
        """``document``, just made; what this returns goes in the Site instead."""
        ...


@dataclasses.dataclass(frozen=True)
class Rendering:
    """An ``EntrySource`` that renders each post here, when its entry is needed."""

    render_post: Callable[[Post, Config], Rendered] = render_post

    def prepare(
        self, posts: Sequence[Post], config: Config, no_json: Collection[str] = frozenset()
    ) -> Iterator[Made]:
        return ((self.render_post(post, config), None) for post in posts)

    def render(self, post: Post, config: Config) -> Rendered:
        return self.render_post(post, config)


class Tombstones(NamedTuple):
    """``build_site``'s RFC 6721 tombstones: those kept from earlier builds, and the
    entry ids never to tombstone (posts still published under another id)."""

    kept: Collection[TombstoneRecord]
    renumbered: Collection[str] = ()


class Built(NamedTuple):
    """A build's result: the Site, and how its feeds were planned (the next build's
    ``previous``, to plan from the changes only)."""

    site: Site
    # None for a Site not built here (read back from a live tree): planned afresh.
    plan: PlanState | None


def config_fingerprint(config: Config) -> str:
    """Digest of the configuration and syndicate's version: anything that shapes a feed."""
    return fingerprint(config)


def _signature(plan: FeedPlan, config_digest: str) -> str:
    """Digest of what a feed's documents are made from; equal -> byte-identical output.

    A post's file digest covers its text and front matter; entry id and updated come
    from the store, the path from the file system; the rest is the config's.
    """
    parts = [config_digest, plan.kind, plan.name or "", plan.title, plan.description]
    parts += [plan.rss_path, repr(plan.history)]
    for post in plan.posts:
        parts += [post.digest, post.entry_id, post.relpath, repr(post.updated)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _latest(plans: Iterable[FeedPlan]) -> dict[str, tuple[str, str, datetime]]:
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
    source: EntrySource | None = None,
    *,
    previous: Built | None = None,
    changed: Mapping[str, Post | None] | None = None,
    slugs: SlugRecords | None = None,
    sink: DocumentSink | None = None,
    once: bool = False,
    tombstones: Tombstones | None = None,
) -> Built:
    """Build every feed, the OPML and the index page. Pure; renders each entry once.

    ``source`` renders the posts (none: ``Rendering()``, here, one by one); it may hand
    back entries serialised ahead, which are then spliced as they are. With
    ``previous`` (an earlier build), a feed whose inputs are unchanged keeps its
    documents and its posts are not rendered: the result is byte-identical to a full
    build, at a cost that grows with the feeds that changed. ``changed`` (relpath ->
    post now, None if gone) names every post that differs from those ``previous.plan``
    was made from, when the caller knows, so the others are not even looked at.
    ``slugs`` are the slug records kept from earlier builds, (kind, name) -> record: a
    name keeps its slug, and a new one gets one no other name holds (none given:
    ``make_slugs``' slugs); the records to keep after this build, the new ones included,
    are the result's ``plan.slugs``. ``sink`` is told the feeds to come and given each
    document as soon as it is made. ``once``: the result will be no later build's
    ``previous``, so the prepared entries are not kept for one (the same bytes, in less
    memory). ``tombstones``: the RFC 6721 tombstones kept from earlier builds (none
    given: no tombstones at all); the posts of ``previous``' feeds that left the
    selection are added, dated ``now``, and the result's ``plan.tombstones`` are the
    ones to keep after this build (``_tombstones``).
    """
    state = plan_feeds(
        posts, config, now, previous.plan if previous is not None else None, changed, slugs
    )
    live = state.order
    # The live feeds, then the archive pages (RFC 5005), which are no feeds of their own:
    # not listed, never notified, no tombstones.
    plans = [*live, *state.archive_order]
    deleted: dict[FeedKey, tuple[TombstoneRecord, ...]] = {}
    if tombstones is not None:
        last_site = previous.site if previous is not None else None
        kept, renumbered = tombstones
        state.tombstones = _tombstones(state, last_site, kept, renumbered, now)
        deleted = _by_feed(state.tombstones)
    else:
        state.tombstones = None
    signatures = _signatures(state, config, deleted)
    last = previous.site if previous is not None else None
    reused = _reused(plans, signatures, last)
    if sink is not None:
        sink.planned([path for plan in plans if plan.rss_path not in reused for path in plan.paths])
    keep = sink.keep if sink is not None else _as_made
    entries = _Entries(state, plans, reused, source or Rendering(), config, once)
    documents: dict[str, Document] = {}
    infos: list[FeedInfo] = []
    aliases = _aliases(config, live)
    try:
        for plan in plans:
            also = aliases.get(plan.rss_path, ())
            if not plan.archive:
                infos.append(_feed_info(state, plan, also))
            if last is not None and plan.rss_path in reused:
                for path in plan.paths:
                    documents[path] = last.documents[path]
                for alias in also:
                    known = last.documents.get(alias)
                    documents[alias] = known if known is not None else documents[plan.atom_path]
                continue
            tombs = () if plan.archive else deleted.get((plan.kind, plan.name or ""), ())
            for path, document in _feed_documents(plan, entries, config, tombs):
                documents[path] = keep(path, document)
                if path == plan.atom_path:
                    # The same bytes at each jekyll-feed URL (its own file in a tree).
                    for alias in also:
                        documents[alias] = keep(alias, document)
            entries.used(plan)
    except BaseException:
        entries.close()  # the source's clean-up runs now, not when the frame goes
        raise
    for gone in set(state.infos) - set(signatures):
        del state.infos[gone]
    entries.finish()
    feeds = tuple(infos)
    documents.update(_listings(feeds, live, config, keep))
    return Built(Site(documents=documents, feeds=feeds, signatures=signatures), state)


def _as_made(url_path: str, document: Document) -> Document:
    return document


def _signatures(
    state: PlanState, config: Config, deleted: Mapping[FeedKey, Sequence[TombstoneRecord]]
) -> dict[str, str]:
    """Each feed's signature (rss_path -> digest), computed again only for a plan that
    changed; ``state`` keeps them for the next build. A feed's tombstones are part of
    it: one added or expired makes the feed again."""
    config_digest = config_fingerprint(config)
    signatures: dict[str, str] = {}
    for feed in [*state.order, *state.archive_order]:
        known = state.signatures.get(feed.rss_path)
        if known is None or known[0] is not feed:
            known = state.signatures[feed.rss_path] = (feed, _signature(feed, config_digest))
        signatures[feed.rss_path] = known[1]
        tombs = deleted.get((feed.kind, feed.name or "")) if deleted and not feed.archive else None
        if tombs:
            parts = [known[1], *(f"{t.entry_id}\x1e{t.when.isoformat()}" for t in tombs)]
            joined = "\x1f".join(parts).encode("utf-8", "surrogatepass")
            signatures[feed.rss_path] = hashlib.sha256(joined).hexdigest()
    for gone in set(state.signatures) - set(signatures):
        del state.signatures[gone]
    return signatures


def _reused(
    plans: Sequence[FeedPlan], signatures: Mapping[str, str], last: Site | None
) -> set[str]:
    """The feeds (rss_path) whose documents in ``last`` are made from the same inputs."""
    if last is None:
        return set()
    old = last.signatures
    return {
        plan.rss_path
        for plan in plans
        if old.get(plan.rss_path) == signatures[plan.rss_path]
        and all(path in last.documents for path in plan.paths)
    }


def _aliases(config: Config, live: Sequence[FeedPlan]) -> Mapping[str, tuple[str, ...]]:
    """rss_path -> the other URL paths serving the feed's Atom document: a Jekyll
    site's jekyll-feed URLs (``jekyll.JekyllFeeds``); none for any other site."""
    if config.jekyll is None:
        return {}
    return config.jekyll.feed_aliases(
        (plan.rss_path, plan.kind, plan.name, plan.atom_path) for plan in live
    )


def _feed_info(state: PlanState, plan: FeedPlan, aliases: tuple[str, ...] = ()) -> FeedInfo:
    """The feed's listing, made again only for a plan that changed."""
    known = state.infos.get(plan.rss_path)
    if known is not None and known[0] is plan and known[1].aliases == aliases:
        return known[1]
    info = FeedInfo(
        kind=plan.kind,
        name=plan.name,
        slug=plan.slug,
        title=plan.title,
        rss_path=plan.rss_path,
        atom_path=plan.atom_path,
        entry_count=len(plan.posts),
        updated=max((entry_change(p) for p in plan.posts), default=None),
        entry_ids=tuple(p.entry_id for p in plan.posts),
        json_path=plan.json_path,
        aliases=aliases,
    )
    state.infos[plan.rss_path] = (plan, info)
    return info


def _urls(config: Config, paths: tuple[str, str] | None) -> FeedURLs | None:
    if paths is None:
        return None
    return (absolute_url(config.site.url, paths[0]), absolute_url(config.site.url, paths[1]))


def _history(plan: FeedPlan, config: Config) -> History | None:
    """The feed's RFC 5005 links as absolute URLs."""
    if plan.history is None:
        return None
    links = plan.history
    return History(
        current=_urls(config, links.current),
        prev_archive=_urls(config, links.prev_archive),
        next_archive=_urls(config, links.next_archive),
    )


def _feed_documents(
    plan: FeedPlan,
    entries: _Entries,
    config: Config,
    deleted: Sequence[TombstoneRecord] = (),
) -> Iterator[tuple[str, Document]]:
    """The feed's RSS, Atom and JSON Feed documents (URL path, document), one after the
    other; ``deleted``, its tombstones, in the Atom one only (RSS and JSON Feed have no
    such element)."""
    history = _history(plan, config)
    meta = FeedMeta(
        title=plan.title,
        description=plan.description,
        rss_url=absolute_url(config.site.url, plan.rss_path),
        atom_url=absolute_url(config.site.url, plan.atom_path),
        updated=max((entry_change(p) for p in plan.posts), default=EMPTY_FEED_DATE),
        published=max((p.date for p in plan.posts), default=None),
        author=plan.author,
        history=history,
    )
    # An archive page with a newer one after it holds its entries for good (RFC 5005 4):
    # caches may keep it long. The newest page still grows.
    archived = history is not None and history.archive and history.next_archive is not None
    max_age = config.serve.archive_max_age if archived else None
    feed_entries = entries.of(plan.posts, summary=entries.summarised(plan))
    # A tombstone is a change of the Atom feed (RFC 4287 4.2.15): its updated, and the
    # document's Last-Modified, are the newest of the entries' and the deletions'.
    newest = max((meta.updated, *(tomb.when for tomb in deleted)))
    atom_meta = dataclasses.replace(meta, updated=newest) if deleted else meta
    # Archive pages are the feed's history: never cut by size.
    limit = 0 if plan.archive else config.feeds.max_bytes
    for fmt, path in (("rss", plan.rss_path), ("atom", plan.atom_path)):
        xml: Format = "rss" if fmt == "rss" else "atom"
        shown = atom_meta if fmt == "atom" else meta
        if not limit:
            body = render_feed(shown, feed_entries, config, xml, deleted)
        else:
            head, parts, tail = feed_parts(shown, feed_entries, config, xml, deleted)
            shorter = functools.partial(_summary_part, shown, entries, plan, config, xml)
            body = _bounded(head, parts, b"", tail, limit, shorter, plan, path)
        yield path, _document(MEDIA_TYPES[fmt], body, shown.updated, max_age)
    if plan.archive:
        return  # RFC 5005 is Atom's (and RSS's, through atom:link): JSON Feed has none
    json_url = absolute_url(config.site.url, plan.json_path)
    items = [entry.json_item() for entry in feed_entries]
    if not limit:
        body = render_json_feed(meta, json_url, items, config)
    else:
        head, parts, tail = json_feed_parts(meta, json_url, items, config)
        shorter = functools.partial(_summary_item, entries, plan)
        body = _bounded(head, parts, ITEM_SEPARATOR, tail, limit, shorter, plan, plan.json_path)
    yield plan.json_path, _document(MEDIA_TYPES["json"], body, meta.updated)


def _bounded(
    head: bytes,
    parts: Sequence[bytes],
    separator: bytes,
    tail: bytes,
    limit: int,
    shorter: Callable[[], bytes],
    plan: FeedPlan,
    path: str,
) -> bytes:
    """A feed document of at most ``limit`` bytes (``feeds.max_bytes``): head, the most
    entries from the newest that fit, tail. Sizes are added up from the spliced parts,
    nothing is written twice. The newest entry always stays: alone over the limit, it is
    sent as its summary (``shorter()``, its part so) and the next ones that fit follow,
    with a warning; over even so, it is sent alone as it is, and the warning says so."""
    size = len(head) + len(tail)
    kept: list[bytes] = []
    for part in parts:
        grown = size + len(part) + (len(separator) if kept else 0)
        if grown > limit:
            if kept:
                break
            summary = shorter()
            smaller = size + len(summary)
            post = plan.posts[0].relpath
            if smaller > limit:
                logger.warning(
                    "%s: its entry alone makes %s %d bytes, over feeds.max_bytes (%d); "
                    "as a summary still over (%d bytes): sent anyway",
                    post,
                    path,
                    grown,
                    limit,
                    smaller,
                )
                kept.append(min(part, summary, key=len))
                break
            logger.warning(
                "%s: its entry alone makes %s %d bytes, over feeds.max_bytes (%d); "
                "sent as a summary (%d bytes)",
                post,
                path,
                grown,
                limit,
                smaller,
            )
            part, grown = summary, smaller
        kept.append(part)
        size = grown
    if len(kept) < len(parts):
        logger.debug(
            "feed %s: %d of %d entries left out (feeds.max_bytes %d)",
            path,
            len(parts) - len(kept),
            len(parts),
            limit,
        )
    return head + separator.join(kept) + tail


def _summary_part(
    meta: FeedMeta, entries: _Entries, plan: FeedPlan, config: Config, fmt: Format
) -> bytes:
    """The feed's newest entry as its summary only, in this format (``_bounded``)."""
    newest = entries.of(plan.posts[:1], summary=True)
    return feed_parts(meta, newest, config, fmt)[1][0]


def _summary_item(entries: _Entries, plan: FeedPlan) -> bytes:
    """The feed's newest JSON Feed item as its summary only, as spliced (``_bounded``)."""
    item: bytes = entries.of(plan.posts[:1], summary=True)[0].json_item()
    return b"    " + item


def _tombstones(
    state: PlanState,
    last: Site | None,
    kept: Collection[TombstoneRecord],
    renumbered: Collection[str],
    now: datetime,
) -> tuple[TombstoneRecord, ...]:
    """The tombstones after this build: those kept, less the expired (older than
    ``feeds.tombstone_days``) and those whose entry id is back in the selection, plus one
    for each feed of ``last`` that listed a post now gone from the selection.

    A post gone is one no longer in the selection under its entry id (its file deleted,
    ``published: false``, dated in the future again), not one that only left a feed (a
    tag taken off) nor one still published under another id (``renumbered``; or, when
    the plan knows, at its path). Only the feeds that change are looked at: known from
    the plan (the posts it took out) when planned from the last one, else every feed of
    ``last`` (after a restart, or a change of config: a full plan anyway).
    """
    days = state.config.feeds.tombstone_days
    if days <= 0:
        return ()
    ids = state.ids
    oldest = now - timedelta(days=days)
    found = {t.key: t for t in kept if t.when > oldest and t.entry_id not in ids}
    if last is not None:
        # Seconds are enough for RFC 3339, and the same instant for every feed.
        when = now.astimezone(UTC).replace(microsecond=0)
        for key, entry_id in _left(state, last, renumbered):
            found.setdefault((*key, entry_id), TombstoneRecord(*key, entry_id, when))
    if not found:
        return ()
    # Only where there is a feed to show them in; a feed gone keeps none.
    feeds = {(plan.kind, plan.name or "") for plan in state.order}
    return tuple(t for key, t in sorted(found.items()) if key[:2] in feeds)


def _left(
    state: PlanState, last: Site, renumbered: Collection[str]
) -> Iterator[tuple[FeedKey, str]]:
    """(feed, entry id) of each post gone from the selection that ``last``'s feed listed."""
    ids = state.ids
    gone = state.left
    if gone is not None:
        gone = {
            entry_id: old
            for entry_id, old in gone.items()
            if entry_id not in ids
            and entry_id not in renumbered
            and old.relpath not in state.chosen
        }
        if not gone:
            return  # an edit: nothing left the selection, no feed is looked at
    listed: dict[FeedKey, tuple[str, ...]] = {
        (info.kind, info.name or ""): info.entry_ids for info in last.feeds
    }
    if gone is not None:
        for entry_id, old in gone.items():
            for key in _feed_keys(old, state.authors):
                if entry_id in listed.get(key, ()):
                    yield key, entry_id
        return
    for key, entry_ids in listed.items():
        for entry_id in entry_ids:
            if entry_id not in ids and entry_id not in renumbered:
                yield key, entry_id


def _by_feed(
    tombstones: Iterable[TombstoneRecord],
) -> dict[FeedKey, tuple[TombstoneRecord, ...]]:
    """The tombstones of each feed, newest first (then by entry id)."""
    grouped: dict[FeedKey, list[TombstoneRecord]] = {}
    for tomb in tombstones:
        grouped.setdefault((tomb.kind, tomb.name), []).append(tomb)
    return {
        key: tuple(sorted(tombs, key=lambda t: (-t.when.timestamp(), t.entry_id)))
        for key, tombs in grouped.items()
    }


def _listings(
    feeds: tuple[FeedInfo, ...],
    plans: Sequence[FeedPlan],
    config: Config,
    keep: Callable[[str, Document], Document],
) -> Iterator[tuple[str, Document]]:
    """The OPML and the index page, each dated by the newest entry change of any feed."""
    newest = max((f.updated for f in feeds if f.updated is not None), default=None)
    modified = newest or EMPTY_FEED_DATE
    opml = render_opml(feeds, config, modified)
    yield OPML_PATH, keep(OPML_PATH, _document(MEDIA_TYPES["opml"], opml, modified))
    index = render_index(feeds, config, newest, OPML_PATH, latest=_latest(plans))
    yield INDEX_PATH, keep(INDEX_PATH, _document(MEDIA_TYPES["html"], index, modified))


class _Entries:
    """The prepared entries of one build: each post's made once, however many feeds it
    is in, in feed order (so the calls to the source are deterministic too) and as the
    feeds need them (from processes still rendering the next ones).

    An entry prepared by the last build for the very same post object is kept (with the
    bytes it serialised to), so an edit prepares only the edited post's entry.
    """

    def __init__(
        self,
        state: PlanState,
        plans: Sequence[FeedPlan],
        reused: set[str],
        source: EntrySource,
        config: Config,
        once: bool,
    ) -> None:
        self._state = state
        self._config = config
        self._source = source
        self._once = once
        needed: dict[str, Post] = {}
        for plan in plans:
            if plan.rss_path in reused:
                continue
            for post in plan.posts:
                needed.setdefault(post.entry_id, post)
        self._needed = needed
        # The entries a feed of summaries needs as such (``PreparedEntry.summary``),
        # while other feeds carry content: none unless a kind's key differs.
        self._summary_kinds = summary_kinds(config)
        self._summarised = {
            post.entry_id
            for plan in plans
            if plan.kind in self._summary_kinds and plan.rss_path not in reused
            for post in plan.posts
        }
        entries: dict[str, Any] = {}
        for entry_id, post in needed.items():
            prepared = state.entries.get(entry_id)
            if prepared is not None and prepared[0] is post:
                entries[entry_id] = prepared[1]
        self._entries = entries
        missing = {entry_id: post for entry_id, post in needed.items() if entry_id not in entries}
        # The uses in live feeds alone: an entry whose live feeds are all made waits for
        # an archive page (made last) deflated, as most of the posts at 10k do.
        self._live_uses = Counter(
            p.entry_id
            for plan in plans
            if plan.rss_path not in reused and not plan.archive
            for p in plan.posts
        )
        # A post in archive pages only (most of them at 10k posts) is in no JSON Feed.
        no_json = {entry_id for entry_id in missing if not self._live_uses[entry_id]}
        self._made: Iterator[Made] = iter(source.prepare(list(missing.values()), config, no_json))
        self._to_make = iter(missing.items())
        # Kept for every post still in a feed (the reused feeds' too), dropped for the
        # rest. An entry is kept for the very post it was made from, which it holds (so
        # its id() is its own): the posts are found by identity, without reading a field
        # of each of them (objects scattered in memory: every read of one is a cache
        # miss, on every edit).
        # The posts of older archive pages are not kept (rendered again when their page
        # changes, which is seldom): at 10k posts, most posts are in no live feed, and
        # the worker would hold every post's entry. The newest page changes with every
        # new post: its posts are kept, as the live feeds' are.
        current = {
            id(post)
            for feed in [*state.order, *state.archive_order]
            if feed.history is None or feed.history.next_archive is None
            for post in feed.posts
        }
        self._current = current
        self._kept = {
            entry_id: known for entry_id, known in state.entries.items() if id(known[0]) in current
        }
        state.entries = {}  # until every entry is made: a build that fails keeps none
        # After the last feed it is in, each entry goes (once) or is kept deflated (only
        # a fraction of the entries is ever needed at the same time).
        self._uses = Counter(
            p.entry_id for plan in plans if plan.rss_path not in reused for p in plan.posts
        )

    def summarised(self, plan: FeedPlan) -> bool:
        """Whether the feed carries its entries' summary-only variants."""
        return plan.kind in self._summary_kinds

    def of(self, posts: Sequence[Post], summary: bool = False) -> list[Any]:
        """The entries of these posts, made first where missing; ``summary``: their
        summary-only variants."""
        entries = self._entries
        for post in posts:
            if post.entry_id not in entries:
                self._make_until(post.entry_id)
        if summary:
            return [entries[p.entry_id].summary() for p in posts]
        return [entries[p.entry_id] for p in posts]

    def _make_until(self, entry_id: str) -> None:
        """Prepare the entries still missing, in order, up to ``entry_id``'s."""
        entries = self._entries
        while entry_id not in entries:
            made_id, post = next(self._to_make)
            done, ahead = next(self._made)
            again = functools.partial(self._source.render, post, self._config)
            summary = made_id in self._summarised
            entries[made_id] = prepare_entry(post, done, self._config, again, ahead, summary)

    def used(self, plan: FeedPlan) -> None:
        """A feed of these posts is made: an entry no feed to come needs goes (``once``)
        or is kept deflated, for the next build; one that only archive pages still need
        is kept deflated until then."""
        uses = self._uses
        live_uses = self._live_uses
        entries = self._entries
        for post in plan.posts:
            entry_id = post.entry_id
            uses[entry_id] -= 1
            if not uses[entry_id]:
                if self._once:
                    del entries[entry_id]
                else:
                    entries[entry_id].compact()
            elif not plan.archive:
                live_uses[entry_id] -= 1
                if not live_uses[entry_id]:
                    # Archive pages are RSS and Atom: a build kept for no other needs
                    # no JSON Feed item of it any more.
                    entries[entry_id].compact(json=not self._once)

    def close(self) -> None:
        """Close the source's iterator (a generator's clean-up runs now)."""
        if isinstance(self._made, Generator):
            self._made.close()

    def finish(self) -> None:
        """Every feed is made: close the source and keep the entries for the next build."""
        # Every missing entry is in a feed made, so the source is spent: closed, a
        # generator's clean-up runs now (the publisher's stops its worker processes).
        assert next(self._to_make, None) is None
        self.close()
        if not self._once:
            needed = self._needed
            current = self._current
            self._kept.update(
                (entry_id, (needed[entry_id], entry))
                for entry_id, entry in self._entries.items()
                if id(needed[entry_id]) in current
            )
            self._state.entries = self._kept
