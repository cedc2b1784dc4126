"""feedgen, set up as syndicate uses it: the formats' names and constants, a feed's channel
with no entries (``_new_feed``), and where its entries go (``_Slot``, ``_Context``), with
RSS plain text's ``&`` and ``<`` as character references (``rss_char_refs``). No I/O, no
clock.

The modules above this one write what feedgen would (``_entry``: one post's entry;
``_prepared``: entries kept as bytes; ``_formats``: one whole feed); feedgen, as set up
here, stays the reference they are tested against.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseExtension
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.ext.media import MediaEntryExtension, MediaExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .. import __version__
from ..config import Author, Config

Format = Literal["rss", "atom"]

GENERATOR_NAME = "syndicate"
GENERATOR_URI = "https://github.com/syndicate-feeds/syndicate"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ATOM_LINK = "{http://www.w3.org/2005/Atom}link"
SELF_TYPES: dict[Format, str] = {"rss": "application/rss+xml", "atom": "application/atom+xml"}

# Extensions serve RSS only: Atom has native author and enclosure links, and
# media:content there would only duplicate link rel="enclosure". Registered by class:
# load_extension() would first try to import a missing "dc_entry" module every time.
_EXTENSIONS = (
    ("dc", DcExtension, DcEntryExtension),
    ("media", MediaExtension, MediaEntryExtension),
)


class _HubExtension(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """RSS only: one ``atom:link rel="hub"`` per WebSub hub in the channel.

    feedgen 1.0 writes only the first rel="self" link of an RSS channel as atom:link
    and drops every other link, so the hubs a subscriber must discover (WebSub
    section 4) would be lost; Atom gets them from ``FeedGenerator.link`` directly.
    """

    def __init__(self) -> None:
        self._hubs: tuple[str, ...] = ()

    def hubs(self, hubs: Sequence[str]) -> None:
        """Set the hub URLs, in the order they are advertised."""
        self._hubs = tuple(hubs)

    def extend_rss(self, rss_feed: Any) -> Any:
        channel = rss_feed.find("channel")
        # Beside feedgen's atom:link rel="self", the first atom:link of the channel.
        anchor = channel.find(ATOM_LINK)
        position = channel.index(anchor) + 1 if anchor is not None else len(channel)
        for offset, hub in enumerate(self._hubs):
            link = etree.Element(ATOM_LINK, href=hub, rel="hub")
            channel.insert(position + offset, link)
        return rss_feed


SYNDICATION_NS = "http://purl.org/rss/1.0/modules/syndication/"


def polling(config: Config) -> tuple[int, str, int]:
    """How often readers should poll: (RSS ``ttl`` in minutes, the syndication module's
    ``updatePeriod`` and ``updateFrequency``). From ``feeds.ttl``, else from
    ``serve.cache_max_age``, the time a response may be cached anyway: polling sooner
    only brings back the same bytes (or a 304)."""
    ttl = config.feeds.ttl
    if ttl is None:
        ttl = max(1, -(-config.serve.cache_max_age // 60))  # minutes, rounded up
    for period, minutes in (("hourly", 60), ("daily", 1440), ("weekly", 10080)):
        if ttl <= minutes:
            return ttl, period, max(1, minutes // ttl)
    return ttl, "monthly", 1


class _SyndicationExtension(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """RSS only: ``sy:updatePeriod`` and ``sy:updateFrequency`` (RSS 1.0 syndication
    module), after ``ttl``. feedgen's own syndication extension writes the elements as
    ``UpdatePeriod``/``UpdateFrequency``, names the module does not have."""

    def __init__(self) -> None:
        self._period = "hourly"
        self._frequency = 1

    def every(self, period: str, frequency: int) -> None:
        """Set the period (``hourly``, ``daily``, ...) and updates in each."""
        self._period, self._frequency = period, frequency

    def extend_ns(self) -> dict[str, str]:
        return {"sy": SYNDICATION_NS}

    def extend_rss(self, rss_feed: Any) -> Any:
        channel = rss_feed.find("channel")
        for name, value in (("updatePeriod", self._period), ("updateFrequency", self._frequency)):
            etree.SubElement(channel, f"{{{SYNDICATION_NS}}}{name}").text = str(value)
        return rss_feed


HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005's fh:

# A feed's URLs in the formats that have archives: (RSS, Atom), absolute.
FeedURLs = tuple[str, str]
HistoryShape = tuple[bool, bool, bool]  # (an archive page, has prev-archive, has next-archive)


@dataclasses.dataclass(frozen=True)
class History:
    """A feed document's RFC 5005 (archived feeds) links: the live feed's ``prev-archive``
    (its newest archive page), or an archive page's ``fh:archive``, ``current`` (the live
    feed, whose id the page keeps: one logical feed) and its neighbours."""

    current: FeedURLs | None = None  # an archive page: the live feed; None: the live feed
    prev_archive: FeedURLs | None = None  # the next older page
    next_archive: FeedURLs | None = None  # the next newer page (an archive page only)

    @property
    def archive(self) -> bool:
        return self.current is not None

    def shape(self) -> HistoryShape:
        """Which of its links it has: what its template's holes are."""
        return (self.archive, self.prev_archive is not None, self.next_archive is not None)


