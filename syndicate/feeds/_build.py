"""Feeds: ``build_site``, posts + config + now -> ``Site``. PURE: no I/O, no clock.

``now`` is a parameter and the same inputs give the same bytes. It plans the feeds
(``_plan``), renders their documents (``_formats``, ``_listing``) and reuses what an
earlier build made from the same inputs.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import typing
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..config import Config, fingerprint
from ..documents import Document, FeedInfo, Site, entity_tag
from ..posts import Post, Rendered, render_post
from ._formats import FeedMeta, Serialised, entry_change, prepare_entry, render_feed
from ._listing import render_index, render_opml
from ._plan import FeedPlan, SlugRecords, plan_feeds

logger = logging.getLogger(__name__)

INDEX_PATH = "/"
OPML_PATH = "/feeds.opml"

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


def _document(media_type: str, body: bytes, last_modified: datetime) -> Document:
    etag = entity_tag(body)
    return Document(media_type=media_type, body=body, etag=etag, last_modified=last_modified)


def _render_one(
    render: Callable[[Post, Config], Rendered], render_many: RenderMany | None, config: Config
) -> Callable[[Post], Rendered]:
    """How a prepared entry gets its post's HTML again: ``render_many`` (from its cache)
    when there is one, else ``render``."""
    if render_many is not None:
        return lambda post: render_many([post], config)[0]
    return lambda post: render(post, config)


def _as_made(url_path: str, document: Document) -> Document:
    return document


RenderMany = Callable[[Sequence[Post], Config], Sequence[Rendered]]
# Renders a batch and may serialise its entries ahead: for each post, (its Rendered,
# None) or (None, ``serialise_entries``' bytes for its entry).
# The results may come as an iterator, in order: each feed is made once its entries are.
PrepareMany = Callable[
    [Sequence[Post], Config], Iterable[tuple[Rendered | None, Serialised | None]]
]


def config_fingerprint(config: Config) -> str:
    """Digest of the configuration and syndicate's version: anything that shapes a feed."""
    return fingerprint(config)


