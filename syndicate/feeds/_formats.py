"""Feeds: RSS 2.0 and Atom 1.0 bytes, exactly as feedgen writes them (but for RSS plain
text's ``&`` and ``<``, written as character references: ``rss_char_refs``). No I/O, no
clock.

feedgen builds each feed's channel with no entries; each post's ``<item>`` / ``<entry>``
is written once per format and its bytes are spliced in where feedgen puts entries, so a
post in 30 tag feeds costs one entry per format, not 30. The bytes are exactly those
feedgen would write (see ``_Slot`` and ``_Context``). A post's entry is written directly
as bytes (``_rss_bytes`` / ``_atom_bytes``): element for element and attribute for
attribute what feedgen 1.0 builds for ``make_entry``'s ``FeedEntry``, escaped as lxml
serialises it, at a fraction of the cost of building and serialising the lxml element.
``make_entry`` stays: the reference the tests hold the written bytes to, and
``render_feed`` takes its entries. Every date feedgen would default to *now* is set from
the posts, so the same inputs give the same bytes. ``serialise_entries`` writes the
entries ahead, in the context every feed of a config shares (a cold build runs it in the
worker processes that render the posts), and a ``PreparedEntry`` seeded with its bytes
only splices them.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import deflate
from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseExtension
from feedgen.ext.dc import DcEntryExtension, DcExtension
from feedgen.ext.media import MediaEntryExtension, MediaExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .. import __version__
from ..config import Author, Config
from ..posts import Post, Rendered, unpack_rendered

Format = Literal["rss", "atom"]

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


@dataclasses.dataclass(frozen=True)
class FeedMeta:
    """The channel / feed level of one feed, shared by its RSS and Atom forms."""

    title: str
    description: str
    rss_url: str  # absolute
    atom_url: str  # absolute
    updated: datetime  # newest entry change; a fixed date for an empty feed
    published: datetime | None  # newest entry date; None for an empty feed


class _Entry(FeedEntry):  # type: ignore[misc]  # feedgen is untyped
    """A FeedEntry that keeps its serialised XML, once per format, for every feed.

    ``rss_entry`` / ``atom_entry`` build a fresh element on each call, as feedgen's do
    (feedgen appends the element to a channel, which moves it); ``render_feed`` calls
    them once per format through ``_serialised`` and reuses the bytes.
    """

    def __init__(self, lang: str | None) -> None:
        super().__init__()
        self._syndicate_lang = lang
        # _Context.key -> the element's bytes in that context.
        self._syndicate_bytes: dict[bytes, bytes] = {}

    def atom_entry(self, extensions: bool = True) -> Any:
        element = super().atom_entry(extensions)
        # feedgen 1.0 drops every attribute but href from entry links (entry.py
        # rebinds its loop variable to the new element before reading rel/type/length),
        # so rel="enclosure" would read as a second rel="alternate" (RFC 4287 4.2.7.2).
        links = [child for child in element if child.tag == "link"]
        for link_element, data in zip(links, self.link() or [], strict=True):
            for attr in ("rel", "type", "hreflang", "title", "length"):
                if data.get(attr):
                    link_element.set(attr, data[attr])
        if self._syndicate_lang:
            # feedgen has no entry-level language; RFC 4287 2 allows xml:lang anywhere.
            element.set(XML_LANG, self._syndicate_lang)
        return element


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
    ) -> None:
        self._post = post
        self._config = config
        self._again = again
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
            self._deflated = None  # covers _bytes no more: deflated again by compact()
            self._formats.add(fmt)
            if len(self._formats) == 2:
                self._packed = None
        return cached

    def compact(self) -> None:
        """Keep the bytes made so far deflated only, until a feed needs them again."""
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
) -> PreparedEntry:
    """Prepare one post for every feed it appears in, compactly: ``make_entry``'s entry,
    written directly (``_entry_bytes``) when a feed first needs it in a format and context.
    ``again()`` gives ``rendered`` once more.

    ``serialised``: the entry's bytes made ahead (``serialise_entries``), spliced as they
    are; ``rendered`` is not needed then (None), a feed in another context calls ``again()``.
    """
    return PreparedEntry(post, rendered, config, again, serialised)


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
    items: Sequence[tuple[Post, Rendered]], config: Config, *, deflated: bool = True
) -> list[Serialised]:
    """Each post's entry serialised in both formats, as ``render_feed`` splices it into
    any feed of ``config``: the ``serialised`` of a ``prepare_entry`` (``Serialised``,
    deflated unless ``deflated`` is false; the keys are shared by every post)."""
    contexts = _reference_contexts(config)
    keys = tuple(context.key for _, context in contexts)
    out: list[Serialised] = []
    esc = _Escaper()
    for post, rendered in items:
        html = _Html(rendered)  # each HTML escaped once for both formats
        parts = [_entry_bytes(post, html, config, fmt, context, esc) for fmt, context in contexts]
        if deflated:
            data = bytes(deflate.deflate_compress(b"".join(parts), _SERIALISED_LEVEL))
            out.append((keys, tuple(len(part) for part in parts), data))
        else:
            out.append(dict(zip(keys, parts, strict=True)))
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


def _person(author: Author) -> dict[str, str]:
    person = {"name": author.name}
    if author.email:
        person["email"] = author.email
    if author.uri:
        person["uri"] = author.uri
    return person


def entry_change(post: Post) -> datetime:
    """When the entry last changed: RFC 4287 4.2.15 ``updated``, never before ``published``."""
    if post.updated is not None and post.updated > post.date:
        return post.updated
    return post.date


def make_entry(post: Post, rendered: Rendered, config: Config) -> FeedEntry:
    """A post's feedgen entry, for every feed it appears in.

    The reference for ``_rss_bytes`` / ``_atom_bytes``, which write its bytes directly
    for ``serialise_entries`` and ``PreparedEntry``; ``render_feed`` takes it too.
    """
    site_url = config.site.url
    entry = _Entry(post.lang)
    for name, _, entry_extension in _EXTENSIONS:
        entry.register_extension(name, entry_extension, atom=False, rss=True)

    entry.title(post.title or post.url)  # both formats require a non-empty title
    # RSS 2.0 guid: isPermaLink="true" promises the guid is the item's URL; say so only then.
    entry.guid(post.entry_id, permalink=post.entry_id == post.url)
    entry.link(href=post.url, rel="alternate", type="text/html")
    entry.published(post.date)
    entry.updated(entry_change(post))

    author = post.author or config.site.author
    if author is not None and author.name:
        entry.author(_person(author))
        if not author.email:
            # RSS 2.0 <author> must be an email address; a bare name goes to dc:creator.
            entry.dc.dc_creator(author.name)

    # RSS <description> and Atom <summary> carry the excerpt; the full post goes to
    # content:encoded / Atom content. type="html" (escaped), which both formats accept;
    # feedgen's 'CDATA' type would be an invalid MIME type in Atom. A post with no body
    # has neither: an empty one says nothing to a reader and the W3C validator warns
    # ("should not be blank"); its title and link stand alone, which both formats allow
    # (RSS 2.0: title or description; RFC 4287 4.1.1: content or an alternate link).
    summary = rendered.summary_html or rendered.content_html
    if summary:
        entry.summary(summary, type="html")
    if rendered.content_html:
        entry.content(rendered.content_html, type="html")

    # The scheme (RSS domain) tells a category from a tag of the same name. One call:
    # feedgen rebuilds its RSS category list on every call.
    categories = [
        {"term": name, "label": name, "scheme": scheme}
        for scheme, names in (
            (site_url + "category/", post.categories),
            (site_url + "tag/", post.tags),
        )
        for name in names
    ]
    if categories:
        entry.category(categories)

    image = post.image
    if image is not None:
        link = {"href": image.url, "rel": "enclosure", "type": image.media_type}
        media = {"url": image.url, "medium": "image", "type": image.media_type}
        if image.length is not None:
            link["length"] = str(image.length)
            media["fileSize"] = str(image.length)
        # RSS 2.0 requires an enclosure length: feedgen writes "0" when it is unknown,
        # the value the RSS Board and the W3C validator recommend. Atom omits it.
        entry.link(link)
        entry.media.content(media, group=None)  # group=None: no <media:group> wrapper
    return entry


# -- the entries, written directly: the bytes feedgen 1.0 writes for make_entry's entry --
#
# feedgen's FeedEntry.rss_entry() / atom_entry() (with the dc and media extensions and
# _Entry's fixes) build an lxml element per field make_entry sets, and lxml serialises
# it; here the same elements and attributes, in the same order, are written as bytes,
# with lxml's (libxml2's) escaping. Each text is written exactly when feedgen assigns it
# (an empty text serialises as <a></a>, none as <a/>). feedgen stays the reference: the
# tests hold every entry written here to make_entry's, byte for byte, and the escaping
# to lxml's for every character.

_CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_MEDIA_NS = "http://search.yahoo.com/mrss/"
_RSS_NAMESPACES = frozenset((_CONTENT_NS, _DC_NS, _MEDIA_NS))
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The characters below U+0020 XML 1.0 cannot hold (all but tab, newline, return).
_CONTROL = bytes(c for c in range(0x20) if c not in (0x9, 0xA, 0xD))


def _xml_utf8(text: str) -> bytes:
    """``text`` as UTF-8, refused as lxml refuses it for a text or an attribute value:
    UnicodeEncodeError for a lone surrogate, ValueError for a control character or
    U+FFFE / U+FFFF."""
    data = text.encode("utf-8")
    # (Looking for U+FFFE in the str is a fast scan for one character; for its three
    # bytes in the UTF-8, a slow one.)
    if len(data.translate(None, _CONTROL)) != len(data) or "\ufffe" in text or "\uffff" in text:
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or "
            "control characters"
        )
    return data


def _text(text: str) -> bytes:
    """A text as lxml serialises it to UTF-8: ``& < >`` and carriage return escaped."""
    return (
        _xml_utf8(text)
        .replace(b"&", b"&amp;")
        .replace(b"<", b"&lt;")
        .replace(b">", b"&gt;")
        .replace(b"\r", b"&#13;")
    )


def _attr(value: str) -> bytes:
    """An attribute value as lxml serialises it (within double quotes): as a text, and
    ``"``, newline and tab escaped too."""
    return _text(value).replace(b'"', b"&quot;").replace(b"\n", b"&#10;").replace(b"\t", b"&#9;")


