"""Feeds: which posts go in which feed, kept up to date between builds. No I/O.

A full plan sorts every visible post once (newest first) and walks them to fill each
feed's list. A ``PlanState`` keeps that work: every feed's whole member list (not only
its first ``limit`` entries, so a post leaving a feed lets the next one in) and the
plans made from it. Given the posts of the next build, it finds the posts that are not
the very objects it saw last time, moves only those, and remakes only the plans of the
feeds they are or were in. The cost grows with the feeds the changed posts are in, not
with the number of posts; the result is the same as planning from scratch, which is
what the incremental tests compare.

A state is used by one build only: ``plan`` marks the one it is given as spent before
changing it, so a build that fails halfway leaves nothing half-updated behind; the next
build then plans from scratch.

Slugs are minted once (``mint_slugs``): the caller passes the slug records it keeps (the
store's) and gets every record back in ``PlanState.slugs``, the new ones included, to
keep for the next build. Planning from a previous state gives what planning from scratch
with the same records gives.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from ..config import Author, Config
from ..documents import FeedInfo, FeedKind, feed_paths
from ..posts import Post
from ..store import SlugRecord, TombstoneRecord
from ._slugs import mint_slugs

logger = logging.getLogger(__name__)

_KIND_LABELS = {"category": "Category", "tag": "Tag", "author": "Author"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Newest first; equal dates by entry id, then file, so input order never matters.
SortKey = tuple[int, str, str]  # (-microseconds since the epoch, entry id, relpath)
FeedKey = tuple[str, str]  # (kind, name); the site feed is ("site", "")
_SITE: FeedKey = ("site", "")
_NAMED_KINDS = ("category", "tag", "author")
SlugRecords = Mapping[FeedKey, SlugRecord]


Paths = tuple[str, str, str]  # a feed's URL paths: RSS, Atom, JSON Feed
PagePaths = tuple[str, str]  # an archive page's: RSS, Atom (JSON Feed has no archives)


@dataclasses.dataclass(frozen=True)
class PlanHistory:
    """A feed's RFC 5005 links, as URL paths: the live feed's ``prev_archive`` (its newest
    archive page), or an archive page's ``current`` (the live feed) and neighbours."""

    current: PagePaths | None = None  # set on an archive page only: the live feed's
    prev_archive: PagePaths | None = None  # the next older page
    next_archive: PagePaths | None = None  # the next newer page


@dataclasses.dataclass(frozen=True)
class FeedPlan:
    """One feed before rendering: who it is and which posts, newest first. An archive
    page is a FeedPlan too: its feed's kind, name and title, its own paths, its posts."""

    kind: FeedKind
    name: str | None
    slug: str | None
    title: str
    description: str
    rss_path: str
    atom_path: str
    json_path: str
    posts: Sequence[Post]
    # An author feed's author (its channel's author); None: the site's.
    author: Author | None = None
    # RFC 5005 links; None: a feed without archives.
    history: PlanHistory | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        """The URL paths of its documents: RSS, Atom, then JSON Feed (none for an archive
        page: RFC 5005 has no JSON Feed form)."""
        if self.archive:
            return (self.rss_path, self.atom_path)
        return (self.rss_path, self.atom_path, self.json_path)

    @property
    def archive(self) -> bool:
        """An archive page (RFC 5005), not a live feed."""
        return self.history is not None and self.history.current is not None


def _utc(moment: datetime) -> datetime:
    # Post dates are promised aware UTC; a naive one is taken as UTC rather than
    # letting feedgen raise halfway through a build.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _clean_names(names: Iterable[str]) -> tuple[str, ...]:
    """Distinct, non-blank names in their original order (a blank term is invalid Atom)."""
    return tuple(dict.fromkeys(n for n in names if n.strip()))


def normalise(post: Post) -> Post:
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


def _sort_key(post: Post) -> SortKey:
    age = (post.date - _EPOCH) // _MICROSECOND
    return (-age, post.entry_id, post.relpath)


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def _author_keys(config: Config) -> dict[Author, str]:
    """Each author of ``authors:`` -> its key (the first key, if two are the same person)."""
    keys: dict[Author, str] = {}
    for key, author in config.authors.items():
        keys.setdefault(author, key)
    return keys