def _signature(plan: FeedPlan, config_digest: str) -> str:
    """Digest of what a feed's documents are made from; equal -> byte-identical output.

    A post's file digest covers its text and front matter; entry id and updated come
    from the store, the path from the file system; the rest is the config's.
    """
    parts = [config_digest, plan.kind, plan.name or "", plan.title, plan.description]
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
    render: Callable[[Post, Config], Rendered] = render_post,
    *,
    previous: Site | None = None,
    render_many: RenderMany | None = None,
    prepare_many: PrepareMany | None = None,
    changed: Mapping[str, Post | None] | None = None,
    keep: Callable[[str, Document], Document] | None = None,
    once: bool = False,
    planned: Callable[[list[str]], None] | None = None,
    slugs: SlugRecords | None = None,
) -> Site:
    """Build every feed, the OPML and the index page. Pure; renders each entry once.

    With ``previous`` (the Site of an earlier build), a feed whose inputs are unchanged
    keeps its documents and its posts are not rendered: the result is byte-identical
    to a full build, at a cost that grows with the feeds that changed. ``render_many``
    renders a batch at once (in parallel, from a cache) instead of calling ``render``;
    ``prepare_many``, if given, renders the batch instead, and may hand back entries
    serialised ahead (``serialise_entries``, where the posts were rendered), which are
    then spliced as they are (``render_many`` or ``render`` still renders a post again).
    ``changed`` (relpath -> post now, None if gone) names every post that differs from
    ``previous``'s, when the caller knows, so the others are not even looked at.
    ``keep`` is given each document as soon as it is made (URL path, document), and
    what it returns goes in the Site instead: a static build writes the document out
    and keeps it without its bytes, so that it never holds every feed at once.
    ``once``: the Site will be no later build's ``previous``, so the prepared entries
    are not kept for one (the result is the same, in less memory). ``planned`` is given
    the URL paths of the feed documents to be made, before the posts are rendered (a
    static build creates their files meanwhile). ``slugs`` are the slug records kept
    from earlier builds, (kind, name) -> record: a name keeps its slug, and a new one
    gets one no other name holds (none given: ``make_slugs``' slugs). The records to keep
    after this build, the new ones included, are the result's ``plan.slugs``.
    """
    keep = keep or _as_made
    state = plan_feeds(
        posts, config, now, previous.plan if previous is not None else None, changed, slugs
    )
    plans = state.order
    config_digest = config_fingerprint(config)
    signatures: dict[str, str] = {}
    for feed in plans:
        known = state.signatures.get(feed.rss_path)
        if known is None or known[0] is not feed:
            known = state.signatures[feed.rss_path] = (feed, _signature(feed, config_digest))
        signatures[feed.rss_path] = known[1]
    for gone in set(state.signatures) - set(signatures):
        del state.signatures[gone]
    old_signatures = previous.signatures if previous is not None else {}
    reused = {
        plan.rss_path
        for plan in plans
        if previous is not None
        and old_signatures.get(plan.rss_path) == signatures[plan.rss_path]
        and plan.rss_path in previous.documents
        and plan.atom_path in previous.documents
    }

    if planned is not None:
        planned(
            [
                path
                for plan in plans
                if plan.rss_path not in reused
                for path in (plan.rss_path, plan.atom_path)
            ]
        )

    # Render and prepare each post once, however many feeds it is in, in feed order
    # so the calls to ``render`` are deterministic too.
    needed: dict[str, Post] = {}
    for plan in plans:
        if plan.rss_path in reused:
            continue
        for post in plan.posts:
            needed.setdefault(post.entry_id, post)
    # An entry prepared by the last build for the very same post object is kept (with
    # the bytes it serialised to), so an edit prepares only the edited post's entry.
    entries: dict[str, Any] = {}
    for entry_id, post in needed.items():
        prepared = state.entries.get(entry_id)
        if prepared is not None and prepared[0] is post:
            entries[entry_id] = prepared[1]
    missing = {entry_id: post for entry_id, post in needed.items() if entry_id not in entries}
    render_one = _render_one(render, render_many, config)
    made: Iterator[tuple[Rendered | None, Serialised | None]]
    if prepare_many is not None:
        made = iter(prepare_many(list(missing.values()), config))
    elif render_many is not None:
        made = ((done, None) for done in render_many(list(missing.values()), config))
    else:
        made = ((render(post, config), None) for post in missing.values())
    to_make = iter(missing.items())

    def make_until(entry_id: str) -> None:
        """Prepare the entries still missing, in order, up to ``entry_id``'s: the feeds
        are made as their entries come (from processes still rendering the next ones)."""
        while entry_id not in entries:
            made_id, post = next(to_make)
            done, ahead = next(made)
            again = functools.partial(render_one, post)
            entries[made_id] = prepare_entry(post, done, config, again, ahead)

    # Kept for every post still in a feed (the reused feeds' too), dropped for the rest.
    # An entry is kept for the very post it was made from, which it holds (so its id() is
    # its own): the posts are found by identity, without reading a field of each of them
    # (some 6,500 scattered objects at 10,000 posts, 5 to 20 ms of an edit on a busy VM).
    current = {id(post) for feed in plans for post in feed.posts}
    kept = {entry_id: known for entry_id, known in state.entries.items() if id(known[0]) in current}
    state.entries = {}  # until every entry is made: a build that fails keeps none
    # After the last feed it is in, each entry goes (once) or is kept deflated (at 10,000
    # posts, never more than a quarter of the 4,148 entries are needed at the same time).
    uses = Counter(p.entry_id for plan in plans if plan.rss_path not in reused for p in plan.posts)

    documents: dict[str, Document] = {}
    infos: list[FeedInfo] = []
    try:
        for plan in plans:
            known_info = state.infos.get(plan.rss_path)
            if known_info is not None and known_info[0] is plan:
                info = typing.cast(FeedInfo, known_info[1])
            else:
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
                )
                state.infos[plan.rss_path] = (plan, info)
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
                updated=info.updated or EMPTY_FEED_DATE,
                published=max((p.date for p in plan.posts), default=None),
            )
            for post in plan.posts:
                make_until(post.entry_id)
            feed_entries = [entries[p.entry_id] for p in plan.posts]
            for fmt, path in (("rss", plan.rss_path), ("atom", plan.atom_path)):
                body = render_feed(meta, feed_entries, config, "rss" if fmt == "rss" else "atom")
                documents[path] = keep(path, _document(MEDIA_TYPES[fmt], body, meta.updated))
            del feed_entries
            for post in plan.posts:
                uses[post.entry_id] -= 1
                if not uses[post.entry_id]:
                    if once:
                        del entries[post.entry_id]
                    else:
                        entries[post.entry_id].compact()  # kept for the next publish, deflated
    except BaseException:
        if isinstance(made, Generator):
            made.close()  # the caller's clean-up runs now, not when the frame goes
        raise

    for gone in set(state.infos) - set(signatures):
        del state.infos[gone]
    # Every missing entry is in a feed made above, so ``made`` is spent: closed, a
    # generator's clean-up runs now (the publisher's stops its worker processes).
    assert next(to_make, None) is None
    if isinstance(made, Generator):
        made.close()
    if not once:
        kept.update((entry_id, (needed[entry_id], entry)) for entry_id, entry in entries.items())
        state.entries = kept
    feeds = tuple(infos)
    newest = max((f.updated for f in feeds if f.updated is not None), default=None)
    modified = newest or EMPTY_FEED_DATE
    documents[OPML_PATH] = keep(
        OPML_PATH, _document(MEDIA_TYPES["opml"], render_opml(feeds, config, modified), modified)
    )
    documents[INDEX_PATH] = keep(
        INDEX_PATH,
        _document(
            MEDIA_TYPES["html"],
            render_index(feeds, config, newest, OPML_PATH, latest=_latest(plans)),
            modified,
        ),
    )
    return Site(documents=documents, feeds=feeds, signatures=signatures, plan=state)