def _plain(text: str) -> bytes:
    """An RSS plain text: as ``_text``, with ``&`` and ``<`` as hexadecimal character
    references (``rss_char_refs``)."""
    return (
        _xml_utf8(text)
        .replace(b"&", b"&#x26;")
        .replace(b"<", b"&#x3C;")
        .replace(b">", b"&gt;")
        .replace(b"\r", b"&#13;")
    )


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


class _Escaper:
    """Texts and attribute values escaped (``_text``, ``_attr``), each distinct one once:
    the categories, tags, authors and media types of a batch of posts repeat, and a
    post's title, URL and id are in both formats."""

    __slots__ = ("_texts", "_plains", "_attrs", "_elements")
    _LIMIT = 50_000  # distinct values kept, each kind; then forgotten, all at once

    def __init__(self) -> None:
        self._texts: dict[str, bytes] = {}
        self._plains: dict[str, bytes] = {}  # RSS plain texts (_plain)
        self._attrs: dict[str, bytes] = {}
        self._elements: dict[
            tuple[bytes, tuple[tuple[bytes, str], ...], str | None, bool], bytes
        ] = {}

    def text(self, text: str) -> bytes:
        data = self._texts.get(text)
        if data is None:
            if len(self._texts) >= self._LIMIT:
                self._texts.clear()
            data = self._texts[text] = _text(text)
        return data

    def plain(self, text: str) -> bytes:
        data = self._plains.get(text)
        if data is None:
            if len(self._plains) >= self._LIMIT:
                self._plains.clear()
            data = self._plains[text] = _plain(text)
        return data

    def attr(self, value: str) -> bytes:
        data = self._attrs.get(value)
        if data is None:
            if len(self._attrs) >= self._LIMIT:
                self._attrs.clear()
            data = self._attrs[value] = _attr(value)
        return data

    def element(
        self,
        tag: bytes,
        attributes: Sequence[tuple[bytes, str]],
        text: str | None,
        plain: bool = False,
    ) -> bytes:
        """An element with these attributes (each value given) and text, no children;
        ``plain``: the text is RSS plain text (``_plain``)."""
        attr = self.attr
        start = b"<" + tag + b"".join([b" " + n + b'="' + attr(v) + b'"' for n, v in attributes])
        if text is None:
            return start + b"/>"
        return start + b">" + (self.plain if plain else self.text)(text) + b"</" + tag + b">"

    def kept_element(
        self,
        tag: bytes,
        attributes: tuple[tuple[bytes, str], ...],
        text: str | None,
        plain: bool = False,
    ) -> bytes:
        """``element()``, kept: for an element many entries have (a category)."""
        key = (tag, attributes, text, plain)
        data = self._elements.get(key)
        if data is None:
            if len(self._elements) >= self._LIMIT:
                self._elements.clear()
            data = self._elements[key] = self.element(tag, attributes, text, plain)
        return data

    def text_element(self, tag: bytes, text: str) -> bytes:
        """An element with this text and no attributes nor children."""
        return b"<" + tag + b">" + self.text(text) + b"</" + tag + b">"

    def plain_element(self, tag: bytes, text: str) -> bytes:
        """An element with this RSS plain text (``_plain``), no attributes nor children."""
        return b"<" + tag + b">" + self.plain(text) + b"</" + tag + b">"