def _feed_keys(post: Post, authors: Mapping[Author, str]) -> list[FeedKey]:
    keys = [
        _SITE,
        *(("category", name) for name in post.categories),
        *(("tag", name) for name in post.tags),
    ]
    # An author feed is keyed by the `authors:` key, not the display name, so renaming
    # the person keeps the feed's URL; a name not in `authors:` (and the site's default
    # author) gets no feed: nothing keeps it stable.
    key = authors.get(post.author) if post.author is not None else None
    if key is not None:
        keys.append(("author", key))
    return keys


@dataclasses.dataclass
class PlanState:
    """What the last plan was made from, to make the next one from the differences."""

    config: Config
    now: datetime
    seen: dict[str, Post]  # relpath -> the post object last given (compared by identity)
    chosen: dict[str, Post]  # relpath -> the normalised post, when in the selection
    waiting: dict[str, Post]  # relpath -> a published post dated after ``now``
    members: dict[FeedKey, list[SortKey]]  # every feed's members, sorted
    by_key: dict[SortKey, Post]
    plans: dict[FeedKey, FeedPlan]
    order: list[FeedPlan]  # the plans in document order
    ids: set[str] = dataclasses.field(default_factory=set)  # entry ids of ``chosen``
    duplicates: bool = False  # two posts shared an entry id: plan from scratch next time
    # rss_path -> (plan, value) made from it: a plan that is the same object is unchanged.
    signatures: dict[str, tuple[FeedPlan, str]] = dataclasses.field(default_factory=dict)
    infos: dict[str, tuple[FeedPlan, FeedInfo]] = dataclasses.field(default_factory=dict)
    # entry id -> (post, its prepared feed entry) of the entries the last build prepared.
    entries: dict[str, tuple[Post, object]] = dataclasses.field(default_factory=dict)
    spent: bool = False
    # Each author of ``config.authors`` -> its key (``_author_keys``).
    authors: dict[Author, str] = dataclasses.field(default_factory=dict)
    # Each archived feed's archive pages (RFC 5005), oldest first, and all of them in
    # document order.
    archives: dict[FeedKey, tuple[FeedPlan, ...]] = dataclasses.field(default_factory=dict)
    archive_order: list[FeedPlan] = dataclasses.field(default_factory=list)
    # The sort keys of the posts this plan took out or put in (an edit: both, the same),
    # sorted; None: every post (a full plan). An archive month with none of them keeps
    # its pages' posts.
    dirty: list[SortKey] | None = None
    # The slug records given, and every record after this plan: the names of the feeds
    # and of those gone (see ``mint_slugs``). Replaced, never changed in place, so the
    # caller may keep the mapping it was given as what it saved.
    given: SlugRecords = dataclasses.field(default_factory=dict)
    slugs: SlugRecords = dataclasses.field(default_factory=dict)
    # The posts this plan took out of the selection (entry id -> the post as it was),
    # some put back since; None: planned from scratch, so not known.
    left: dict[str, Post] | None = None
    # The tombstones after the build (``build_site``'s ``tombstones``, updated), for the
    # caller to keep; None: none were asked for.
    tombstones: tuple[TombstoneRecord, ...] | None = None


def plan_feeds(
    posts: Iterable[Post],
    config: Config,
    now: datetime,
    previous: PlanState | None = None,
    changed: Mapping[str, Post | None] | None = None,
    slugs: SlugRecords | None = None,
) -> PlanState:
    """Plan every feed from the posts; from ``previous`` when it can, else from scratch.

    ``changed`` (relpath -> the post now, None if gone) says which of ``posts`` differ
    from the ones ``previous`` was planned from, when the caller knows: then the posts
    are not even compared. It must name every difference. ``slugs`` are the slug
    records kept from earlier builds (none: each name gets ``make_slugs``' slug); the
    result's ``slugs`` are the records to keep after this one.
    """
    now = _utc(now)
    known: SlugRecords = slugs if slugs is not None else {}
    if previous is not None and not previous.spent and previous.config == config:
        previous.spent = True
        state = _update(previous, posts, now, changed, known)
        if state is not None:
            return state
    return _full(list(posts), config, now, known)


