"""Feeds: one feed's RSS 2.0 or Atom 1.0 bytes (``render_feed``), exactly as feedgen
writes them (but for RSS plain text's ``&`` and ``<``, written as character references:
``rss_char_refs``). No I/O, no clock.

feedgen builds each feed's channel with no entries; each post's ``<item>`` / ``<entry>``
is written once per format and its bytes are spliced in where feedgen puts entries, so a
post in 30 tag feeds costs one entry per format, not 30. The bytes are exactly those
feedgen would write (see ``_feedgen``'s ``_Slot`` and ``_Context``). The feed around the
entries is feedgen's, written once per config and format with a hole for each value
(``_FeedTemplate``), beside ``_feedgen_feed``, feedgen's own feed, which it must equal.
Every date feedgen would default to *now* is set from the posts, so the same inputs give
the same bytes.

Beneath this module: ``_prepared`` (a post's entry kept as its bytes, and entries
written ahead, ``serialise_entries``), ``_entry`` (one post's entry: ``make_entry``,
feedgen's, and the same bytes written directly) and ``_feedgen`` (feedgen set up as
syndicate uses it: the reference).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from feedgen.entry import FeedEntry

from ..config import Author, Config
from ..store import TombstoneRecord
from ._entry import _attr, _plain, _rfc2822, _text
from ._feedgen import (
    _SLOT_BYTES,
    FeedMeta,
    FeedURLs,
    Format,
    History,
    HistoryShape,
    _Context,
    _new_feed,
    _Slot,
    _split_at_slot,
    rss_char_refs,
)
from ._prepared import PreparedEntry, _serialised

# -- the feeds' heads and tails, from feedgen's, with each feed's own values filled in --
#
# Of what feedgen writes around a feed's entries, only the title, the description, the
# two URLs and the dates differ from feed to feed of one config: feedgen writes the feed
# once with a marker for each (``_FeedTemplate``), and each feed is those bytes with its
# values escaped into the holes, as lxml escapes a text or an attribute value there.
# feedgen stays the reference: the tests hold every feed made so to feedgen's own.

_MARK = "syndicate-hole-{}-4b1e9d"
_MARK_DATE = datetime(1234, 5, 6, 7, 8, 9, tzinfo=UTC)  # a date no feed has
_MARK_PUBLISHED = datetime(1235, 6, 7, 8, 9, 10, tzinfo=UTC)


class _FeedTemplate:
    """A feed's head and tail as feedgen writes them for a config and format, with a hole
    for each value of ``FeedMeta``; and the ``_Context`` of its entries."""

    def __init__(
        self,
        config: Config,
        fmt: Format,
        published: bool,
        author: Author | None = None,
        history: HistoryShape | None = None,
    ) -> None:
        names = ("title", "description", "rss_url", "atom_url", "current", "prev", "next")
        marks = {name: _MARK.format(name) for name in names}

        def urls(name: str, present: bool) -> FeedURLs | None:
            return (marks[name], marks[name]) if present else None

        meta = FeedMeta(
            title=marks["title"],
            description=marks["description"],
            rss_url=marks["rss_url"],
            atom_url=marks["atom_url"],
            updated=_MARK_DATE,
            published=_MARK_PUBLISHED if published else None,
            author=author,
            history=(
                History(
                    urls("current", history[0]), urls("prev", history[1]), urls("next", history[2])
                )
                if history is not None
                else None
            ),
        )
        feed = _new_feed(meta, config, fmt)
        slot = _Slot()
        feed.add_entry(slot, order="append")
        body: bytes = feed.rss_str() if fmt == "rss" else feed.atom_str()
        if fmt == "rss":
            body = rss_char_refs(body, frozenset())  # the channel: no item, no HTML
        self.fmt = fmt
        self.context = _Context(slot.element)
        dates = {
            "updated": _format_date(_MARK_DATE, fmt),
            "published": _format_date(_MARK_PUBLISHED, fmt),
        }
        holes = {value.encode(): name for name, value in (marks | dates).items()}
        pattern = re.compile(b"|".join(re.escape(mark) for mark in holes))
        # [bytes, (name, attribute?), bytes, ..., bytes]; the slot splits the list in two.
        self._parts: list[bytes | tuple[str, bool]] = []
        start = 0
        for found in pattern.finditer(body):
            before = body[start : found.start()]
            self._parts.append(before)
            # In an attribute value if the last "<" before the hole is after the last ">".
            attribute = body.rfind(b"<", 0, found.start()) > body.rfind(b">", 0, found.start())
            self._parts.append((holes[found.group()], attribute))
            start = found.end()
        self._parts.append(body[start:])
        found_names = {part[0] for part in self._parts if isinstance(part, tuple)}
        expected = {"title", "description", "updated"}
        if published and fmt == "rss":  # Atom has no feed-level published date
            expected.add("published")
        if history is not None:
            expected.update(
                name for name, has in zip(("current", "prev", "next"), history, strict=True) if has
            )
        # Every value in its hole, and the slot in the bytes between them: else (a feedgen
        # that writes a value otherwise) the feeds are feedgen's own, made feed by feed.
        self.usable = expected <= found_names and (
            sum(part.count(_SLOT_BYTES) for part in self._parts if isinstance(part, bytes)) == 1
        )

    def fill(self, meta: FeedMeta) -> tuple[bytes, bytes]:
        """The head and tail of ``meta``'s feed."""
        values = {
            "title": meta.title,
            "description": meta.description,
            "rss_url": meta.rss_url,
            "atom_url": meta.atom_url,
        }
        history = meta.history
        if history is not None:
            index = 0 if self.fmt == "rss" else 1
            for name, urls in (
                ("current", history.current),
                ("prev", history.prev_archive),
                ("next", history.next_archive),
            ):
                if urls is not None:
                    values[name] = urls[index]
        out: list[bytes] = []
        for part in self._parts:
            if isinstance(part, bytes):
                out.append(part)
                continue
            name, attribute = part
            if name == "updated":
                out.append(_format_date(meta.updated, self.fmt).encode())
            elif name == "published":
                assert meta.published is not None
                out.append(_format_date(meta.published, self.fmt).encode())
            else:
                if attribute:
                    out.append(_attr(values[name]))
                else:
                    out.append(_plain(values[name]) if self.fmt == "rss" else _text(values[name]))
        head, tail = b"".join(out).split(_SLOT_BYTES)
        return head, tail


