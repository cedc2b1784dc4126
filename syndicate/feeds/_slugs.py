"""Slugs for category and tag names: URL-safe ASCII, distinct, stable. No I/O.

A slug becomes both a URL path segment and a file name (``/tag/<slug>.rss``), so it
must never be empty, ``.``/``..`` or contain ``/``: every slug matches
``^[a-z0-9][a-z0-9-]*$`` and no name can escape the output folder.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable

from slugify import slugify

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

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


def make_slugs(names: Iterable[str]) -> dict[str, str]:
    """Map each name to a URL-safe ASCII slug, distinct and stable for the same set of names.

    Names sharing a natural slug (``C++``/``C#``, ``Café``/``Cafe``, ``Python``/``python``)
    are told apart by a suffix from a hash of the name (``c-3f2a1b``); the best-ranked
    name of the group keeps the bare slug, so adding a new colliding name never renames
    a plain ASCII one.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for name in set(names):
        groups[_natural(name)].append(name)

    result: dict[str, str] = {}
    losers: list[tuple[str, str]] = []
    for slug, members in groups.items():
        members.sort(key=lambda n: _rank(n, slug))
        result[members[0]] = slug
        losers.extend((name, slug) for name in members[1:])

    # Every bare slug is reserved before any suffixed one is handed out, and losers
    # are served in name order, so the outcome depends on the set of names only.
    taken = set(groups)
    for name, slug in sorted(losers):
        digest = _digest(name)
        size = _SUFFIX_LENGTH
        candidate = f"{slug}-{digest[:size]}"
        while candidate in taken:
            size += 2
            if size > len(digest):  # pragma: no cover - needs a sha256 collision
                candidate = f"{slug}-{digest}-{len(taken)}"
                break
            candidate = f"{slug}-{digest[:size]}"
        taken.add(candidate)
        result[name] = candidate
    return result