def _rfc2822(date: datetime) -> str:
    """feedgen's ``formatRFC2822``: ``strftime("%a, %d %b %Y %H:%M:%S %z")`` in the C
    locale, which it sets and restores around the call (three setlocale calls); the
    names here are the C locale's, the numbers strftime's own."""
    numbers = date.strftime("%d %Y %H:%M:%S %z")
    return f"{_DAYS[date.weekday()]}, {numbers[:2]} {_MONTHS[date.month - 1]}{numbers[2:]}"


def _entry_author(post: Post, config: Config) -> Author | None:
    """make_entry's author: the post's, else the site's; None when it has no name."""
    author = post.author or config.site.author
    return author if author is not None and author.name else None


def _categories(post: Post, config: Config) -> list[tuple[str, str]]:
    """make_entry's categories, as (term, scheme): the categories, then the tags."""
    site_url = config.site.url
    return [
        (name, scheme)
        for scheme, names in (
            (site_url + "category/", post.categories),
            (site_url + "tag/", post.tags),
        )
        for name in names
    ]


class _Html:
    """A post's content and summary HTML (make_entry's), each escaped once, when first
    written, for both formats."""

    __slots__ = ("rendered", "content", "summary", "_content", "_summary")

    def __init__(self, rendered: Rendered) -> None:
        self.rendered = rendered
        self.content = rendered.content_html
        self.summary = rendered.summary_html or self.content
        self._content: bytes | None = None
        self._summary: bytes | None = None

    def content_text(self) -> bytes:
        if self._content is None:
            self._content = _text(self.content)
        return self._content

    def summary_text(self) -> bytes:
        if self._summary is None:
            self._summary = (
                self.content_text() if self.summary is self.content else _text(self.summary)
            )
        return self._summary