def _visible(post: Post, now: datetime) -> tuple[Post | None, Post | None]:
    """(selected, waiting): a published post dated up to now, or one dated after it."""
    if not post.published:
        return None, None
    post = normalise(post)
    return (post, None) if post.date <= now else (None, post)


def _full(posts: list[Post], config: Config, now: datetime, known: SlugRecords) -> PlanState:
    chosen: dict[str, Post] = {}
    waiting: dict[str, Post] = {}
    keyed: list[tuple[SortKey, Post]] = []
    for post in posts:
        shown, later = _visible(post, now)
        if later is not None:
            waiting[later.relpath] = later
        if shown is not None:
            keyed.append((_sort_key(shown), shown))
    keyed.sort(key=lambda item: item[0])
    members: dict[FeedKey, list[SortKey]] = {_SITE: []}
    by_key: dict[SortKey, Post] = {}
    ids: set[str] = set()
    duplicates = False
    authors = _author_keys(config)
    for key, post in keyed:
        # Two items with one guid is an RSS error and readers keep only one of them.
        if post.entry_id in ids:
            duplicates = True
            logger.warning(
                "%s: duplicate entry id %s, left out of the feeds", post.relpath, post.entry_id
            )
            continue
        ids.add(post.entry_id)
        chosen[post.relpath] = post
        by_key[key] = post
        for feed in _feed_keys(post, authors):
            members.setdefault(feed, []).append(key)
    state = PlanState(
        config=config,
        now=now,
        seen={post.relpath: post for post in posts},
        chosen=chosen,
        waiting=waiting,
        members=members,
        by_key=by_key,
        plans={},
        order=[],
        ids=ids,
        duplicates=duplicates,
        authors=authors,
        given=known,
        slugs=known,
    )
    _remake(state, set(members), names_changed=set(_NAMED_KINDS), base=known)
    return state


def _update(
    state: PlanState,
    posts: Iterable[Post],
    now: datetime,
    hint: Mapping[str, Post | None] | None,
    known: SlugRecords,
) -> PlanState | None:
    """Move the posts that changed since ``state``; None when only a full plan will do."""
    if now < state.now or state.duplicates:
        # The clock went back (what was visible may not be any more), or a post left out
        # as a duplicate may now be due in: both are for the full plan.
        return None
    found = _changes(state, posts, hint)
    if found is None:
        return None  # two posts at one path: leave it to the full plan
    state.left = {}
    seen, changed = found
    # Posts dated after the last plan and up to now come out of waiting.
    changed += [path for path, post in state.waiting.items() if post.date <= now]
    touched: set[FeedKey] = set()
    names_before = _named_feeds(state)
    dirty: set[SortKey] = set()
    for path in dict.fromkeys(changed):
        _take_out(state, path, touched, dirty)
        post = seen.get(path)
        if post is not None and not _put_in(state, path, post, now, touched, dirty):
            return None  # a duplicate id: the full plan decides who keeps it, and says so
    state.dirty = sorted(dirty)
    state.seen = seen
    state.now = now
    kinds = {kind for kind, _ in names_before ^ _named_feeds(state)}
    base, kinds = _slug_base(state, known, kinds)
    state.given = known
    _remake(state, touched, names_changed=kinds, base=base)
    state.spent = False
    return state


def _changes(
    state: PlanState, posts: Iterable[Post], hint: Mapping[str, Post | None] | None
) -> tuple[dict[str, Post], list[str]] | None:
    """The posts now (relpath -> post), and the paths of those that are not the very
    objects ``state`` last saw: from ``hint`` when given (then ``posts`` is not even
    read), else by comparing them all. None if two posts have one path."""
    if hint is not None:
        seen = state.seen
        for path, given in hint.items():
            if given is None:
                seen.pop(path, None)
            else:
                seen[path] = given
        return seen, list(hint)
    listed = list(posts)
    seen = {post.relpath: post for post in listed}
    if len(seen) != len(listed):
        return None
    old_seen = state.seen
    changed = [path for path, post in seen.items() if old_seen.get(path) is not post]
    changed += [path for path in old_seen if path not in seen]
    return seen, changed


