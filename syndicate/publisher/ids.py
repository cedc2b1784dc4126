"""Entry ids: the rules that give every post the entry id readers already have, and the
store rows that record them. Pure: no I/O, and ``now`` is a parameter.

An id is minted once and kept (RFC 4287 4.2.6: an entry's id never changes): a post
keeps the id stored for its path, and a post at a new path takes the id of a vanished
post with the same front-matter ``id`` or the same body (a renamed file). A post's
``updated`` moves when its content changes. ``settle_one`` is the rule for one post and
``reconcile_ids`` applies it to every post, deciding renames and entry ids claimed twice.

``settle_touched`` is the fast path beside it, for an edit: it settles only the files
named as changed against the posts as last settled (a ``Pipe``), at a cost that does not
grow with the number of posts, and gives up (None) whenever a rule would have to
arbitrate (an error, a rename, an id or URL claimed twice), leaving that to
``reconcile_ids``. Both give the same result; ``tests/test_ids.py`` holds them equal.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from .. import posts
from ..config import Config
from ..errors import PostChanged, RemovalRefused
from ..posts import Post, PostProblem
from ..store import PostRecord

log = logging.getLogger("syndicate.publisher")  # the name its log lines have always had

# Below this many posts, a publish may remove any share of them but not every one
# (``publish.max_removed_share`` applies from here on): deleting 3 of a 4-post test
# site is housekeeping, while 6 of 10 gone at once is more likely a checkout in
# progress or a half-copied folder than an editor's intent.
REMOVAL_CHECK_MIN_POSTS = 10


DigestKey = posts.DigestKey


def entry_digests(
    post: Post, known: Mapping[DigestKey, tuple[str, str]], found: dict[DigestKey, tuple[str, str]]
) -> tuple[str, str]:
    """(content digest, body digest); ``known`` ones are taken as they are (see
    ``posts.digest_key``)."""
    key = posts.digest_key(post)
    digests = known.get(key) or found.get(key)
    if digests is None:
        if post.body is None:
            # Kept without its body, yet without its digests (which the cache keeps with
            # it): the publish starts again from the file (``_again_if_changed``).
            raise PostChanged(post.source, "its body is no longer in memory")
        digests = found[key] = posts.entry_digests(post)
    return digests


@dataclasses.dataclass(frozen=True)
class IdPlan:
    """Posts with their entry ids settled against the store, and the store's new rows."""

    posts: tuple[Post, ...]
    problems: tuple[PostProblem, ...]
    upserts: tuple[PostRecord, ...]
    deletes: tuple[str, ...]
    digests: dict[DigestKey, tuple[str, str]]  # computed here, for the caller to keep


# What reading one file gave: its post (None: no post, or the file is gone) and problems.
Found = tuple[Post | None, Sequence[PostProblem]]

# relpath -> (post, its stored record, the post settled from them): a post and record
# that are the very objects of the last publish, and agreed then, settle the same way.
SettleMemo = dict[str, tuple[Post, PostRecord, Post]]