def _rss_bytes(
    post: Post, html: _Html, config: Config, prefixes: Mapping[str, bytes], esc: _Escaper
) -> bytes:
    """make_entry(...).rss_entry()'s bytes in a feed whose entries' parent has these
    namespace prefixes in scope."""
    out = [b"<item>"]
    add = out.append
    title = post.title or post.url
    # feedgen raises when there is no title, description nor content; the title is
    # always set (the URL when the post has none), so it never does.
    if title:
        add(esc.plain_element(b"title", title))
    if post.url:
        add(esc.plain_element(b"link", post.url))
    # make_entry sets the summary whenever there is content (feedgen then writes both),
    # and either only when not empty.
    if html.summary:
        add(b"<description>" + html.summary_text() + b"</description>")
        if html.content:
            encoded = prefixes[_CONTENT_NS] + b":encoded"
            add(b"<" + encoded + b">" + html.content_text() + b"</" + encoded + b">")
    author = _entry_author(post, config)
    if author is not None and author.email:
        add(esc.plain_element(b"author", f"{author.email} ({author.name})"))
    if post.entry_id:
        permalink = "true" if post.entry_id == post.url else "false"
        add(esc.element(b"guid", ((b"isPermaLink", permalink),), post.entry_id, plain=True))
    for term, scheme in _categories(post, config):
        domain = ((b"domain", scheme),) if scheme else ()
        add(esc.kept_element(b"category", domain, term, plain=True))
    image = post.image
    length = ""
    if image is not None:
        length = str(image.length) if image.length is not None else ""
        attributes = ((b"url", image.url), (b"length", length or "0"), (b"type", image.media_type))
        add(esc.element(b"enclosure", attributes, None))
    # Dates are ASCII digits, letters and "+-:, ": nothing to check nor escape.
    add(b"<pubDate>" + _rfc2822(post.date).encode() + b"</pubDate>")
    # The extensions, in the order make_entry registers them: dc, then media.
    if author is not None and not author.email:
        add(esc.plain_element(prefixes[_DC_NS] + b":creator", author.name))
    if image is not None:
        media = (
            (b"url", image.url),
            (b"fileSize", length),
            (b"type", image.media_type),
            (b"medium", "image"),
        )
        add(esc.element(prefixes[_MEDIA_NS] + b":content", [(n, v) for n, v in media if v], None))
    add(b"</item>")
    return b"".join(out)