def _named_feeds(state: PlanState) -> set[FeedKey]:
    return {key for key in state.members if key != _SITE}


def _take_out(state: PlanState, path: str, touched: set[FeedKey], dirty: set[SortKey]) -> None:
    """Take the post at ``path`` out of the selection and of its feeds' members."""
    old = state.chosen.pop(path, None)
    state.waiting.pop(path, None)
    if old is None:
        return
    state.ids.discard(old.entry_id)
    if state.left is not None:
        state.left[old.entry_id] = old
    key = _sort_key(old)
    dirty.add(key)
    del state.by_key[key]
    for feed in _feed_keys(old, state.authors):
        keys = state.members[feed]
        del keys[bisect.bisect_left(keys, key)]
        if not keys and feed != _SITE:
            del state.members[feed]
        touched.add(feed)


def _put_in(
    state: PlanState,
    path: str,
    post: Post,
    now: datetime,
    touched: set[FeedKey],
    dirty: set[SortKey],
) -> bool:
    """Put ``post`` in the selection and its feeds, or in waiting; False if its entry id
    is another post's."""
    shown, later = _visible(post, now)
    if later is not None:
        state.waiting[path] = later
    if shown is None:
        return True
    if shown.entry_id in state.ids:
        return False
    state.ids.add(shown.entry_id)
    key = _sort_key(shown)
    dirty.add(key)
    state.chosen[path] = shown
    state.by_key[key] = shown
    for feed in _feed_keys(shown, state.authors):
        bisect.insort(state.members.setdefault(feed, []), key)
        touched.add(feed)
    return True


def _slug_base(
    state: PlanState, known: SlugRecords, kinds: set[str]
) -> tuple[SlugRecords, set[str]]:
    """The records to mint slugs from, and the kinds whose slugs to mint again."""
    if known is state.slugs or known == state.slugs:
        # The records the last plan made (the caller saved them): planned again from
        # them, a kind whose names did not change gives them back as they are.
        return state.slugs, kinds
    if not known and not state.given:
        # No records either time: the slugs depend on the names only.
        return known, kinds
    # Records from elsewhere (another process published): every name is looked up.
    return known, set(_NAMED_KINDS)


def _remake(
    state: PlanState, touched: set[FeedKey], names_changed: set[str], base: SlugRecords
) -> None:
    """Remake the plans of the touched feeds and their order; mint the slugs of the kinds
    whose names changed from the records in ``base`` (and remake a feed whose slug
    moved: only one whose record was not kept)."""
    plans = state.plans
    for gone in [key for key in plans if key not in state.members]:
        del plans[gone]
        state.archives.pop(gone, None)
    if _SITE in touched or _SITE not in plans:
        plans[_SITE] = _site_plan(state)
    if names_changed:
        state.slugs = _minted(state, names_changed, base)
    state.order = [plans[_SITE], *_named_plans(state, touched)]
    state.archive_order = [
        page for plan in state.order for page in state.archives.get(_key_of(plan), ())
    ]


def _key_of(plan: FeedPlan) -> FeedKey:
    return _SITE if plan.kind == "site" else (plan.kind, plan.name or "")


def _archived(state: PlanState, feed: FeedKey) -> bool:
    """Whether the feed has archive pages: archives on for its kind, and more posts than
    the live feed holds (else the live feed is the whole feed)."""
    rule = state.config.feeds.archives
    if rule == "none" or (rule == "site" and feed != _SITE):
        return False
    return len(state.members.get(feed, ())) > state.config.feeds.limit


