"""One post's entry, ``<item>`` or ``<entry>``: ``make_entry``, feedgen's (the reference),
and the same bytes written directly (``_entry_bytes``), with lxml's escaping. No I/O, no
clock.

``_rss_bytes`` / ``_atom_bytes`` write, element for element and attribute for attribute,
what feedgen 1.0 builds for ``make_entry``'s ``FeedEntry``, escaped as lxml serialises
it, at a fraction of the cost of building and serialising the lxml element;
tests/test_oracle_written_entries.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from feedgen.entry import FeedEntry

from ..config import Author, Config
from ..posts import Post, Rendered
from ._feedgen import _EXTENSIONS, XML_LANG, Format, _Context, _person


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