def _atom_bytes(post: Post, html: _Html, config: Config, esc: _Escaper) -> bytes:
    """make_entry(...).atom_entry()'s bytes in an Atom feed (whose namespace feedgen
    declares as an attribute: none is in scope for lxml)."""
    title = post.title or post.url
    if not (post.entry_id and title):
        raise ValueError("Required fields not set")  # as feedgen
    out = [b'<entry xml:lang="' + esc.attr(post.lang) + b'">' if post.lang else b"<entry>"]
    add = out.append
    add(esc.text_element(b"id", post.entry_id))
    add(esc.text_element(b"title", title))
    # Dates are ASCII digits and "+-:T.": nothing to check nor escape.
    add(b"<updated>" + entry_change(post).isoformat().encode() + b"</updated>")
    author = _entry_author(post, config)
    if author is not None:
        add(b"<author>" + esc.text_element(b"name", author.name))
        if author.email:
            add(esc.text_element(b"email", author.email))
        if author.uri:
            add(esc.text_element(b"uri", author.uri))
        add(b"</author>")
    if html.content:
        add(b'<content type="html">' + html.content_text() + b"</content>")
    # Both links with every attribute _Entry.atom_entry restores.
    add(
        esc.element(
            b"link", ((b"href", post.url), (b"rel", "alternate"), (b"type", "text/html")), None
        )
    )
    image = post.image
    if image is not None:
        attributes = [(b"href", image.url), (b"rel", "enclosure")]
        if image.media_type:
            attributes.append((b"type", image.media_type))
        if image.length is not None:
            attributes.append((b"length", str(image.length)))
        add(esc.element(b"link", attributes, None))
    if html.summary:
        add(b'<summary type="html">' + html.summary_text() + b"</summary>")
    for term, scheme in _categories(post, config):
        named = ((b"term", term), (b"scheme", scheme), (b"label", term))
        add(
            esc.kept_element(
                b"category", tuple((n, v) for n, v in named if v or n == b"term"), None
            )
        )
    add(b"<published>" + post.date.isoformat().encode() + b"</published>")
    add(b"</entry>")
    return b"".join(out)