def reconcile_ids(
    loaded: Iterable[Post],
    records: Mapping[str, PostRecord],
    now: datetime,
    memo: SettleMemo | None = None,
    digests: Mapping[DigestKey, tuple[str, str]] | None = None,
) -> IdPlan:
    """Give every post the entry id readers already have. Pure.

    Ids are minted once: a post keeps the id stored for its path; a post at a new path
    takes the id of a vanished post with the same front-matter ``id`` or the same body
    (a renamed file, or a changed date or permalink). Two posts with one id are an error
    naming both files; the later one is left out. An entry's ``updated`` is the front
    matter's ``last_modified_at`` when it is given, else the time its content last changed
    after it was first published.
    """
    loaded = list(loaded)
    present = {post.relpath for post in loaded}
    vanished = {path: rec for path, rec in records.items() if path not in present}
    renames = _Renames(vanished)
    settled: list[Post] = []
    upserts: list[PostRecord] = []
    problems: list[PostProblem] = []
    owner: dict[str, Post] = {}
    fresh: SettleMemo = {}
    found: dict[DigestKey, tuple[str, str]] = {}
    for post in sorted(loaded, key=lambda p: p.relpath):
        known = memo.get(post.relpath) if memo is not None else None
        if known is not None and known[0] is post and known[1] is records.get(post.relpath):
            fresh[post.relpath] = known
            _settle_owner(known[2], owner, settled, problems)
            continue
        digest, body_digest = entry_digests(post, digests or {}, found)
        record = records.get(post.relpath) or renames.claim(post, body_digest)
        given = post
        record, post = settle_one(post, record, now, digest, body_digest)
        stored = records.get(post.relpath)
        if record != stored:
            # Only what changed is written: a scan of 10,000 unchanged posts writes nothing.
            upserts.append(record)
        else:
            # The new row, equal to the stored one, rather than that: its strings are the
            # post's and the cache's, and the publisher keeps it as the store's row
            # (``Publisher._publish``), not a copy of each.
            fresh[post.relpath] = (given, record, post)
        _settle_owner(post, owner, settled, problems)
    if memo is not None:
        memo.clear()
        memo.update(fresh)
    # A renamed post's old row goes too: its id now lives on in the row at the new path.
    deletes = tuple(sorted(vanished))
    return IdPlan(tuple(settled), tuple(problems), tuple(upserts), deletes, found)


class _Renames:
    """The rows of posts that vanished, for a post at a new path to claim its old id by
    its front-matter ``id`` or, failing that, by its body; each row is claimed once."""

    def __init__(self, vanished: Mapping[str, PostRecord]) -> None:
        self.by_front = {rec.front_id: rec for rec in vanished.values() if rec.front_id}
        self.by_body: dict[str, PostRecord] = {}
        for rec in sorted(vanished.values(), key=lambda r: r.path):
            if rec.body_digest:
                self.by_body.setdefault(rec.body_digest, rec)
        self.taken: set[str] = set()  # vanished records claimed by a renamed post

    def claim(self, post: Post, body_digest: str) -> PostRecord | None:
        """The row ``post`` was renamed from, if any (and no other post took it)."""
        front_id = post.entry_id if post.front_id else None
        old = (self.by_front.get(front_id) if front_id else None) or self.by_body.get(body_digest)
        if old is None or old.path in self.taken:
            return None
        self.taken.add(old.path)
        log.info(
            "post %s: renamed from %s, keeps entry id %s", post.relpath, old.path, old.entry_id
        )
        return old


def removed_posts(
    plan: IdPlan,
    records: Mapping[str, PostRecord],
    posts_dir: Path,
    problems: Iterable[PostProblem] = (),
) -> list[str]:
    """The store rows ``plan`` deletes whose entry id no post carries on, and whose file
    is not reported broken: posts removed (their file gone, or no longer a post), not
    renamed (a renamed post takes its row's id along) nor broken (a post with an error
    is the editor's to fix; it keeps its last good version where there is one)."""
    if not plan.deletes:
        return []
    carried = {post.entry_id for post in plan.posts}
    broken = {p.path for p in problems if p.severity == "error"}
    return [
        path
        for path in plan.deletes
        if records[path].entry_id not in carried and posts_dir / path not in broken
    ]


def check_removals(
    plan: IdPlan,
    records: Mapping[str, PostRecord],
    config: Config,
    problems: Iterable[PostProblem] = (),
) -> None:
    """Raise ``RemovalRefused`` if ``plan`` removes every post of the last publish, or
    more than ``publish.max_removed_share`` of them when there were at least
    ``REMOVAL_CHECK_MIN_POSTS``: a folder half copied, a checkout in progress or a
    wrong branch, far more often than an editor's intent (which ``--force`` states)."""
    removed = removed_posts(plan, records, config.posts_dir, problems)
    known = len(records)
    if not removed:
        return
    share = config.publish.max_removed_share
    way_out = "restore the files, or run `syndicate republish --force` if they are meant to go"
    if len(removed) == known:
        raise RemovalRefused(
            f"this publish would remove every post of the last publish ({known}) "
            f"from {config.posts_dir}; {way_out}"
        )
    if known >= REMOVAL_CHECK_MIN_POSTS and len(removed) > share * known:
        shown = ", ".join(removed[:3]) + (
            f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        )
        raise RemovalRefused(
            f"this publish would remove {len(removed)} of the {known} posts of the "
            f"last publish (more than publish.max_removed_share, {share:g}) from "
            f"{config.posts_dir}: {shown}; {way_out}"
        )


