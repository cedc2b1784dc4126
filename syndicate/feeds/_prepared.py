"""A post's entry kept as the bytes it is in every feed (``PreparedEntry``), and entries
written ahead in the context every feed of a config shares (``serialise_entries``: a cold
build runs it in the worker processes that render the posts), plain or deflated. No I/O,
no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import deflate
from feedgen.entry import FeedEntry

from ..config import Config
from ..posts import Post, Rendered, summary_only, unpack_rendered
from ._entry import _Entry, _entry_bytes, _Escaper, _Html
from ._feedgen import _EXTENSIONS, FeedMeta, Format, _Context, _new_feed, _Slot
from ._json import json_item

# The key of an entry's JSON Feed item among its bytes: one item fits every JSON feed
# (it names no feed), and no ``_Context.key`` (an XML document) is equal to it.
JSON_KEY = b"json"

# The keys of an entry's summary-only variant among its bytes (``PreparedEntry.summary``):
# its own keys behind this prefix, or ``SUMMARY_SAME`` (no bytes) when the entry has no
# content to leave out, so the variant is the entry itself.
SUMMARY_PREFIX = b"summary:"
SUMMARY_SAME = b"summary"

KINDS = ("site", "category", "tag", "author")


def summary_kinds(config: Config) -> frozenset[str]:
    """The kinds of feed whose entries are the summary-only variants of the prepared
    ones (``feeds.content`` and its per-kind keys): none when every kind carries the same
    (the rendering then keeps content or not for all, and no variant is ever made)."""
    feeds = config.feeds
    if not feeds.renders_content():
        return frozenset()
    return frozenset(kind for kind in KINDS if feeds.content_of(kind) == "summary")


def _in_summary_feeds(post: Post, kinds: frozenset[str], authors: frozenset[object]) -> bool:
    """Whether ``post`` may be in a feed of these kinds (by its names; a feed's window
    may leave it out: the variant is then made for nothing, never missing)."""
    return (
        "site" in kinds
        or ("category" in kinds and bool(post.categories))
        or ("tag" in kinds and bool(post.tags))
        or ("author" in kinds and post.author in authors)
    )


# An entry serialised ahead (``serialise_entries``): the ``_Context.key`` of each format,
# the length of its bytes there, and those bytes one after the other, deflated (libdeflate,
# level 1): a service receives every entry at once and keeps them, and both formats'
# bytes deflate to a fraction of their size (the HTML is in each format). Or, for a
# one-shot build that splices each entry soon after it comes and then lets it go, the
# bytes as they are, by ``_Context.key``: deflating them in one process to inflate them
# in another cost both (a cold build is faster without it).
Deflated = tuple[tuple[bytes, ...], tuple[int, ...], bytes]
Serialised = Deflated | dict[bytes, bytes]
_SERIALISED_LEVEL = 1


class PreparedEntry:
    """A post's entry for every feed it is in (``prepare_entry``), kept as the bytes it
    serialises to in each format.

    Until both formats have their bytes it keeps the post's HTML, packed as UTF-8, and
    writes each format's entry from it (``_entry_bytes``). A feed whose surroundings
    differ (another ``_Context.key``) has the entry built again from ``again()``, the
    post's HTML once more.

    Seeded with ``serialised`` (``serialise_entries``' bytes, made where the post was
    rendered), it holds no HTML and builds nothing for the contexts those bytes were
    made for; ``rendered`` may then be None. Bytes that came deflated stay so until a
    feed first needs the entry.

    ``compact()`` keeps the bytes deflated only (libdeflate's fastest level), as a
    service keeps every entry in a feed between publishes, where their room counts more
    than the time; the next feed that needs the entry inflates them again, cheaply.
    """

    def __init__(
        self,
        post: Post,
        rendered: Rendered | None,
        config: Config,
        again: Callable[[], Rendered],
        serialised: Serialised | None = None,
        summary: bool = False,
    ) -> None:
        self._post = post
        self._config = config
        self._again = again
        # The summary-only variant (``summary()``), once made.
        self._summary: PreparedEntry | None = None
        self._packed: tuple[bytes, bytes] | None = None
        self._bytes: dict[bytes, bytes] = {}  # _Context.key -> the entry's bytes there
        # Deflated bytes of some contexts; when set, _bytes is empty or holds just those.
        self._deflated: Deflated | None = None
        self._formats: set[Format] = set()
        if isinstance(serialised, dict):
            self._bytes.update(serialised)
        else:
            self._deflated = serialised
        if serialised is not None:
            # Both formats made already: what the entry keeps once both are serialised.
            self._formats.update(("rss", "atom"))
        elif rendered is not None:
            self._packed = rendered.packed()
        if summary and rendered is not None:
            # Made now, from the HTML at hand: the entry lets it go once both formats
            # are written, and a feed of summaries may come after them.
            self._summary = self._variant(rendered)

    def summary(self) -> PreparedEntry:
        """The entry as a feed of ``feeds.content: summary`` carries it (``summary_only``:
        no content:encoded, no atom:content, content_html the summary); made once, from
        the bytes serialised ahead for it, else from the post's HTML."""
        variant = self._summary
        if variant is not None:
            return variant
        if not self._bytes and self._deflated is not None:
            self._bytes.update(_inflate(self._deflated))
        if SUMMARY_SAME in self._bytes:
            variant = self
        else:
            prefix = len(SUMMARY_PREFIX)
            ahead = {
                key[prefix:]: self._bytes.pop(key)
                for key in [key for key in self._bytes if key.startswith(SUMMARY_PREFIX)]
            }
            if ahead:
                self._deflated = None  # covers _bytes no more
                variant = PreparedEntry(self._post, None, self._config, self._summary_again, ahead)
            else:
                packed = self._packed
                variant = self._variant(
                    unpack_rendered(*packed) if packed is not None else self._again()
                )
        self._summary = variant
        return variant

    def _variant(self, rendered: Rendered) -> PreparedEntry:
        if not rendered.content_html:
            return self  # nothing to leave out (excerpt_only): the same bytes
        variant = summary_only(self._post, rendered)
        return PreparedEntry(self._post, variant, self._config, self._summary_again)

    def _summary_again(self) -> Rendered:
        return summary_only(self._post, self._again())

    def serialised(self, fmt: Format, context: _Context) -> bytes:
        """The entry's bytes in a feed of this format and context."""
        if not self._bytes and self._deflated is not None:
            self._bytes.update(_inflate(self._deflated))
        cached = self._bytes.get(context.key)
        if cached is None:
            packed = self._packed
            rendered = unpack_rendered(*packed) if packed is not None else self._again()
            cached = _entry_bytes(self._post, _Html(rendered), self._config, fmt, context)
            self._bytes[context.key] = cached
            if JSON_KEY not in self._bytes:
                # Made with the first XML entry, from the same HTML: kept as bytes, it
                # needs the HTML no longer than the XML formats do.
                self._bytes[JSON_KEY] = json_item(self._post, rendered, self._config)
            self._deflated = None  # covers _bytes no more: deflated again by compact()
            self._formats.add(fmt)
            if len(self._formats) == 2:
                self._packed = None
        return cached

    def json_item(self) -> bytes:
        """The entry's JSON Feed item (``_json.json_item``), the same in every JSON feed."""
        if not self._bytes and self._deflated is not None:
            self._bytes.update(_inflate(self._deflated))
        cached = self._bytes.get(JSON_KEY)
        if cached is None:
            packed = self._packed
            rendered = unpack_rendered(*packed) if packed is not None else self._again()
            cached = self._bytes[JSON_KEY] = json_item(self._post, rendered, self._config)
            self._deflated = None
        return cached

    def compact(self, json: bool = True) -> None:
        """Keep the bytes made so far deflated only, until a feed needs them again;
        without the JSON Feed item unless ``json`` (no JSON Feed to come needs it: it
        would be made again from ``again()``)."""
        if self._summary is not None and self._summary is not self:
            self._summary.compact(json)
        if not json and JSON_KEY in self._bytes:
            del self._bytes[JSON_KEY]
            self._deflated = None  # covered the item
        if not self._bytes:
            return
        if self._deflated is None:
            self._deflated = _deflate(self._bytes)
        self._bytes = {}


def prepare_entry(
    post: Post,
    rendered: Rendered | None,
    config: Config,
    again: Callable[[], Rendered],
    serialised: Serialised | None = None,
    summary: bool = False,
) -> PreparedEntry:
    """Prepare one post for every feed it appears in, compactly: ``make_entry``'s entry,
    written directly (``_entry_bytes``) when a feed first needs it in a format and context.
    ``again()`` gives ``rendered`` once more.

    ``serialised``: the entry's bytes made ahead (``serialise_entries``), spliced as they
    are; ``rendered`` is not needed then (None), a feed in another context calls ``again()``.
    ``summary``: a feed of summaries will need the entry's ``summary()`` too.
    """
    return PreparedEntry(post, rendered, config, again, serialised, summary)


def _reference_contexts(config: Config) -> list[tuple[Format, _Context]]:
    """The context every feed of ``config`` gives its entries, in each format.

    An entry's bytes depend only on the elements from the root to the entries' parent
    and their namespace declarations (``_Context``); what a feed's meta fills in (title,
    links, dates) are siblings, which ``_Context`` leaves out, so any meta gives the
    same key.
    """
    placeholder = config.site.url
    meta = FeedMeta(
        title=placeholder,
        description=placeholder,
        rss_url=placeholder,
        atom_url=placeholder,
        updated=datetime(2000, 1, 1, tzinfo=UTC),
        published=None,
    )
    contexts: list[tuple[Format, _Context]] = []
    for fmt in ("rss", "atom"):
        feed = _new_feed(meta, config, fmt)
        slot = _Slot()
        feed.add_entry(slot, order="append")
        if fmt == "rss":
            feed.rss_str()
        else:
            feed.atom_str()
        contexts.append((fmt, _Context(slot.element)))
    return contexts


def serialise_entries(
    items: Sequence[tuple[Post, Rendered]],
    config: Config,
    *,
    deflated: bool = True,
    json: Sequence[bool] | None = None,
) -> list[Serialised]:
    """Each post's entry serialised in both XML formats, as ``render_feed`` splices it
    into any feed of ``config``, and its JSON Feed item: the ``serialised`` of a
    ``prepare_entry`` (``Serialised``, deflated unless ``deflated`` is false; the keys
    are shared by every post). A post that may be in a feed of summaries while others
    carry content (``summary_kinds``) gets its summary-only variant's too. ``json``,
    one flag a post: false leaves its JSON Feed item out (a post in archive pages only;
    ``PreparedEntry.json_item`` makes it from the HTML again if ever asked)."""
    contexts = _reference_contexts(config)
    xml_keys = tuple(context.key for _, context in contexts)
    kinds = summary_kinds(config)
    authors = frozenset(config.authors.values())
    out: list[Serialised] = []
    esc = _Escaper()
    wanted = json if json is not None else [True] * len(items)
    for (post, rendered), with_json in zip(items, wanted, strict=True):
        html = _Html(rendered)  # each HTML escaped once for both formats
        parts = [_entry_bytes(post, html, config, fmt, context, esc) for fmt, context in contexts]
        keys = (*xml_keys, JSON_KEY) if with_json else xml_keys
        if with_json:
            parts.append(json_item(post, rendered, config))
        post_keys = keys
        if kinds and _in_summary_feeds(post, kinds, authors):
            # Its summary-only variant too, for the feeds of summaries it is in.
            if rendered.content_html:
                variant = summary_only(post, rendered)
                short = _Html(variant)
                parts += [
                    _entry_bytes(post, short, config, fmt, context, esc)
                    for fmt, context in contexts
                ]
                if with_json:
                    parts.append(json_item(post, variant, config))
                post_keys = (*keys, *(SUMMARY_PREFIX + key for key in keys))
            else:
                parts.append(b"")
                post_keys = (*keys, SUMMARY_SAME)
        if deflated:
            data = bytes(deflate.deflate_compress(b"".join(parts), _SERIALISED_LEVEL))
            out.append((post_keys, tuple(len(part) for part in parts), data))
        else:
            out.append(dict(zip(post_keys, parts, strict=True)))
    return out


def _deflate(parts: dict[bytes, bytes]) -> Deflated:
    """``_inflate``'s inverse: (keys, sizes, the bytes one after the other, deflated)."""
    keys = tuple(parts)
    data = bytes(deflate.deflate_compress(b"".join(parts.values()), _SERIALISED_LEVEL))
    return keys, tuple(len(part) for part in parts.values()), data


def _inflate(serialised: Serialised) -> dict[bytes, bytes]:
    """``_Context.key`` -> bytes, from ``serialise_entries``."""
    if isinstance(serialised, dict):
        return serialised
    keys, sizes, data = serialised
    whole = memoryview(deflate.deflate_decompress(data, sum(sizes)))
    out: dict[bytes, bytes] = {}
    start = 0
    for key, size in zip(keys, sizes, strict=True):
        out[key] = bytes(whole[start : start + size])
        start += size
    return out


def _serialised(entry: FeedEntry | PreparedEntry, fmt: Format, context: _Context) -> bytes:
    """One entry's bytes in a feed; a make_entry entry's from its cache when it has them."""
    if isinstance(entry, PreparedEntry):
        return entry.serialised(fmt, context)
    if isinstance(entry, _Entry):
        cache = entry._syndicate_bytes
        cached = cache.get(context.key)
        if cached is None:
            cached = cache[context.key] = context.serialise(
                entry.rss_entry() if fmt == "rss" else entry.atom_entry()
            )
        return cached
    # Any other FeedEntry: load the extensions as add_entry() would (one already
    # loaded raises ImportError, which add_entry ignores too), and build it each time.
    for name, _, entry_extension in _EXTENSIONS:
        try:
            entry.register_extension(name, entry_extension, False, True)
        except ImportError:
            pass
    return context.serialise(entry.rss_entry() if fmt == "rss" else entry.atom_entry())