def _entry_bytes(
    post: Post,
    html: _Html,
    config: Config,
    fmt: Format,
    context: _Context,
    esc: _Escaper | None = None,
) -> bytes:
    """A post's entry in a feed of this format and context: make_entry's bytes there.

    Written directly where the entries' parent is as in feedgen's feeds (each namespace
    the entries use in scope with one prefix, no default namespace); elsewhere (not a
    feed feedgen writes) feedgen's entry is serialised in the context. ``esc``: one
    shared by the entries written together, if any.
    """
    esc = esc if esc is not None else _Escaper()
    if fmt == "atom":
        if context.prefixes(frozenset()) is not None:
            return _atom_bytes(post, html, config, esc)
    else:
        prefixes = context.prefixes(_RSS_NAMESPACES)
        if prefixes is not None:
            return _rss_bytes(post, html, config, prefixes, esc)
    entry = make_entry(post, html.rendered, config)
    return context.serialise(entry.rss_entry() if fmt == "rss" else entry.atom_entry())


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

    self_url = meta.rss_url if fmt == "rss" else meta.atom_url
    # The Atom id must never change (RFC 4287 4.2.6); the feed's own URL is as stable
    # as every other link built from site.url.
    feed.id(meta.atom_url)
    feed.title(meta.title)
    feed.description(meta.description)
    # feedgen uses the *last* link as the RSS channel <link>: self first, site last.
    feed.link(href=self_url, rel="self", type=SELF_TYPES[fmt])
    # WebSub section 4 (Discovery): the feed names its hubs beside its self URL. Atom
    # writes these links itself; RSS gets atom:link from _HubExtension. Before the
    # alternate link, which must stay last.
    for hub in hubs:
        feed.link(href=hub, rel="hub")
    feed.link(href=site.url, rel="alternate", type="text/html")
    if site.language:
        feed.language(site.language)
    # Atom needs an author on the feed or on every entry (RFC 4287 4.1.1).
    author = site.author if site.author is not None and site.author.name else None
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

    def __init__(self, config: Config, fmt: Format, published: bool) -> None:
        marks = {
            name: _MARK.format(name) for name in ("title", "description", "rss_url", "atom_url")
        }
        meta = FeedMeta(
            title=marks["title"],
            description=marks["description"],
            rss_url=marks["rss_url"],
            atom_url=marks["atom_url"],
            updated=_MARK_DATE,
            published=_MARK_PUBLISHED if published else None,
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


# (id(config), format, published) -> (config, its template); the config is kept, so its
# id is not another's (a Config holds mappings: it cannot be a key itself).
_TEMPLATES: dict[tuple[int, Format, bool], tuple[Config, _FeedTemplate]] = {}


def _feed_template(config: Config, fmt: Format, published: bool) -> _FeedTemplate:
    key = (id(config), fmt, published)
    known = _TEMPLATES.get(key)
    if known is None or known[0] is not config:
        if len(_TEMPLATES) >= 16:
            _TEMPLATES.clear()
        known = _TEMPLATES[key] = (config, _FeedTemplate(config, fmt, published))
    return known[1]


def render_feed(
    meta: FeedMeta, entries: Sequence[FeedEntry | PreparedEntry], config: Config, fmt: Format
) -> bytes:
    """One feed as RSS 2.0 or Atom 1.0 bytes, entries in the given order.

    The bytes feedgen writes when each entry is added with ``add_entry(order="append")``:
    feedgen writes the feed with one ``_Slot`` where the entries go, and the slot is
    replaced by the entries' bytes, each serialised once per format (``_serialised``).
    The feed around them is feedgen's for the config, with this feed's values filled in
    (``_FeedTemplate``).
    """
    if entries and meta.title and meta.description:
        template = _feed_template(config, fmt, meta.published is not None)
        if template.usable:
            head, tail = template.fill(meta)
            context = template.context
            return b"".join([head, *(_serialised(entry, fmt, context) for entry in entries), tail])
    return _feedgen_feed(meta, entries, config, fmt)


def _feedgen_feed(
    meta: FeedMeta, entries: Sequence[FeedEntry | PreparedEntry], config: Config, fmt: Format
) -> bytes:
    """``render_feed`` with the feed around the entries made by feedgen for this feed."""
    feed = _new_feed(meta, config, fmt)
    if not entries:
        empty: bytes = feed.rss_str() if fmt == "rss" else feed.atom_str()
        return rss_char_refs(empty, frozenset()) if fmt == "rss" else empty
    slot = _Slot()
    feed.add_entry(slot, order="append")
    body: bytes = feed.rss_str() if fmt == "rss" else feed.atom_str()
    if fmt == "rss":
        body = rss_char_refs(body, frozenset())  # the channel: the entries are spliced in
    head, tail = _split_at_slot(body)
    context = _Context(slot.element)
    return b"".join([head, *(_serialised(entry, fmt, context) for entry in entries), tail])