def settle_one(
    post: Post, record: PostRecord | None, now: datetime, digest: str, body_digest: str
) -> tuple[PostRecord, Post]:
    """A post's new store row from its old one (None: a new post), and the post with the
    entry id and ``updated`` readers must see."""
    front_id = post.entry_id if post.front_id else None
    entry_id = front_id or (record.entry_id if record else post.entry_id)
    if entry_id == post.entry_id:
        entry_id = post.entry_id  # the post's string, not the store's copy of it
    if record is None:
        record = PostRecord(post.relpath, digest, entry_id, now, now, front_id, body_digest)
    else:
        last_changed = now if record.digest != digest else record.last_changed
        record = PostRecord(
            post.relpath,
            digest,
            entry_id,
            record.first_seen,
            last_changed,
            front_id,
            body_digest,
        )
    updated = post.updated
    if updated is None and record.last_changed > record.first_seen:
        # The content changed after it was first published: readers must see a new
        # `updated` (RFC 4287 4.2.15). When the front matter says when the post last
        # changed (last_modified_at, as jekyll-feed reads it), that is the publisher's own
        # word on what is "significant", and it stands as given.
        updated = max(post.date, record.last_changed)
    if entry_id != post.entry_id or updated != post.updated:
        post = posts.replace(post, entry_id=entry_id, updated=updated)
    return record, post


@dataclasses.dataclass(frozen=True)
class Pipe:
    """The posts of a publish in which nothing needed arbitrating (no errors, no entry id
    or URL used twice), with the indexes ``settle_touched`` updates in place."""

    collected: dict[str, Post]  # relpath -> the post as read
    settled: dict[str, Post]  # relpath -> the post with its settled entry id / updated
    ids: dict[str, str]  # the posts' own entry ids -> relpath
    urls: dict[str, str]  # URL -> relpath
    owners: dict[str, str]  # settled entry id of a published post -> relpath
    warnings: dict[str, list[PostProblem]]  # relpath -> its problems (all warnings)

    @classmethod
    def after(
        cls,
        loaded: Sequence[Post],
        problems: Sequence[PostProblem],
        plan: IdPlan,
        files: Mapping[str, Found] | None,
    ) -> Pipe | None:
        """The pipe after a full publish; None if anything in it was arbitrated."""
        if files is None or plan.problems or any(p.severity == "error" for p in problems):
            return None
        collected = {post.relpath: post for post in loaded}
        settled = {post.relpath: post for post in plan.posts}
        ids = {post.entry_id: post.relpath for post in loaded}
        urls = {post.url: post.relpath for post in loaded}
        if not (len(collected) == len(settled) == len(ids) == len(urls) == len(loaded)):
            return None  # a post was left out (a duplicate), or shares a URL
        warnings = {relpath: list(found) for relpath, (_, found) in files.items() if found}
        if sum(map(len, warnings.values())) != len(problems):
            return None  # a problem of no single file (the folder could not be read)
        owners = {p.entry_id: p.relpath for p in plan.posts if p.published}
        return cls(collected, settled, ids, urls, owners, warnings)

    def ready(
        self,
        touched: Mapping[str, Found],
        records: Mapping[str, PostRecord],
        now: datetime,
        digests: Mapping[DigestKey, tuple[str, str]],
        found: dict[DigestKey, tuple[str, str]],
    ) -> dict[str, tuple[Post, PostRecord, Post]] | None:
        """Each touched post as (read, its new row, settled), changing nothing; None if
        it would claim an entry id or a URL another post holds (``collect_posts`` and
        ``reconcile_ids`` decide which one is left out)."""

        def free(index: Mapping[str, str], key: str, taken: set[str]) -> bool:
            """Whether key is free for a touched post: held by no one, or by a touched
            post (which lets go of it), and not taken by another touched post."""
            holder = index.get(key)
            return (holder is None or holder in touched) and key not in taken

        ready: dict[str, tuple[Post, PostRecord, Post]] = {}
        new_ids: set[str] = set()
        new_urls: set[str] = set()
        new_owners: set[str] = set()
        for relpath, (post, _) in sorted(touched.items()):
            if post is None:
                continue
            if not free(self.ids, post.entry_id, new_ids) or not free(
                self.urls, post.url, new_urls
            ):
                return None
            new_ids.add(post.entry_id)
            new_urls.add(post.url)
            digest, body_digest = entry_digests(post, digests, found)
            record, settled = settle_one(post, records.get(relpath), now, digest, body_digest)
            if settled.published:
                if not free(self.owners, settled.entry_id, new_owners):
                    return None
                new_owners.add(settled.entry_id)
            ready[relpath] = (post, record, settled)
        return ready

    def apply(
        self,
        touched: Mapping[str, Found],
        ready: Mapping[str, tuple[Post, PostRecord, Post]],
        records: Mapping[str, PostRecord],
    ) -> list[PostRecord]:
        """Out with the old versions of the touched files, in with the new (``ready``);
        the rows that changed."""
        ids, urls, owners = self.ids, self.urls, self.owners
        for relpath in touched:
            old = self.collected.pop(relpath, None)
            if old is not None:
                del ids[old.entry_id], urls[old.url]
            was = self.settled.pop(relpath, None)
            if was is not None and was.published:
                del owners[was.entry_id]
            self.warnings.pop(relpath, None)
        upserts: list[PostRecord] = []
        for relpath, (post, record, settled) in ready.items():
            ids[post.entry_id] = urls[post.url] = relpath
            self.collected[relpath] = post
            if settled.published:
                owners[settled.entry_id] = relpath
            self.settled[relpath] = settled
            if record != records.get(relpath):
                upserts.append(record)
        for relpath, (_, problems) in touched.items():
            if problems:
                self.warnings[relpath] = list(problems)
        return upserts


