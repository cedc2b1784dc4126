"""What a publish changes: which feeds, by the digest of their bytes, and which slug
records; what to save and what to log of it. No I/O but reading a feed's bytes back from
the live tree when its digest is known no other way.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from .. import feeds
from ..documents import Document, Site
from ..site.manifest import SpooledDocument, StoredDocument, document_digest
from ..store import FeedRecord, PostRecord, SlugRecord, TombstoneRecord
from .ids import IdPlan

log = logging.getLogger("syndicate.publisher")  # the name its log lines have always had

# URL path -> (document, digest of its body), so unchanged feeds are not hashed again.
Digested = dict[str, tuple[Document, str]]


@dataclasses.dataclass(frozen=True)
class FeedChanges:
    """The feed documents of a Site against the store's feed rows."""

    paths: list[str]  # every feed document, RSS, Atom then JSON Feed of each feed
    changed: list[str]  # those whose bytes are not the ones recorded
    upserts: list[FeedRecord]  # their new rows
    removed: list[str]  # recorded feeds the Site no longer has
    digested: Digested  # the digest of every feed document, for the next publish


def diff_feeds(
    site: Site, stored: Mapping[str, FeedRecord], digested: Digested, now: datetime
) -> FeedChanges:
    """Which feeds changed since the store's rows, by digest; logged one line each."""
    paths = [p for info in site.feeds for p in info.paths]
    counts = {p: info.entry_count for info in site.feeds for p in info.paths}
    changed: list[str] = []
    upserts: list[FeedRecord] = []
    found: Digested = {}
    for path in paths:
        doc = site.documents[path]
        record = stored.get(path)
        known = digested.get(path)
        if known is None or known[0] is not doc:
            known = (doc, _digest(doc, record))
        found[path] = known
        digest = known[1]
        if record is None or record.digest != digest:
            changed.append(path)
            upserts.append(FeedRecord(path, digest, now, counts[path]))
    removed = sorted(set(stored) - set(paths))
    for path in removed:
        log.info("feed %s: removed (no published posts left)", path)
    for path in changed:
        log.info("feed %s: changed", path)
    return FeedChanges(paths, changed, upserts, removed, found)


def _digest(doc: Document, record: FeedRecord | None) -> str:
    """The digest of a document's bytes, without reading them where it is known."""
    if (
        isinstance(doc, StoredDocument)
        and record is not None
        and doc.etag == f'"{record.digest[:32]}"'
    ):
        # Read back from the live tree and the same bytes as recorded (the entity-tag is
        # the digest's first half): no need to read them.
        return record.digest
    if isinstance(doc, SpooledDocument):
        return doc.digest
    return document_digest(doc.body)


def log_slug_changes(upserts: list[SlugRecord], known: feeds.SlugRecords) -> None:
    """One line for each slug minted or released."""
    for claim in upserts:
        before = known.get((claim.kind, claim.name))
        if before is None:
            log.info("%s %r: slug %s minted", claim.kind, claim.name, claim.slug)
        elif before.released_at is None and claim.released_at is not None:
            log.info(
                "%s %r: slug %s released (no other name gets it for %d days)",
                claim.kind,
                claim.name,
                claim.slug,
                feeds.SLUG_GRACE.days,
            )


def with_live_slugs(stored: feeds.SlugRecords, previous: Site | None) -> feeds.SlugRecords:
    """The store's slug records, and the slug of each feed of ``previous`` (the live tree)
    whose name the store has no record of: a store from before slugs were kept, or one
    whose last save was lost, must not move a URL that subscribers already use."""
    if previous is None:
        return stored
    missing = [
        info
        for info in previous.feeds
        if info.kind != "site"
        and info.name is not None
        and info.slug is not None
        and (info.kind, info.name) not in stored
    ]
    if not missing:
        return stored  # the same mapping: the planner knows it as the one it made
    known = dict(stored)
    claimed = {(record.kind, record.slug) for record in stored.values()}
    for info in missing:
        assert info.name is not None and info.slug is not None
        if (info.kind, info.slug) not in claimed:
            claimed.add((info.kind, info.slug))
            known[(info.kind, info.name)] = SlugRecord(info.kind, info.name, info.slug)
    return known


def slug_changes(
    stored: feeds.SlugRecords, after: feeds.SlugRecords
) -> tuple[list[SlugRecord], list[tuple[str, str]]]:
    """What to save for the slug records to go from ``stored`` to ``after``."""
    if after is stored:
        return [], []
    upserts = [record for key, record in after.items() if stored.get(key) != record]
    deletes = [key for key in stored if key not in after]
    return upserts, deletes


def renumbered_ids(plan: IdPlan, records: Mapping[str, PostRecord]) -> set[str]:
    """The entry ids a post left for another at the same path (its front-matter ``id``
    changed): still published, so no tombstone. Only the rows that changed are read."""
    renumbered: set[str] = set()
    for row in plan.upserts:
        old = records.get(row.path)
        if old is not None and old.entry_id != row.entry_id:
            renumbered.add(old.entry_id)
    return renumbered


def tombstone_changes(
    stored: Iterable[TombstoneRecord], made: Iterable[TombstoneRecord] | None
) -> tuple[list[TombstoneRecord], list[tuple[str, str, str]]]:
    """(upserts, deletes) that make the stored tombstones the ones a build left (None:
    it was asked for none, nothing changes); each new one logged."""
    if made is None:
        return [], []
    before = {t.key: t for t in stored}
    after = {t.key: t for t in made}
    upserts = [t for key, t in after.items() if before.get(key) != t]
    for tomb in upserts:
        feed = f"{tomb.kind} feed {tomb.name!r}" if tomb.name else f"{tomb.kind} feed"
        log.info("%s: entry %s gone, shown as deleted since %s", feed, tomb.entry_id, tomb.when)
    return upserts, [key for key in before if key not in after]