def _format_date(date: datetime, fmt: Format) -> str:
    """A feed's date as feedgen writes it: RFC 822 in RSS, RFC 3339 in Atom."""
    return _rfc2822(date) if fmt == "rss" else date.isoformat()


# (id(config), format, published, author, history's shape) -> (config, its template);
# the config is kept, so its id is not another's (a Config holds mappings: it cannot be
# a key itself). The channel's author is part of the template (an author feed names its
# own), so each author feed's is its own template: room for a few hundred authors
# between clears. Archive pages have a few shapes of their own (which links they have).
_TemplateKey = tuple[int, Format, bool, Author | None, HistoryShape | None]
_TEMPLATES: dict[_TemplateKey, tuple[Config, _FeedTemplate]] = {}


def _feed_template(
    config: Config,
    fmt: Format,
    published: bool,
    author: Author | None = None,
    history: HistoryShape | None = None,
) -> _FeedTemplate:
    key = (id(config), fmt, published, author, history)
    known = _TEMPLATES.get(key)
    if known is None or known[0] is not config:
        if len(_TEMPLATES) >= 1024:
            _TEMPLATES.clear()
        template = _FeedTemplate(config, fmt, published, author, history)
        known = _TEMPLATES[key] = (config, template)
    return known[1]


def render_feed(
    meta: FeedMeta,
    entries: Sequence[FeedEntry | PreparedEntry],
    config: Config,
    fmt: Format,
    deleted: Sequence[TombstoneRecord] = (),
) -> bytes:
    """One feed as RSS 2.0 or Atom 1.0 bytes, entries in the given order.

    The bytes feedgen writes when each entry is added with ``add_entry(order="append")``:
    feedgen writes the feed with one ``_Slot`` where the entries go, and the slot is
    replaced by the entries' bytes, each serialised once per format (``_serialised``).
    The feed around them is feedgen's for the config, with this feed's values filled in
    (``_FeedTemplate``). ``deleted``: the Atom feed's tombstones, after its entries
    (``deleted_entries``); RSS has no such element.
    """
    tombs = deleted_entries(deleted) if fmt == "atom" else b""
    template = _usable_template(meta, entries, config, fmt)
    if template is not None:
        head, tail = template.fill(meta)
        context = template.context
        return b"".join(
            [head, *(_serialised(entry, fmt, context) for entry in entries), tombs, tail]
        )
    return _feedgen_feed(meta, entries, config, fmt, tombs)


