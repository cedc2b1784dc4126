"""Slugs for category, tag and author names (an author's is its ``authors:`` key):
URL-safe ASCII, distinct, stable. No I/O.

A slug becomes both a URL path segment and a file name (``/tag/<slug>.rss``), so it
must never be empty, ``.``/``..`` or contain ``/``: every slug matches
``^[a-z0-9][a-z0-9-]*$`` and no name can escape the output folder.

A feed URL is a promise to its subscribers, so a slug is minted once, like an entry id:
``mint_slugs`` keeps the slug each name was given (the store remembers them) and mints
one only for a new name, never taking a slug another name holds or freed less than
``SLUG_GRACE`` ago. ``make_slugs`` is how a set of new names is given slugs, and all a
first build (no store) uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Final

from slugify import slugify

from ..store import SlugRecord

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

#: How long a name that lost its feed keeps its slug from other names. Readers poll a
#: feed from hourly to weekly, and a subscriber's URL that briefly answers 404 (every
#: post of a tag unpublished, then one back) must not come back as another tag's feed.
SLUG_GRACE: Final = timedelta(days=30)

# Long names are cut so "<slug>-<hash>.atom" stays far below the 255-byte file-name limit.
_MAX_LENGTH = 80
_SUFFIX_LENGTH = 6


def _digest(name: str) -> str:
    # surrogatepass: a lone surrogate must not crash the build; it still hashes stably.
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def _natural(name: str) -> str:
    """The slug a name would have on its own: transliterated, lowercase ASCII."""
    slug = slugify(name, max_length=_MAX_LENGTH)
    # slugify already keeps only [a-z0-9-]; the check guards against a future change.
    if slug and SLUG_RE.match(slug):
        return slug
    # Nothing sluggable ("!!!", "C" in another script slugify cannot map): a short hash.
    return _digest(name)[:8]


def _rank(name: str, slug: str) -> tuple[int, str]:
    """Who keeps the bare slug in a collision group: lower wins.

    The name that *is* its slug ("python") first, then one that only differs by
    case ("Python"), then any ASCII name ("C#" before "Café"), then the rest; ties
    by the name itself, so the order of the input never matters.
    """
    if name == slug:
        return (0, name)
    if name.lower() == slug:
        return (1, name)
    if name.isascii():
        return (2, name)
    return (3, name)


def make_slugs(names: Iterable[str], taken: Collection[str] = ()) -> dict[str, str]:
    """Map each name to a URL-safe ASCII slug, distinct and stable for the same set of names.

    Names sharing a natural slug (``C++``/``C#``, ``Café``/``Cafe``, ``Python``/``python``)
    are told apart by a suffix from a hash of the name (``c-3f2a1b``); the best-ranked
    name of the group keeps the bare slug, so adding a new colliding name never renames
    a plain ASCII one. No name is given a slug in ``taken`` (held by other names): a
    group whose bare slug is taken is suffixed, every member of it.
    """
    held = set(taken)
    groups: dict[str, list[str]] = defaultdict(list)
    for name in set(names):
        groups[_natural(name)].append(name)

    result: dict[str, str] = {}
    losers: list[tuple[str, str]] = []
    for slug, members in groups.items():
        members.sort(key=lambda n: _rank(n, slug))
        if slug in held:
            losers.extend((name, slug) for name in members)
            continue
        result[members[0]] = slug
        losers.extend((name, slug) for name in members[1:])

    # Every bare slug is reserved before any suffixed one is handed out, and losers
    # are served in name order, so the outcome depends on the set of names only.
    held.update(groups)
    for name, slug in sorted(losers):
        digest = _digest(name)
        size = _SUFFIX_LENGTH
        candidate = f"{slug}-{digest[:size]}"
        while candidate in held:
            size += 2
            if size > len(digest):  # pragma: no cover - needs a sha256 collision
                candidate = f"{slug}-{digest}-{len(held)}"
                break
            candidate = f"{slug}-{digest[:size]}"
        held.add(candidate)
        result[name] = candidate
    return result


def mint_slugs(
    kind: str, names: Iterable[str], known: Iterable[SlugRecord], now: datetime
) -> dict[str, SlugRecord]:
    """Every slug record of ``kind`` once its feeds are those of ``names``: name -> record.

    ``known`` is what earlier builds left (the store's records of that kind). A name
    keeps the slug it was given, back from a pause too, and a name seen for the first
    time is given one by ``make_slugs``, avoiding the slugs of the other names, and those
    freed less than ``SLUG_GRACE`` before ``now``. A name gone keeps its record, released
    at ``now``, until a new name takes its slug after the grace period. Without ``known``
    this is ``make_slugs(names)``; given its own result and the same names, it gives
    that result back.
    """
    present = set(names)
    usable = [r for r in known if r.kind == kind and SLUG_RE.match(r.slug)]
    # Whose claim stands if two claim one slug (a store edited by hand, a live tree's
    # slugs added to the store's): a name with a feed, one that never lost it, rank.
    usable.sort(
        key=lambda r: (r.name not in present, r.released_at is not None, _rank(r.name, r.slug))
    )
    result: dict[str, SlugRecord] = {}
    claimed: set[str] = set()
    reserved: set[str] = set()  # not to be minted: held, or freed within the grace period
    lapsed: dict[str, str] = {}  # slug -> the gone name whose grace period is over
    for record in usable:
        if record.name in result or record.slug in claimed:
            continue
        claimed.add(record.slug)
        if record.name in present:
            if record.released_at is not None:
                record = dataclasses.replace(record, released_at=None)
            reserved.add(record.slug)
        else:
            if record.released_at is None:
                record = dataclasses.replace(record, released_at=now)
            assert record.released_at is not None
            if now - record.released_at < SLUG_GRACE:
                reserved.add(record.slug)
            else:
                lapsed[record.slug] = record.name
        result[record.name] = record
    new = [name for name in present if name not in result]
    for name, slug in make_slugs(new, reserved).items():
        gone = lapsed.pop(slug, None)
        if gone is not None:
            del result[gone]  # its slug passes on: it would be a new name if it came back
        result[name] = SlugRecord(kind, name, slug)
    return result