def _format_index(fmt: Format) -> int:
    return 0 if fmt == "rss" else 1


class _HistoryExtension(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """RFC 5005 in a feed: ``fh:archive`` in an archive page (Atom and RSS), and in RSS the
    archive links as ``atom:link`` (RFC 5005 appendix B), which feedgen drops from RSS
    (it writes the first rel="self" link only); Atom gets them from
    ``FeedGenerator.link``. ``fh`` is declared on its element, not the root: the
    entries' bytes depend on the root's namespaces, and stay those of the live feed."""

    def __init__(self) -> None:
        self._archive = False
        self._links: tuple[tuple[str, str], ...] = ()

    def history(self, archive: bool, rss_links: Sequence[tuple[str, str]]) -> None:
        """Mark an archive page, and the (rel, href) links an RSS channel carries."""
        self._archive, self._links = archive, tuple(rss_links)

    def extend_atom(self, atom_feed: Any) -> Any:
        if self._archive:
            etree.SubElement(atom_feed, f"{{{HISTORY_NS}}}archive", nsmap={"fh": HISTORY_NS})
        return atom_feed

    def extend_rss(self, rss_feed: Any) -> Any:
        channel = rss_feed.find("channel")
        links = channel.findall(ATOM_LINK)  # self, then the hubs
        position = channel.index(links[-1]) + 1 if links else len(channel)
        for offset, (rel, href) in enumerate(self._links):
            link = etree.Element(ATOM_LINK, href=href, rel=rel, type=SELF_TYPES["rss"])
            channel.insert(position + offset, link)
        if self._archive:
            etree.SubElement(channel, f"{{{HISTORY_NS}}}archive", nsmap={"fh": HISTORY_NS})
        return rss_feed


def _history_links(history: History, fmt: Format) -> list[tuple[str, str]]:
    """(rel, href) of each RFC 5005 link of the document in ``fmt``, in order."""
    index = _format_index(fmt)
    links = []
    for rel, urls in (
        ("current", history.current),
        ("prev-archive", history.prev_archive),
        ("next-archive", history.next_archive),
    ):
        if urls is not None:
            links.append((rel, urls[index]))
    return links


@dataclasses.dataclass(frozen=True)
class FeedMeta:
    """The channel / feed level of one feed, shared by its RSS and Atom forms."""

    title: str
    description: str
    rss_url: str  # absolute
    atom_url: str  # absolute
    updated: datetime  # newest entry change; a fixed date for an empty feed
    published: datetime | None  # newest entry date; None for an empty feed
    # The feed's author: an author feed's own; None: the site's (``site.author``).
    author: Author | None = None
    # RFC 5005 links; None: a feed with no archives.
    history: History | None = None


def _person(author: Author) -> dict[str, str]:
    person = {"name": author.name}
    if author.email:
        person["email"] = author.email
    if author.uri:
        person["uri"] = author.uri
    return person


def _new_feed(meta: FeedMeta, config: Config, fmt: Format) -> FeedGenerator:
    """The feedgen channel / feed of one feed, with no entries."""
    site = config.site
    feed = FeedGenerator()
    for name, feed_extension, entry_extension in _EXTENSIONS:
        feed.register_extension(name, feed_extension, entry_extension, atom=False, rss=True)
    hubs = config.websub.hubs
    if hubs:
        # A feed-level extension only: with no entry class, add_entry() skips it.
        feed.register_extension("websub", _HubExtension, None, atom=False, rss=True)
        feed.websub.hubs(hubs)
    # Polite polling, RSS only: Atom and JSON Feed have no such element.
    ttl, period, frequency = polling(config)
    feed.ttl(ttl)
    feed.register_extension("polling", _SyndicationExtension, None, atom=False, rss=True)
    feed.polling.every(period, frequency)

    self_url = meta.rss_url if fmt == "rss" else meta.atom_url
    history = meta.history
    # The Atom id must never change (RFC 4287 4.2.6); the feed's own URL is as stable
    # as every other link built from site.url. An archive page is a part of the live
    # feed (RFC 5005 4): it keeps the live feed's id.
    feed.id(history.current[1] if history is not None and history.current else meta.atom_url)
    feed.title(meta.title)
    feed.description(meta.description)
    # feedgen uses the *last* link as the RSS channel <link>: self first, site last.
    feed.link(href=self_url, rel="self", type=SELF_TYPES[fmt])
    # WebSub section 4 (Discovery): the feed names its hubs beside its self URL. Atom
    # writes these links itself; RSS gets atom:link from _HubExtension. Before the
    # alternate link, which must stay last.
    for hub in hubs:
        feed.link(href=hub, rel="hub")
    if history is not None:
        links = _history_links(history, fmt)
        feed.register_extension("history", _HistoryExtension, None, atom=True, rss=True)
        feed.history.history(history.archive, links if fmt == "rss" else ())
        for rel, href in links:  # Atom writes them; RSS gets them from the extension
            feed.link(href=href, rel=rel, type=SELF_TYPES[fmt])
    feed.link(href=site.url, rel="alternate", type="text/html")
    if site.language:
        feed.language(site.language)
    # Atom needs an author on the feed or on every entry (RFC 4287 4.1.1).
    author = meta.author or site.author
    author = author if author is not None and author.name else None
    feed.author(_person(author) if author is not None else {"name": site.title})
    if fmt == "atom":
        feed.generator(GENERATOR_NAME, version=__version__, uri=GENERATOR_URI)
    else:
        feed.generator(f"{GENERATOR_NAME} {__version__} ({GENERATOR_URI})")

    # feedgen defaults both to now; the newest entry change keeps rebuilds byte-identical.
    feed.updated(meta.updated)
    feed.lastBuildDate(meta.updated)
    if meta.published is not None:
        feed.pubDate(meta.published)
    return feed


# Where feedgen puts the entries, marked in its own output; never written to a feed.
_SLOT_TARGET = "syndicate-entries"
_SLOT_BYTES = etree.tostring(etree.ProcessingInstruction(_SLOT_TARGET))  # b"<?... ?>"


def _tostring(tree: etree._ElementTree) -> bytes:
    """Serialise as feedgen's rss_str() / atom_str() do with their defaults."""
    return etree.tostring(tree, pretty_print=False, encoding="UTF-8", xml_declaration=True)


def _split_at_slot(body: bytes) -> tuple[bytes, bytes]:
    """``body`` before and after its one slot marker."""
    # Text and attribute values never hold a raw "<" (lxml escapes it) and the
    # channel has no CDATA, comment or other processing instruction: the marker
    # found is the slot itself.
    if body.count(_SLOT_BYTES) != 1:
        raise RuntimeError("feedgen output has no single entry slot")
    head, tail = body.split(_SLOT_BYTES)
    return head, tail


class _Slot(FeedEntry):  # type: ignore[misc]  # feedgen is untyped
    """A stand-in entry: feedgen puts it where the entries go, as a processing instruction.

    Its position in feedgen's output is where the entries' bytes go, so the splice
    never guesses at feedgen's layout (the channel's extension elements, such as the
    hubs' atom:link, come before the items). Afterwards its element leads to the
    channel (RSS) or feed (Atom) element the entries would have been appended to.
    """

    def __init__(self) -> None:
        super().__init__()
        self.element = etree.ProcessingInstruction(_SLOT_TARGET)

    def rss_entry(self, extensions: bool = True) -> Any:
        return self.element

    def atom_entry(self, extensions: bool = True) -> Any:
        return self.element


class _Context:
    """The element entries are appended to, emptied, for serialising one entry at a time.

    An entry's bytes in a feed depend on its ancestors' namespace declarations: lxml
    rebinds an appended element's namespaces to those in scope (the standalone
    ``<item>`` says ``ns0:encoded``, in the channel ``content:encoded``) and drops its
    redundant declarations. Serialising the entry inside the feed's own (emptied)
    ancestors gives exactly the bytes it has in the whole feed. ``key`` is the emptied
    document's serialisation, which spells out every declaration in scope: entries
    serialised under an equal key are reused byte for byte.
    """

    def __init__(self, slot: etree._Element) -> None:
        parent = slot.getparent()
        if parent is None:
            raise RuntimeError("feedgen did not place the entry slot")
        # Keep only the path from the root to the slot: siblings never change a
        # child's bytes, and this keeps each serialisation small.
        node: etree._Element = slot
        while parent is not None:
            for child in list(parent):
                if child is not node:
                    parent.remove(child)
            node, parent = parent, parent.getparent()
        self._parent = slot.getparent()
        self._current: etree._Element = slot
        self._tree = slot.getroottree()
        self._lock = threading.Lock()
        self._rss = self._tree.getroot().tag == "rss"
        self.key = _tostring(self._tree)
        self._head, self._tail = _split_at_slot(self.key)
        # The namespaces in scope where the entries go (RSS: the channel's atom, content,
        # dc and media prefixes; Atom: none, feedgen writes its xmlns as an attribute).
        entries_parent = slot.getparent()
        assert entries_parent is not None
        self._nsmap: dict[str | None, str] = dict(entries_parent.nsmap)
        self._prefixes: dict[frozenset[str], dict[str, bytes] | None] = {}  # prefixes()

    def prefixes(self, namespaces: frozenset[str]) -> dict[str, bytes] | None:
        """The prefix of each of these namespaces where the entries go, for an entry
        written directly; None unless each is in scope with one prefix and there is no
        default namespace, as in feedgen's feeds (a prefixed child of an appended entry
        then serialises with the prefix in scope, and the entry declares nothing).
        """
        if namespaces in self._prefixes:
            return self._prefixes[namespaces]
        nsmap = self._nsmap
        by_uri: dict[str, list[str | None]] = {}
        for prefix, uri in nsmap.items():
            by_uri.setdefault(uri, []).append(prefix)
        found = None
        if None not in nsmap and all(len(by_uri.get(uri, ())) == 1 for uri in namespaces):
            found = {uri: str(by_uri[uri][0]).encode() for uri in namespaces}
        self._prefixes[namespaces] = found
        return found

    def serialise(self, element: etree._Element) -> bytes:
        """``element``'s bytes as a child of this context (it is moved here)."""
        assert self._parent is not None
        with self._lock:  # one context serves every feed of a config (_FeedTemplate)
            self._parent.replace(self._current, element)
            self._current = element
            body = _tostring(self._tree)
        head, tail = self._head, self._tail
        if not (body.startswith(head) and body.endswith(tail)) or len(body) < len(head + tail):
            raise RuntimeError("entry serialised outside its slot")
        entry = body[len(head) : len(body) - len(tail)]
        return rss_char_refs(entry, _RSS_ITEM_HTML) if self._rss else entry


# RSS 2.0 has no way to say whether a text is HTML or plain text, so readers guess, and
# the RSS Advisory Board's profile (and the W3C validator: "Encode & and < in plain text
# using hexadecimal character references") asks publishers to write & and < in plain
# text as &#x26; and &#x3C;, which no reader takes for markup. Only an item's description
# and content:encoded hold HTML (escaped, as lxml writes it); every other text of an RSS
# feed is plain (the channel's description too: the validator reads it as plain text).
_RSS_ITEM_HTML = frozenset((b"description", b"encoded"))
# A start tag and the text after it that holds an escaped & or <. lxml escapes every "<"
# and ">" in texts and attribute values, and feedgen's RSS has no mixed content, CDATA
# nor comments: each "<" starts a tag and the text after a start tag is that element's.
_RSS_TEXT = re.compile(rb"<([^\s/>!?][^\s/>]*)([^>]*)>([^<]*&(?:amp|lt);[^<]*)")


def rss_char_refs(body: bytes, html: frozenset[bytes]) -> bytes:
    """lxml's RSS bytes (items, or the channel without them) with ``&amp;`` and ``&lt;``
    written as ``&#x26;`` and ``&#x3C;`` in the text of every element whose local name is
    not in ``html``; what ``_plain`` writes directly. Same document once parsed."""

    def refs(found: re.Match[bytes]) -> bytes:
        if found.group(1).rpartition(b":")[2] in html or found.group(2).endswith(b"/"):
            return found.group()
        text = found.group(3).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")
        return found.group()[: found.start(3) - found.start()] + text

    return _RSS_TEXT.sub(refs, body)