def _usable_template(
    meta: FeedMeta, entries: Sequence[FeedEntry | PreparedEntry], config: Config, fmt: Format
) -> _FeedTemplate | None:
    """The template of ``meta``'s feed, when it covers the feed (else feedgen writes it)."""
    if not (entries and meta.title and meta.description):
        return None
    shape = meta.history.shape() if meta.history is not None else None
    template = _feed_template(config, fmt, meta.published is not None, meta.author, shape)
    return template if template.usable else None


# RFC 6721's namespace, declared on each element rather than on <feed>: a feed without
# tombstones keeps the very bytes it had, and the head feedgen writes stays its own.
TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"


def deleted_entries(deleted: Sequence[TombstoneRecord]) -> bytes:
    """RFC 6721 ``<at:deleted-entry ref="id" when="RFC 3339"/>`` elements, in order."""
    return b"".join(
        b'<at:deleted-entry xmlns:at="%s" ref="%s" when="%s"/>'
        % (TOMBSTONES_NS.encode(), _attr(tomb.entry_id), tomb.when.isoformat().encode())
        for tomb in deleted
    )


def feed_parts(
    meta: FeedMeta,
    entries: Sequence[FeedEntry | PreparedEntry],
    config: Config,
    fmt: Format,
    deleted: Sequence[TombstoneRecord] = (),
) -> tuple[bytes, list[bytes], bytes]:
    """``render_feed``'s bytes as they are spliced: the head, each entry's bytes, the
    tail, tombstones first (an empty feed: the whole of it, no entry, nothing). Joined,
    they are the feed; the size with any first entries is known without writing it
    (``feeds.max_bytes``)."""
    tombs = deleted_entries(deleted) if fmt == "atom" else b""
    template = _usable_template(meta, entries, config, fmt)
    if template is not None:
        head, tail = template.fill(meta)
        context = template.context
        return head, [_serialised(entry, fmt, context) for entry in entries], tombs + tail
    return _feedgen_parts(meta, entries, config, fmt, tombs)


def _feedgen_feed(
    meta: FeedMeta,
    entries: Sequence[FeedEntry | PreparedEntry],
    config: Config,
    fmt: Format,
    tombs: bytes = b"",
) -> bytes:
    """``render_feed`` with the feed around the entries made by feedgen for this feed."""
    head, parts, tail = _feedgen_parts(meta, entries, config, fmt, tombs)
    return b"".join([head, *parts, tail])


def _feedgen_parts(
    meta: FeedMeta,
    entries: Sequence[FeedEntry | PreparedEntry],
    config: Config,
    fmt: Format,
    tombs: bytes = b"",
) -> tuple[bytes, list[bytes], bytes]:
    """``feed_parts`` with the feed around the entries made by feedgen for this feed."""
    feed = _new_feed(meta, config, fmt)
    if not entries and not tombs:
        empty: bytes = feed.rss_str() if fmt == "rss" else feed.atom_str()
        return (rss_char_refs(empty, frozenset()) if fmt == "rss" else empty), [], b""
    slot = _Slot()
    feed.add_entry(slot, order="append")
    body: bytes = feed.rss_str() if fmt == "rss" else feed.atom_str()
    if fmt == "rss":
        body = rss_char_refs(body, frozenset())  # the channel: the entries are spliced in
    head, tail = _split_at_slot(body)
    context = _Context(slot.element)
    return head, [_serialised(entry, fmt, context) for entry in entries], tombs + tail