def settle_touched(
    pipe: Pipe,
    touched: Mapping[str, Found],
    records: Mapping[str, PostRecord],
    now: datetime,
    digests: Mapping[DigestKey, tuple[str, str]],
) -> tuple[IdPlan, list[PostProblem]] | None:
    """What ``reconcile_ids`` gives for the posts of ``pipe`` with the files ``touched``
    read again (a post, or None for a file gone), and every post's problems; the pipe is
    updated in place. None, with the pipe as it was, whenever a rule would arbitrate: a
    post with an error (its last good version stays), a batch that removes posts and
    adds others (perhaps a rename), or an entry id or URL claimed twice."""
    if any(p.severity == "error" for _, found in touched.values() for p in found):
        return None
    gone = [rp for rp, (post, _) in touched.items() if post is None and rp in records]
    new = [rp for rp, (post, _) in touched.items() if post is not None and rp not in records]
    if gone and new:
        return None  # perhaps a rename: reconcile_ids matches it to its old id
    # First check everything, changing nothing; then change the pipe in place.
    found: dict[DigestKey, tuple[str, str]] = {}
    ready = pipe.ready(touched, records, now, digests, found)
    if ready is None:
        return None
    upserts = pipe.apply(touched, ready, records)
    warnings = pipe.warnings
    problems = [p for relpath in sorted(warnings) for p in warnings[relpath]]
    plan = IdPlan(tuple(pipe.settled.values()), (), tuple(upserts), tuple(sorted(gone)), found)
    return plan, problems


def _settle_owner(
    post: Post, owner: dict[str, Post], settled: list[Post], problems: list[PostProblem]
) -> None:
    """Settle a post unless a published post earlier by path already has its entry id."""
    if not post.published:
        settled.append(post)
        return
    first = owner.get(post.entry_id)
    if first is not None:
        problems.append(
            PostProblem(
                post.source,
                f"entry id {post.entry_id!r} is already used by {first.source}; "
                "this post is left out until one of them changes its id",
            )
        )
        return
    owner[post.entry_id] = post
    settled.append(post)