def _with_history(state: PlanState, feed: FeedKey, plan: FeedPlan) -> FeedPlan:
    """The live plan with its archive pages made (again) and its ``prev-archive`` link
    to the newest."""
    if not _archived(state, feed):
        state.archives.pop(feed, None)
        return plan
    pages = _archive_pages(state, feed, plan, state.archives.get(feed, ()))
    state.archives[feed] = pages
    newest = pages[-1]
    history = PlanHistory(prev_archive=(newest.rss_path, newest.atom_path))
    return dataclasses.replace(plan, history=history)


def _page_paths(live: FeedPlan, year: int, month: int, part: int) -> PagePaths:
    """An archive page's URL paths: ``/feed/archive/2024/03.atom`` for the site feed's
    first page of March 2024, ``/tag/x/archive/2024/03-2.atom`` for a tag's second."""
    base = live.rss_path.removesuffix(".rss")
    name = f"{month:02d}" if part == 1 else f"{month:02d}-{part}"
    stem = f"{base}/archive/{year:04d}/{name}"
    return (f"{stem}.rss", f"{stem}.atom")


def _months(keys: Sequence[SortKey]) -> list[tuple[int, int, Sequence[SortKey]]]:
    """The members (newest first) by month of their date, in UTC: (year, month, their
    keys, newest first), oldest month first. A month is found by two bisections, so the
    cost grows with the months, not the posts."""
    months: list[tuple[int, int, Sequence[SortKey]]] = []
    end = len(keys)
    while end > 0:
        oldest = _EPOCH + _MICROSECOND * -keys[end - 1][0]
        year, month = oldest.year, oldest.month
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        # The first key dated before the next month: sort keys grow as dates go back.
        start = bisect.bisect_left(keys, (-((following - _EPOCH) // _MICROSECOND) + 1,))
        months.append((year, month, keys[start:end]))
        end = start
    return months


def _touches(dirty: Sequence[SortKey], keys: Sequence[SortKey]) -> bool:
    """Whether a dirty key (sorted) falls within ``keys`` (a sorted, non-empty run)."""
    at = bisect.bisect_left(dirty, keys[0])
    return at < len(dirty) and dirty[at] <= keys[-1]


def _same_month(olds: list[FeedPlan], keys: Sequence[SortKey], after: FeedPlan | None) -> bool:
    """Whether a month's pages before (``olds``, as many as it has now, and ``after``, the
    one after them, which must not be) hold the posts of ``keys`` (none of them changed):
    as many posts, the same oldest and newest (a post taken out or put in between them
    would be a changed one)."""
    return (
        after is None
        and sum(len(old.posts) for old in olds) == len(keys)
        and _sort_key(olds[0].posts[-1]) == keys[-1]
        and _sort_key(olds[-1].posts[0]) == keys[0]
    )


def _archive_pages(
    state: PlanState, feed: FeedKey, live: FeedPlan, before: Sequence[FeedPlan]
) -> tuple[FeedPlan, ...]:
    """The feed's archive pages, oldest first: every post of the feed by month, each
    month's oldest first in pages of ``feeds.archive_page_size``, each page newest first.

    Adding a post changes the newest page only (and, when it starts a new one, the one
    before gains its ``next-archive`` link); an edit changes its own page. A page equal
    to one in ``before`` (the same posts, the very objects, and links) is that plan."""
    size = state.config.feeds.archive_page_size
    by_key = state.by_key
    known = {plan.rss_path: plan for plan in before}
    dirty = state.dirty
    pages: list[tuple[PagePaths, Sequence[Post]]] = []
    for year, month, keys in _months(state.members[feed]):
        count = -(-len(keys) // size)
        month_paths = [_page_paths(live, year, month, part) for part in range(1, count + 1)]
        if dirty is not None and not _touches(dirty, keys):
            # No post of this month changed: its pages hold the posts they held (the
            # same objects), found without a look-up per post (the edit fast path).
            olds = [known[rss] for rss, _ in month_paths if rss in known]
            after = known.get(_page_paths(live, year, month, count + 1)[0])
            if len(olds) == count and _same_month(olds, keys, after):
                pages.extend(zip(month_paths, (old.posts for old in olds), strict=True))
                continue
        oldest_first = keys[::-1]
        for index, path in enumerate(month_paths):
            chunk = oldest_first[index * size : (index + 1) * size]
            pages.append((path, tuple(by_key[key] for key in reversed(chunk))))
    made: list[FeedPlan] = []
    for index, (paths, posts) in enumerate(pages):
        history = PlanHistory(
            current=(live.rss_path, live.atom_path),
            prev_archive=pages[index - 1][0] if index > 0 else None,
            next_archive=pages[index + 1][0] if index + 1 < len(pages) else None,
        )
        old = known.get(paths[0])
        if (
            old is not None
            and old.history == history
            and old.title == live.title
            and old.description == live.description
            and old.author == live.author
            and (
                old.posts is posts
                or (
                    len(old.posts) == len(posts)
                    and all(a is b for a, b in zip(old.posts, posts, strict=True))
                )
            )
        ):
            made.append(old)
            continue
        made.append(
            dataclasses.replace(
                live,
                rss_path=paths[0],
                atom_path=paths[1],
                json_path="",
                posts=posts,
                history=history,
            )
        )
    return tuple(made)


def _posts_of(state: PlanState, feed: FeedKey) -> tuple[Post, ...]:
    """The feed's posts: its first ``feeds.limit`` members."""
    return tuple(state.by_key[key] for key in state.members[feed][: state.config.feeds.limit])


def _site_plan(state: PlanState) -> FeedPlan:
    site = state.config.site
    rss_path, atom_path, json_path = feed_paths("site", None)
    plan = FeedPlan(
        kind="site",
        name=None,
        slug=None,
        title=site.title,
        description=site.description or f"The latest posts from {site.title}",
        rss_path=rss_path,
        atom_path=atom_path,
        json_path=json_path,
        posts=_posts_of(state, _SITE),
    )
    return _with_history(state, _SITE, plan)


def _minted(state: PlanState, kinds: set[str], base: SlugRecords) -> SlugRecords:
    """Every slug record once the slugs of these kinds are minted from ``base``."""
    records = {key: rec for key, rec in state.slugs.items() if key[0] not in kinds}
    for kind in kinds:
        present = (name for k, name in state.members if k == kind)
        mine = (rec for key, rec in base.items() if key[0] == kind)
        minted = mint_slugs(kind, present, mine, state.now)
        records.update(((kind, name), rec) for name, rec in minted.items())
    return records


def _named_plans(state: PlanState, touched: set[FeedKey]) -> list[FeedPlan]:
    """The category feeds', the tag feeds', then the author feeds' plans, by name; made
    again for a feed touched or whose slug moved."""
    plans = state.plans
    slugs = state.slugs
    order: list[FeedPlan] = []
    for kind in _NAMED_KINDS:
        names = sorted(
            (name for k, name in state.members if k == kind), key=lambda n: (n.casefold(), n)
        )
        for name in names:
            feed = (kind, name)
            slug = slugs[feed].slug
            current = plans.get(feed)
            if current is None or feed in touched or current.slug != slug:
                current = _named_plan(state, kind, name, slug)
                current = plans[feed] = _with_history(state, feed, current)
            order.append(current)
    return order


def _named_plan(state: PlanState, kind: str, name: str, slug: str) -> FeedPlan:
    site = state.config.site
    feed_kind: FeedKind = "category" if kind == "category" else "tag"
    author = None
    title = f"{site.title} — {_KIND_LABELS[kind]}: {name}"
    description = f"Posts in the {kind} “{name}” from {site.title}"
    if kind == "author":
        feed_kind = "author"
        author = state.config.authors[name]
        title = f"{site.title} — {_KIND_LABELS[kind]}: {author.name}"
        description = f"Posts by {author.name} from {site.title}"
    rss_path, atom_path, json_path = feed_paths(feed_kind, slug)
    return FeedPlan(
        kind=feed_kind,
        name=name,
        slug=slug,
        title=title,
        description=description,
        rss_path=rss_path,
        atom_path=atom_path,
        json_path=json_path,
        posts=_posts_of(state, (kind, name)),
        author=author,
    )
